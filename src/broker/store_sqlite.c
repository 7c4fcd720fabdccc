/* SQLite backend: opening the connection and creating or migrating its
 * schema. Transactions and cursors are in store_sqlite_sql.c, the
 * operations in store_sqlite_cred.c, _state.c and _audit.c.
 *
 * Threading: one connection per store, shared by the broker's threads
 * under q->lock, held for a whole transaction (sq_begin..sq_end). Why not
 * a connection per thread: SQLite admits one writer at a time whatever the
 * number of connections, every operation here is a few indexed rows, so
 * parallel readers would gain little, while per-thread connections would
 * need thread-exit cleanup, statement caches per thread, and would turn
 * in-process contention into SQLITE_BUSY retries. With one connection,
 * BEGIN IMMEDIATE only ever waits for another process (an admin tool, a
 * backup), which busy_timeout covers. A broker that needs more scales out
 * on the PostgreSQL backend instead. The connection is also opened with
 * SQLITE_OPEN_FULLMUTEX: redundant under q->lock, but it keeps SQLite's
 * own structures safe should a call ever slip outside the lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "store_sqlite.h"

#define SCHEMA_VERSION 4
#define BUSY_TIMEOUT_MS 5000

/* migrations[v] takes a database from user_version v to v + 1, inside one
 * transaction. Constant SQL without parameters, so sqlite3_exec is fine.
 * Deleting a credential takes its sessions and leases with it; a renewal
 * then finds no lease, which is the refusal it should get. The audit
 * triggers stop accidental edits (an operator's ad-hoc SQL); deliberate
 * tampering is what the hash chain is for. */
static const char *const migrations[SCHEMA_VERSION] = {
	"CREATE TABLE credentials ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('repository', 'ca', 'token')),"
	" policy_json TEXT,"
	" policy_version INTEGER NOT NULL,"
	" sealed_secret BLOB,"
	" chain_pem TEXT,"
	" pin_hash TEXT,"
	" pin_salt BLOB NOT NULL CHECK (length(pin_salt) = 16),"
	" pin_failures INTEGER NOT NULL DEFAULT 0 CHECK (pin_failures >= 0),"
	" pin_locked INTEGER NOT NULL DEFAULT 0 CHECK (pin_locked IN (0, 1)));"
	"CREATE TABLE sessions ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" credential TEXT NOT NULL REFERENCES credentials (name) ON DELETE CASCADE,"
	" lease TEXT NOT NULL,"
	" nonce BLOB NOT NULL CHECK (length(nonce) = 32),"
	" secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),"
	" ek_cert BLOB, ek_public BLOB, ak_public BLOB,"
	" expires INTEGER NOT NULL,"
	" used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1)));"
	"CREATE INDEX sessions_expires ON sessions (expires);"
	"CREATE INDEX sessions_credential ON sessions (credential);"
	"CREATE TABLE leases ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" credential TEXT NOT NULL REFERENCES credentials (name) ON DELETE CASCADE,"
	" ek_hash BLOB NOT NULL CHECK (length(ek_hash) = 32),"
	" issued INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
	" cert_serial TEXT NOT NULL);"
	"CREATE INDEX leases_credential ON leases (credential);"
	"CREATE TABLE tpms ("
	" ek_hash BLOB PRIMARY KEY NOT NULL CHECK (length(ek_hash) = 32),"
	" reset_count INTEGER NOT NULL,"
	" restart_count INTEGER NOT NULL,"
	" clock INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL);"
	"CREATE TABLE audit ("
	" seq INTEGER PRIMARY KEY NOT NULL,"
	" time INTEGER NOT NULL,"
	" event TEXT NOT NULL, code TEXT NOT NULL, credential TEXT NOT NULL,"
	" ek_hash TEXT NOT NULL, ak_name TEXT NOT NULL, pcr_digest TEXT NOT NULL,"
	" ar_digest TEXT NOT NULL, policy_version INTEGER NOT NULL,"
	" lease TEXT NOT NULL, cert_serial TEXT NOT NULL,"
	" prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
	"PRAGMA user_version = 1;",
	/* 2: the policyRef a lease's key is bound to (docs/protocol.md,
	 * "Leases"); rows from before it get zeros, which no key carries. */
	"ALTER TABLE sessions ADD COLUMN policy_ref BLOB NOT NULL DEFAULT x'0000000000000000000000000000000000000000000000000000000000000000'"
	" CHECK (length(policy_ref) = 32);"
	"ALTER TABLE leases ADD COLUMN policy_ref BLOB NOT NULL DEFAULT x'0000000000000000000000000000000000000000000000000000000000000000'"
	" CHECK (length(policy_ref) = 32);"
	"PRAGMA user_version = 2;",
	/* 3: the PIN record became the sealed authValue (src/broker/pin.h);
	 * an older broker's scrypt hash stays until the PIN is set again, and
	 * until then the credential's logins are refused naming that remedy. */
	"ALTER TABLE credentials RENAME COLUMN pin_hash TO pin_verifier; PRAGMA user_version = 3;",
	/* 4: a lease names its key (a renewal renews that key and no other;
	 * a lease from before has none and renews nothing), and a session the
	 * TPM's counters as known at its challenge (the replay rule). */
	"ALTER TABLE leases ADD COLUMN key_name BLOB"
	" CHECK (key_name IS NULL OR length(key_name) BETWEEN 2 AND 66);"
	"ALTER TABLE sessions ADD COLUMN seen_reset INTEGER;"
	"ALTER TABLE sessions ADD COLUMN seen_restart INTEGER;"
	"ALTER TABLE sessions ADD COLUMN seen_clock INTEGER;"
	"PRAGMA user_version = 4;",
};

/* ---- open and close ---------------------------------------------------- */

/* Runs a constant statement outside the cache (setup only); the first
 * row's first column goes to text and *num where asked. */
static a11_err run_once(struct sq *q, const char *sql, char *text, size_t cap, int64_t *num)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	a11_err r = A11_OK;
	int rc, rows = 0;

	rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = sq_fail(q, sql, rc);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows++ > 0)
			continue;
		if (num != NULL)
			*num = sqlite3_column_int64(st, 0);
		t = sqlite3_column_text(st, 0);
		if (text != NULL && t != NULL)
			snprintf(text, cap, "%s", (const char *)t);
	}
	if (rc != SQLITE_DONE)
		r = sq_fail(q, sql, rc);
out:
	/* finalize repeats the last step's error, already reported. */
	(void)sqlite3_finalize(st);
	return r;
}

/* The database holds PIN hashes and sealed secrets: create it owner-only
 * (SQLite gives its -wal and -shm files the same mode). An existing file
 * keeps its mode, with a warning if others can read it. */
static a11_err precreate(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return A11_ERR_STORE;
	}
	if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0)
		log_warn("%s has mode %04o: group or others can read PIN hashes", path,
			 (unsigned)(sb.st_mode & 07777));
	if (close(fd) != 0) {
		log_error("cannot close %s: %s", path, strerror(errno));
		return A11_ERR_STORE;
	}
	return A11_OK;
}

static a11_err db_config(struct sq *q, int op, int value)
{
	int got = -1;
	int rc = sqlite3_db_config(q->db, op, value, &got);

	if (rc != SQLITE_OK)
		return sq_fail(q, "db_config", rc);
	if (got != value) {
		log_error("SQLite refused connection option %d", op);
		return A11_ERR_STORE;
	}
	return A11_OK;
}

/* Connection settings. Foreign keys are off by default in SQLite and the
 * cascades depend on them. synchronous=FULL: a committed "session used"
 * or audit record must survive a power cut. DEFENSIVE refuses SQL that
 * could corrupt the file (writable_schema and the like).
 *
 * Durability per request, not per write: the writes a broker request makes
 * before its last one (a challenge's session; an evidence request's
 * "session used", TPM counters and PIN counter) commit with
 * synchronous=NORMAL (sq_begin_lazy), and the request's last write (the
 * lease of a release, the audit record of every verdict) with FULL, whose
 * fsync of the WAL makes every earlier frame durable too: one or two
 * fsyncs per login instead of six (docs/performance.md). What the broker
 * answers was on disk before it answered, as before: a release's "session
 * used" is durable with its lease, before the release leaves. A power cut
 * can lose what no answer has depended on yet: a challenge's session (its
 * evidence is then refused as session_unknown), or, for a refusal whose
 * audit append fails as well, that verdict's writes. */
static a11_err configure(struct sq *q, bool mem)
{
	char mode[16] = "";
	a11_err r = A11_OK;
	int rc;

	if ((rc = sqlite3_extended_result_codes(q->db, 1)) != SQLITE_OK ||
	    (rc = sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS)) != SQLITE_OK)
		return sq_fail(q, "configure", rc);
	if ((r = db_config(q, SQLITE_DBCONFIG_ENABLE_FKEY, 1)) != A11_OK ||
	    (r = db_config(q, SQLITE_DBCONFIG_DEFENSIVE, 1)) != A11_OK ||
	    (r = db_config(q, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)) != A11_OK)
		return r;
	r = run_once(q, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL);
	if (r == A11_OK && strcmp(mode, mem ? "memory" : "wal") != 0) {
		log_error("cannot switch the database to WAL (journal mode %s)", mode);
		r = A11_ERR_STORE;
	}
	if (r == A11_OK)
		r = run_once(q, "PRAGMA synchronous = FULL", NULL, 0, NULL);
	return r;
}

static a11_err schema_version(struct sq *q, int64_t *v)
{
	a11_err r = run_once(q, "PRAGMA user_version", NULL, 0, v);

	if (r == A11_OK && (*v < 0 || *v > SCHEMA_VERSION)) {
		log_error("database schema version %lld is not one this broker knows (%d)",
			  (long long)*v, SCHEMA_VERSION);
		r = A11_ERR_STORE;
	}
	return r;
}

/* Brings the schema to SCHEMA_VERSION. The version is read again under
 * the write lock: another broker may have migrated in the meantime. */
static a11_err migrate(struct sq *q)
{
	int64_t v = 0;
	a11_err r = schema_version(q, &v);
	int rc;

	if (r != A11_OK || v == SCHEMA_VERSION)
		return r;
	r = sq_begin(q, true);
	if (r != A11_OK)
		return r;
	r = schema_version(q, &v);
	for (; r == A11_OK && v < SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(q->db, migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			r = sq_fail(q, "schema migration", rc);
	}
	return sq_end(q, r);
}

/* The transaction statements, prepared once: every operation uses two. */
static a11_err prep_tx(struct sq *q)
{
	static const char *const sql[] = { "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK" };
	sqlite3_stmt **st[] = { &q->begin_read, &q->begin_write, &q->commit, &q->rollback };
	int rc;

	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		rc = sqlite3_prepare_v3(q->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, st[i], NULL);
		if (rc != SQLITE_OK)
			return sq_fail(q, sql[i], rc);
	}
	return A11_OK;
}

static void sq_close(void *impl)
{
	struct sq *q = impl;
	sqlite3_stmt *tx[] = { q->begin_read, q->begin_write, q->commit, q->rollback };
	int rc;

	/* finalize only repeats a statement's last error: nothing to act on. */
	for (size_t i = 0; i < q->ncache; i++)
		(void)sqlite3_finalize(q->cache[i].st);
	for (size_t i = 0; i < sizeof(tx) / sizeof(tx[0]); i++)
		(void)sqlite3_finalize(tx[i]);
	rc = sqlite3_close(q->db);
	if (rc != SQLITE_OK)
		log_error("closing the database: %s", sqlite3_errstr(rc));
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* Error-checking mutex: a callback that calls back into the store gets
 * A11_ERR_ARG instead of a deadlock. */
static a11_err init_lock(struct sq *q)
{
	pthread_mutexattr_t a;
	int e = pthread_mutexattr_init(&a);

	if (e == 0) {
		e = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
		if (e == 0)
			e = pthread_mutex_init(&q->lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	return e == 0 ? A11_OK : A11_ERR_NOMEM;
}

/* A read transaction that reads the schema version: the file is there
 * and readable. */
static a11_err sq_ping(void *impl)
{
	struct sq *q = impl;
	int64_t v = 0;
	a11_err r = sq_begin(q, false);

	if (r != A11_OK)
		return r;
	return sq_end(q, run_once(q, "PRAGMA user_version", NULL, 0, &v));
}

static a11_err sq_open(const char *path, void **impl)
{
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
	bool mem = strcmp(path, ":memory:") == 0;
	struct sq *q = NULL;
	a11_err r;
	int rc;

	if (!sqlite3_threadsafe()) {
		log_error("SQLite was built without thread support");
		return A11_ERR_UNSUPPORTED;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return A11_ERR_NOMEM;
	if (init_lock(q) != A11_OK) {
		free(q);
		return A11_ERR_NOMEM;
	}
	r = mem ? A11_OK : precreate(path);
	if (r != A11_OK)
		goto out;
	rc = sqlite3_open_v2(path, &q->db, flags, NULL);
	if (rc != SQLITE_OK) {
		r = q->db != NULL ? sq_fail(q, path, rc) : A11_ERR_NOMEM;
		goto out;
	}
	r = configure(q, mem);
	if (r == A11_OK)
		r = prep_tx(q);
	if (r == A11_OK)
		r = migrate(q);
	if (r != A11_OK)
		goto out;
	*impl = q;
	q = NULL;
out:
	if (q != NULL)
		sq_close(q);
	return r;
}

const struct store_ops store_sqlite_ops = {
	.scheme = "sqlite:",
	.open = sq_open,
	.close = sq_close,
	.ping = sq_ping,
	.cred_put = sq_cred_put,
	.cred_get = sq_cred_get,
	.cred_delete = sq_cred_delete,
	.cred_list = sq_cred_list,
	.cred_set_policy = sq_cred_set_policy,
	.pin_unlock = sq_pin_unlock,
	.session_put = sq_session_put,
	.session_take = sq_session_take,
	.session_prune = sq_session_prune,
	.lease_get = sq_lease_get,
	.lease_list = sq_lease_list,
	.lease_revoke = sq_lease_revoke,
	.tpm_get = sq_tpm_get,
	.audit_append = sq_audit_append,
	.audit_iter = sq_audit_iter,
	.verdict = sq_verdict,
};
