/* SQLite backend: opening a connection and creating or migrating the
 * schema. The pool of connections and its locks are store_sqlite_pool.c,
 * transactions and cursors store_sqlite_sql.c, the operations
 * store_sqlite_cred.c, _state.c and _audit.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "store_sqlite.h"

#define SCHEMA_VERSION 5

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
	/* 5: a lease names the approver key its key's policy names, so that
	 * the key can be rotated (src/broker/approver.h); NULL for a lease from
	 * before, until serve binds it (store_lease_bind_approver). */
	"ALTER TABLE leases ADD COLUMN approver BLOB"
	" CHECK (approver IS NULL OR length(approver) = 34);"
	"PRAGMA user_version = 5;",
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
a11_err sq_precreate(const char *path)
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
static a11_err configure(struct sq *q, bool mem, bool wait)
{
	char mode[16] = "";
	a11_err r = A11_OK;
	int rc;

	if ((rc = sqlite3_extended_result_codes(q->db, 1)) != SQLITE_OK ||
	    (rc = sqlite3_busy_handler(q->db, wait ? sq_on_busy : NULL, q)) != SQLITE_OK)
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
a11_err sq_migrate(struct sq *q)
{
	int64_t v = 0;
	a11_err r = schema_version(q, &v);
	int rc;

	if (r != A11_OK || v == SCHEMA_VERSION)
		return r;
	r = sq_tx_begin(q, true, false);
	if (r != A11_OK)
		return r;
	r = schema_version(q, &v);
	for (; r == A11_OK && v < SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(q->db, migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			r = sq_fail(q, "schema migration", rc);
	}
	return sq_tx_end(q, r);
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

void sq_conn_close(struct sq *q)
{
	sqlite3_stmt *tx[4];
	int rc;

	if (q == NULL)
		return;
	tx[0] = q->begin_read, tx[1] = q->begin_write, tx[2] = q->commit, tx[3] = q->rollback;
	/* finalize only repeats a statement's last error: nothing to act on. */
	for (size_t i = 0; i < q->ncache; i++)
		(void)sqlite3_finalize(q->cache[i].st);
	for (size_t i = 0; i < sizeof(tx) / sizeof(tx[0]); i++)
		(void)sqlite3_finalize(tx[i]);
	rc = sqlite3_close(q->db);
	if (rc != SQLITE_OK)
		log_error("closing the database: %s", sqlite3_errstr(rc));
	free(q);
}

/* SQLITE_OPEN_NOMUTEX: a connection is only ever used by the thread
 * that took it from the pool. */
a11_err sq_conn_open(struct sq_pool *p, bool wait, struct sq **out)
{
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	struct sq *q = calloc(1, sizeof(*q));
	a11_err r;
	int rc;

	if (q == NULL)
		return A11_ERR_NOMEM;
	q->pool = p;
	rc = sqlite3_open_v2(sq_pool_path(p), &q->db, flags, NULL);
	if (rc != SQLITE_OK) {
		r = q->db != NULL ? sq_fail(q, sq_pool_path(p), rc) : A11_ERR_NOMEM;
		goto out;
	}
	r = configure(q, sq_pool_mem(p), wait);
	if (r == A11_OK)
		r = prep_tx(q);
	if (r != A11_OK)
		goto out;
	*out = q;
	q = NULL;
out:
	sq_conn_close(q);
	return r;
}

const struct store_ops store_sqlite_ops = {
	.scheme = "sqlite:",
	.open = sq_pool_open,
	.close = sq_pool_close,
	.ping = sq_pool_ping,
	.cred_put = sq_cred_put,
	.cred_get = sq_cred_get,
	.cred_delete = sq_cred_delete,
	.cred_list = sq_cred_list,
	.cred_set_policy = sq_cred_set_policy,
	.cred_reseal = sq_cred_reseal,
	.pin_unlock = sq_pin_unlock,
	.session_put = sq_session_put,
	.session_take = sq_session_take,
	.session_prune = sq_session_prune,
	.lease_get = sq_lease_get,
	.lease_list = sq_lease_list,
	.lease_revoke = sq_lease_revoke,
	.lease_bind_approver = sq_lease_bind_approver,
	.tpm_get = sq_tpm_get,
	.audit_append = sq_audit_append,
	.audit_iter = sq_audit_iter,
	.verdict = sq_verdict,
};
