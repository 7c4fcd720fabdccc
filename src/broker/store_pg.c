/* PostgreSQL backend, for brokers that scale out: several replicas on one
 * database. Opening, the schema and its migrations here; the pool,
 * transactions and cursors in store_pg_sql.c; the operations in
 * store_pg_cred.c, _state.c, _audit.c.
 *
 * Threading: a pool of connections per store (PG_POOL_MAX at most, opened
 * on first need), each lent to one thread for one whole transaction. The
 * broker's HTTP workers are threads (libmicrohttpd's pool, src/broker/
 * http.c); unlike SQLite, PostgreSQL runs transactions of separate
 * connections in parallel and locks rows, not the database, so one
 * connection shared under a mutex would serialize every request of a
 * replica for nothing. Why a pool rather than a connection per thread:
 * the store does not own its callers' threads (the admin CLI, tests and
 * the HTTP pool all call it), a pool bounds the connections a replica
 * opens whatever the thread count, and store_close can close every one
 * of them without thread-exit hooks. A connection that broke is dropped
 * and replaced at the next use. An operation that is one statement (a
 * session put or take, a credential, TPM or lease read, the ping) runs
 * it alone, outside a transaction block (pg_one): atomic all the same,
 * and two round trips fewer.
 *
 * Correct across replicas (every read-modify-write locks what it reads;
 * the rules themselves are store.c's, shared with SQLite):
 * - a verdict (store_pg_verdict.c) runs in READ COMMITTED and takes the
 *   credential row FOR NO KEY UPDATE, then the renewal's lease row FOR
 *   UPDATE, then the TPM's row, then the audit lock, always in that order
 *   (no deadlock between verdicts). Explicit locks rather than
 *   SERIALIZABLE: the conflicts are known rows, so waiting on them costs
 *   less than aborting and redoing whole verdicts, and "what was read is
 *   what is committed over" holds by construction. Deadlocks with other
 *   orders (an operator's SQL) and serialization failures are retried by
 *   pg_tx;
 * - a session is taken by UPDATE ... WHERE NOT used RETURNING: of two
 *   replicas, the second waits for the first's row lock and then finds
 *   the row used;
 * - audit appends take the audit table in EXCLUSIVE mode (it conflicts
 *   with itself, not with readers) before reading the last record, so
 *   appends from every replica form one chain.
 *
 * Connection strings are libpq URIs, "postgresql://..." or
 * "postgres://...". Keep the password out of them (a passfile, or
 * peer/cert authentication): broker.conf and command lines show it. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "store_pg.h"

#define SCHEMA_VERSION 2

/* Serializes migrations of replicas starting at once: the tables they
 * would create may not exist yet, so no row or table lock can. Any fixed
 * key does; this one spells "a11s". */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(1630548339)"

/* migrations[v] takes the schema from version v to v + 1, in the same
 * transaction as every other step. Constant SQL without parameters. The
 * types mirror the SQLite schema: BYTEA for binary, BIGINT for integers
 * (a u32 fits; the TPM clock, a u64, is kept bit for bit in the signed
 * BIGINT, as in SQLite), BOOLEAN for flags. Deleting a credential takes
 * its sessions and leases with it. The audit triggers stop accidental
 * edits; deliberate tampering is what the hash chain is for. */
static const char *const migrations[SCHEMA_VERSION] = {
	"CREATE TABLE credentials ("
	" name TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL CHECK (kind IN ('repository', 'ca', 'token')),"
	" policy_json TEXT,"
	" policy_version BIGINT NOT NULL,"
	" sealed_secret BYTEA,"
	" chain_pem TEXT,"
	" pin_verifier TEXT,"
	" pin_salt BYTEA NOT NULL CHECK (length(pin_salt) = 16),"
	" pin_failures BIGINT NOT NULL DEFAULT 0 CHECK (pin_failures BETWEEN 0 AND 4294967295),"
	" pin_locked BOOLEAN NOT NULL DEFAULT false);"
	"CREATE TABLE sessions ("
	" id TEXT PRIMARY KEY,"
	" credential TEXT NOT NULL REFERENCES credentials (name) ON DELETE CASCADE,"
	" lease TEXT NOT NULL,"
	" nonce BYTEA NOT NULL CHECK (length(nonce) = 32),"
	" secret_hash BYTEA NOT NULL CHECK (length(secret_hash) = 32),"
	" policy_ref BYTEA NOT NULL CHECK (length(policy_ref) = 32),"
	" ek_cert BYTEA, ek_public BYTEA, ak_public BYTEA,"
	" expires BIGINT NOT NULL,"
	" seen_reset BIGINT, seen_restart BIGINT, seen_clock BIGINT,"
	" used BOOLEAN NOT NULL DEFAULT false);"
	"CREATE INDEX sessions_expires ON sessions (expires);"
	"CREATE INDEX sessions_credential ON sessions (credential);"
	"CREATE TABLE leases ("
	" id TEXT PRIMARY KEY,"
	" credential TEXT NOT NULL REFERENCES credentials (name) ON DELETE CASCADE,"
	" ek_hash BYTEA NOT NULL CHECK (length(ek_hash) = 32),"
	" issued BIGINT NOT NULL,"
	" expires BIGINT NOT NULL,"
	" revoked BOOLEAN NOT NULL DEFAULT false,"
	" cert_serial TEXT NOT NULL,"
	" policy_ref BYTEA NOT NULL CHECK (length(policy_ref) = 32),"
	" key_name BYTEA CHECK (key_name IS NULL OR length(key_name) BETWEEN 2 AND 66));"
	"CREATE INDEX leases_credential ON leases (credential);"
	"CREATE TABLE tpms ("
	" ek_hash BYTEA PRIMARY KEY CHECK (length(ek_hash) = 32),"
	" reset_count BIGINT NOT NULL,"
	" restart_count BIGINT NOT NULL,"
	" clock BIGINT NOT NULL,"
	" last_seen BIGINT NOT NULL);"
	"CREATE TABLE audit ("
	" seq BIGINT PRIMARY KEY,"
	" time BIGINT NOT NULL,"
	" event TEXT NOT NULL, code TEXT NOT NULL, credential TEXT NOT NULL,"
	" ek_hash TEXT NOT NULL, ak_name TEXT NOT NULL, pcr_digest TEXT NOT NULL,"
	" ar_digest TEXT NOT NULL, policy_version BIGINT NOT NULL,"
	" lease TEXT NOT NULL, cert_serial TEXT NOT NULL,"
	" prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL);"
	"CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN RAISE EXCEPTION 'audit log is append-only'; END$$;"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
	"CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
	" FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();"
	"UPDATE schema_version SET version = 1;",
	/* 2: a lease names the approver key its key's policy names, so that
	 * the key can be rotated (src/broker/approver.h); NULL for a lease from
	 * before, until serve binds it (store_lease_bind_approver). */
	"ALTER TABLE leases ADD COLUMN approver BYTEA"
	" CHECK (approver IS NULL OR length(approver) = 34);"
	"UPDATE schema_version SET version = 2;",
};

/* The version table holds one row; a database no broker touched yet gets
 * it at version 0. Its IF NOT EXISTS would print a NOTICE on every start
 * of every broker and admin command: notices are not worth a line. */
static const char sql_version_table[] =
	"SET client_min_messages = warning;"
	"CREATE TABLE IF NOT EXISTS schema_version ("
	" one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),"
	" version BIGINT NOT NULL);"
	"INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;";

/* Runs constant SQL that may hold several statements (PQexec: no
 * parameters, so nothing can be spliced into it). */
static a11_err run_script(struct pg_conn *pc, const char *sql, const char *what)
{
	PGresult *res = PQexec(pc->db, sql);
	ExecStatusType st = PQresultStatus(res);
	a11_err r = A11_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		log_error("%s: %s", what, res != NULL ? PQresultErrorMessage(res)
						      : PQerrorMessage(pc->db));
		r = A11_ERR_STORE;
	}
	PQclear(res);
	return r;
}

static a11_err read_version(struct pg_conn *pc, int64_t *v)
{
	struct pg_cur c;
	int rows = 0;
	a11_err r;

	pg_start(&c, pc);
	r = pg_exec(&c, "SELECT version FROM schema_version", "schema version", &rows);
	if (r == A11_OK && rows != 1) {
		log_error("schema_version holds %d rows, not one", rows);
		r = A11_ERR_STORE;
	}
	if (r == A11_OK) {
		pg_get_i64(&c, v);
		r = c.r;
	}
	pg_clear(&c);
	if (r == A11_OK && (*v < 0 || *v > SCHEMA_VERSION)) {
		log_error("database schema version %lld is not one this broker knows (%d)",
			  (long long)*v, SCHEMA_VERSION);
		r = A11_ERR_STORE;
	}
	return r;
}

/* Brings the schema to SCHEMA_VERSION, under the migration lock: of
 * replicas starting together one migrates, the others then find it done. */
static a11_err migrate_tx(struct pg_conn *pc, void *arg)
{
	struct pg_cur c;
	int64_t v = 0;
	int rows;
	a11_err r;

	(void)arg;
	pg_start(&c, pc);
	r = pg_exec(&c, MIGRATE_LOCK, "migration lock", &rows);
	pg_clear(&c);
	if (r == A11_OK)
		r = run_script(pc, sql_version_table, "schema version table");
	if (r == A11_OK)
		r = read_version(pc, &v);
	for (; r == A11_OK && v < SCHEMA_VERSION; v++)
		r = run_script(pc, migrations[v], "schema migration");
	return r;
}

static a11_err ping_tx(struct pg_conn *pc, void *arg)
{
	int64_t v = 0;

	(void)arg;
	return read_version(pc, &v);
}

/* A pooled connection that broke is replaced here too: a ping after the
 * server came back answers OK. */
static a11_err pgs_ping(void *impl)
{
	return pg_one(impl, ping_tx, NULL);
}

static void pgs_close(void *impl)
{
	struct pg *p = impl;

	for (size_t i = 0; i < PG_POOL_MAX; i++)
		pg_conn_close(&p->conns[i]);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	/* The connection string may hold a password. */
	OPENSSL_cleanse(p->conninfo, strlen(p->conninfo));
	free(p->conninfo);
	free(p);
}

/* scheme + rest: libpq wants the whole URI. */
static a11_err pg_open_uri(const char *scheme, const char *rest, void **impl)
{
	size_t n = strlen(scheme) + strlen(rest) + 1;
	struct pg *p = NULL;
	a11_err r;

	if (!PQisthreadsafe()) {
		log_error("libpq was built without thread support");
		return A11_ERR_UNSUPPORTED;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->conninfo = malloc(n)) == NULL) {
		free(p);
		return A11_ERR_NOMEM;
	}
	snprintf(p->conninfo, n, "%s%s", scheme, rest);
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p->conninfo);
		free(p);
		return A11_ERR_NOMEM;
	}
	if (pthread_cond_init(&p->freed, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		free(p->conninfo);
		free(p);
		return A11_ERR_NOMEM;
	}
	r = pg_tx(p, true, migrate_tx, NULL);
	if (r != A11_OK) {
		pgs_close(p);
		return r;
	}
	*impl = p;
	return A11_OK;
}

static a11_err pg_open_long(const char *rest, void **impl)
{
	return pg_open_uri("postgresql:", rest, impl);
}

static a11_err pg_open_short(const char *rest, void **impl)
{
	return pg_open_uri("postgres:", rest, impl);
}

/* libpq accepts both spellings of the scheme; one table per spelling. */
#define PG_OPS(sch, opener) {                            \
	.scheme = (sch), .open = (opener), .close = pgs_close, .ping = pgs_ping, \
	.cred_put = pg_cred_put, .cred_get = pg_cred_get,     \
	.cred_delete = pg_cred_delete, .cred_list = pg_cred_list, \
	.cred_set_policy = pg_cred_set_policy, .pin_unlock = pg_pin_unlock, \
	.cred_reseal = pg_cred_reseal,                                    \
	.session_put = pg_session_put, .session_take = pg_session_take, \
	.session_prune = pg_session_prune, .lease_get = pg_lease_get, \
	.lease_list = pg_lease_list, .lease_revoke = pg_lease_revoke, \
	.lease_bind_approver = pg_lease_bind_approver,                  \
	.tpm_get = pg_tpm_get, .audit_append = pg_audit_append, \
	.audit_iter = pg_audit_iter, .verdict = pg_verdict }

const struct store_ops store_pg_ops = PG_OPS("postgresql:", pg_open_long);
const struct store_ops store_pg_short_ops = PG_OPS("postgres:", pg_open_short);
