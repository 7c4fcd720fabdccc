/* A broker store in a private temporary directory, and a second, raw
 * SQLite connection to the same file for what the store API must not be
 * able to do (tampering, schema checks). Header-only (static inline)
 * because each unit test is its own binary linked only with testlib. */
#ifndef A11_TEST_STORE_FIXTURE_H
#define A11_TEST_STORE_FIXTURE_H

#include <sqlite3.h>

#include "tmpdir_fixture.h"
#include "../../src/broker/store.h"

struct sfx {
	struct tmpdir dir;
	char db[PATH_MAX];
	char uri[PATH_MAX + 8];
	struct store *s;
};

static inline int sfx_setup(void **state)
{
	struct sfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(&f->dir);
	tmpdir_file(&f->dir, "broker.db", f->db);
	snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->db);
	assert_int_equal(store_open(f->uri, &f->s), A11_OK);
	*state = f;
	return 0;
}

static inline int sfx_teardown(void **state)
{
	struct sfx *f = *state;

	store_close(f->s);
	tmpdir_remove(&f->dir);
	free(f);
	return 0;
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

/* Runs constant SQL on a separate connection; returns SQLite's code. */
static inline int raw_exec(const struct sfx *f, const char *sql)
{
	sqlite3 *db = raw_open(f);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return rc;
}

/* The integer a one-row query returns, on a separate connection. */
static inline int64_t raw_int(const struct sfx *f, const char *sql)
{
	sqlite3 *db = raw_open(f);
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

#endif
