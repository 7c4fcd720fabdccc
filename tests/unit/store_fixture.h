/* A broker store in a private temporary directory, and a second, raw
 * connection to the same database for what the store API must not be
 * able to do (tampering, schema checks). Header-only (static inline)
 * because each unit test is its own binary linked only with testlib.
 *
 * The backend: SQLite, or with A11_TEST_STORE=pg the PostgreSQL server
 * of the libpq URI in A11_TEST_PG (tests/rig/pg.sh starts one), where
 * each test gets a schema of its own (search_path), dropped after it. The
 * same tests run on both; raw SQL that differs between the two is given
 * twice (RAW_SQL). */
#ifndef A11_TEST_STORE_FIXTURE_H
#define A11_TEST_STORE_FIXTURE_H

#include <sqlite3.h>
#include <libpq-fe.h>

#include "tmpdir_fixture.h"
#include "../../src/broker/store.h"

struct sfx {
	struct tmpdir dir;
	char db[PATH_MAX];
	char uri[PATH_MAX + 8];
	struct store *s;
	bool pg;
	char schema[48];
};

#define RAW_SQL(f, for_sqlite, for_pg) ((f)->pg ? (for_pg) : (for_sqlite))

static inline bool sfx_pg_wanted(void)
{
	const char *e = getenv("A11_TEST_STORE");

	return e != NULL && strcmp(e, "pg") == 0;
}

/* Constant SQL (or a schema name made here) on a connection of its own. */
static inline PGresult *pg_raw(const char *uri, const char *sql)
{
	PGconn *db = PQconnectdb(uri);
	PGresult *res;

	if (PQstatus(db) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", uri, PQerrorMessage(db));
	res = PQexec(db, sql);
	PQfinish(db);
	return res;
}

static inline void pg_raw_ok(const char *uri, const char *sql)
{
	PGresult *res = pg_raw(uri, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

/* A schema of its own in the test database, named by process and count. */
static inline void sfx_pg_setup(struct sfx *f)
{
	static int n;
	const char *base = getenv("A11_TEST_PG");
	char sql[96];

	if (base == NULL || *base == '\0')
		fail_msg("A11_TEST_STORE=pg needs A11_TEST_PG (tests/rig/pg.sh)");
	f->pg = true;
	snprintf(f->schema, sizeof(f->schema), "t%ld_%d", (long)getpid(), n++);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
	pg_raw_ok(base, sql);
	snprintf(f->uri, sizeof(f->uri), "%s%soptions=-csearch_path%%3D%s", base,
		 strchr(base, '?') != NULL ? "&" : "?", f->schema);
}

static inline int sfx_setup(void **state)
{
	struct sfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(&f->dir);
	tmpdir_file(&f->dir, "broker.db", f->db);
	if (sfx_pg_wanted())
		sfx_pg_setup(f);
	else
		snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->db);
	assert_int_equal(store_open(f->uri, &f->s), A11_OK);
	*state = f;
	return 0;
}

static inline int sfx_teardown(void **state)
{
	struct sfx *f = *state;
	char sql[128];

	store_close(f->s);
	if (f->pg) {
		snprintf(sql, sizeof(sql), "SET client_min_messages = warning; DROP SCHEMA %s CASCADE",
			 f->schema);
		pg_raw_ok(getenv("A11_TEST_PG"), sql);
	}
	tmpdir_remove(&f->dir);
	free(f);
	return 0;
}

/* Another store on the same database: another broker's, to the database
 * (connections of its own). The caller closes it. */
static inline struct store *sfx_open_second(const struct sfx *f)
{
	struct store *s = NULL;

	assert_int_equal(store_open(f->uri, &s), A11_OK);
	return s;
}

static inline void sfx_reopen(struct sfx *f)
{
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->uri, &f->s), A11_OK);
}

/* How leases come to exist: a release verdict of l's credential under its
 * current policy, with a record. */
static inline a11_err sfx_release(struct sfx *f, const struct store_lease *l, bool renewal,
				  enum store_pin_event pin, enum store_hold *held)
{
	struct store_audit rec = { .time = 1 };
	struct store_verdict v = { .audit = &rec, .credential = l->credential, .lease = l,
				   .renewal = renewal, .pin = pin };
	struct store_cred c;
	a11_err r = store_cred_get(f->s, l->credential, &c);

	if (r != A11_OK)
		return r;
	v.policy_version = c.policy_version;
	store_cred_clear(&c);
	snprintf(rec.event, sizeof(rec.event), "%s", renewal ? "renewal" : "release");
	snprintf(rec.credential, sizeof(rec.credential), "%s", l->credential);
	snprintf(rec.lease, sizeof(rec.lease), "%s", l->id);
	return store_verdict_commit(f->s, &v, held);
}

static inline void sfx_put_lease(struct sfx *f, const struct store_lease *l)
{
	enum store_hold held;

	assert_int_equal(sfx_release(f, l, false, STORE_PIN_NONE, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_OK);
}

/* A refusal for a wrong PIN; reports the counter after it. */
static inline a11_err sfx_pin_wrong(struct sfx *f, const char *name, uint32_t max_failures,
				    uint32_t *failures, bool *locked)
{
	struct store_audit rec = { .time = 1 };
	struct store_verdict v = { .audit = &rec, .credential = name, .pin = STORE_PIN_WRONG,
				   .pin_max_failures = max_failures };
	enum store_hold held;
	a11_err r;

	snprintf(rec.event, sizeof(rec.event), "refusal");
	snprintf(rec.code, sizeof(rec.code), "pin_incorrect");
	r = store_verdict_commit(f->s, &v, &held);
	*failures = v.pin_failures;
	*locked = v.pin_locked;
	return r;
}

/* A refusal after a verified quote: the TPM's counters are raised to t. */
static inline void sfx_tpm_seen(struct sfx *f, const struct store_tpm *t)
{
	struct store_audit rec = { .time = 1 };
	struct store_verdict v = { .audit = &rec, .tpm = t };
	enum store_hold held;

	snprintf(rec.event, sizeof(rec.event), "refusal");
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_OK);
}

static inline sqlite3 *raw_open(const struct sfx *f)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	return db;
}

/* PostgreSQL's outcome in SQLite's terms, so a test asserts once for
 * both: a constraint or a trigger's exception (SQLSTATE class 23, P0001)
 * is SQLITE_CONSTRAINT, as SQLite's RAISE(ABORT) is. */
static inline int pg_rc(PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int rc = SQLITE_ERROR;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		rc = SQLITE_OK;
	else if (state != NULL && (strncmp(state, "23", 2) == 0 || strcmp(state, "P0001") == 0))
		rc = SQLITE_CONSTRAINT;
	PQclear(res);
	return rc;
}

/* Runs constant SQL on a separate connection; returns SQLite's code. */
static inline int raw_exec(const struct sfx *f, const char *sql)
{
	sqlite3 *db;
	int rc;

	if (f->pg)
		return pg_rc(pg_raw(f->uri, sql));
	db = raw_open(f);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return rc;
}

static inline int64_t pg_raw_int(const struct sfx *f, const char *sql)
{
	PGresult *res = pg_raw(f->uri, sql);
	int64_t v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* The integer a one-row query returns, on a separate connection. */
static inline int64_t raw_int(const struct sfx *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int64_t v;

	if (f->pg)
		return pg_raw_int(f, sql);
	db = raw_open(f);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* sql with a text ($1 / ?1) and a blob ($2 / ?2), on a separate
 * connection: for rewriting a row with values made by the test. */
static inline void raw_text_blob(const struct sfx *f, const char *sql, const char *text,
				 const uint8_t *blob, size_t len)
{
	const char *vals[2] = { text, (const char *)blob };
	const int lens[2] = { 0, (int)len }, fmts[2] = { 0, 1 };
	sqlite3 *db;
	sqlite3_stmt *st = NULL;

	if (f->pg) {
		PGconn *c = PQconnectdb(f->uri);
		PGresult *res = PQexecParams(c, sql, 2, NULL, vals, lens, fmts, 0);

		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);
		PQfinish(c);
		return;
	}
	db = raw_open(f);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* A challenge session for credential, with made-up identity blobs. */
static inline struct store_session sfx_session(const char *id, const char *credential, int64_t expires)
{
	static uint8_t ek_cert[] = { 0x30, 0x82, 0x01 }, ek_pub[] = { 0, 1, 2 }, ak_pub[] = { 7 };
	struct store_session ss = { .ek_cert = ek_cert, .ek_cert_len = sizeof(ek_cert),
				    .ek_public = ek_pub, .ek_public_len = sizeof(ek_pub),
				    .ak_public = ak_pub, .ak_public_len = sizeof(ak_pub),
				    .expires = expires };

	snprintf(ss.id, sizeof(ss.id), "%s", id);
	snprintf(ss.credential, sizeof(ss.credential), "%s", credential);
	memset(ss.nonce, 0xa1, sizeof(ss.nonce));
	memset(ss.secret_hash, 0xb2, sizeof(ss.secret_hash));
	return ss;
}

/* A lease of credential issued at issued, for an hour. */
static inline struct store_lease sfx_lease(const char *id, const char *credential, int64_t issued)
{
	struct store_lease l = { .issued = issued, .expires = issued + 3600 };

	snprintf(l.id, sizeof(l.id), "%s", id);
	snprintf(l.credential, sizeof(l.credential), "%s", credential);
	memset(l.ek_hash, 0xe4, sizeof(l.ek_hash));
	return l;
}

/* A token credential named name: the least a session or lease needs. */
static inline void sfx_put_token(struct store *s, const char *name)
{
	static char policy[] = "{\"pcrs\":[7]}";
	struct store_cred c = { .kind = CRED_TOKEN, .policy_json = policy, .policy_version = 1 };

	snprintf(c.name, sizeof(c.name), "%s", name);
	assert_int_equal(store_cred_put(s, &c), A11_OK);
}

#endif
