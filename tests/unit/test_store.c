/* The store: credentials, PIN counters, opening and reopening. Sessions
 * and leases are test_store_session.c, the audit chain test_store_audit.c. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store_fixture.h"

static char policy_a[] = "{\"pcrs\":[7]}";
static char policy_b[] = "{\"pcrs\":[7,11]}";
static char chain[] = "-----BEGIN CERTIFICATE-----\n...\n";
static char pin_verifier[] = "$a11auth$1$10000$c2VhbGVk";
static uint8_t sealed[] = { 1, 2, 3, 4, 5, 0, 7, 8 };

/* A credential with every field set; its pointers are static. */
static struct store_cred cred(const char *name)
{
	struct store_cred c = { .kind = CRED_REPOSITORY, .policy_json = policy_a,
				.policy_version = 3, .sealed_secret = sealed,
				.sealed_secret_len = sizeof(sealed), .chain_pem = chain,
				.pin_verifier = pin_verifier };

	snprintf(c.name, sizeof(c.name), "%s", name);
	memset(c.pin_salt, 0x5a, sizeof(c.pin_salt));
	return c;
}

static void put_cred(struct sfx *f, const char *name)
{
	struct store_cred c = cred(name);

	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
}

static void test_open(void **state)
{
	struct sfx *f = *state;
	struct store *s = (struct store *)f;
	struct store_cred c = cred("mem");
	char wal[PATH_MAX + 8];
	struct stat sb;

	assert_int_equal(store_open("mysql://db/broker", &s), A11_ERR_UNSUPPORTED);
	assert_null(s);
	/* A PostgreSQL server that is not there: refused at open, not later. */
	assert_int_equal(store_open("postgresql:///broker?host=/nonexistent", &s), A11_ERR_STORE);
	assert_null(s);
	assert_int_equal(store_open("postgres:", &s), A11_ERR_ARG);
	assert_int_equal(store_open("sqlite:", &s), A11_ERR_ARG);
	assert_int_equal(store_open(NULL, &s), A11_ERR_ARG);
	assert_int_equal(store_open("sqlite:/nonexistent/dir/broker.db", &s), A11_ERR_STORE);
	assert_null(s);
	if (f->pg) {
		/* Current schema. */
		assert_int_equal(raw_int(f, "SELECT version FROM schema_version"), 2);
	} else {
		/* Owner-only, WAL, current schema. */
		assert_int_equal(stat(f->db, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		assert_int_equal(raw_int(f, "PRAGMA user_version"), 5);
		snprintf(wal, sizeof(wal), "%s-wal", f->db);
		assert_int_equal(stat(wal, &sb), 0);
	}
	assert_int_equal(store_ping(f->s), A11_OK);
	assert_int_equal(store_ping(NULL), A11_ERR_ARG);
	/* In memory works too (handy for other suites). */
	assert_int_equal(store_open("sqlite::memory:", &s), A11_OK);
	assert_int_equal(store_cred_put(s, &c), A11_OK);
	store_close(s);
}

/* A database from a newer broker is refused, not "migrated" down. */
static void test_newer_schema(void **state)
{
	struct sfx *f = *state;
	struct store *s = NULL;

	assert_int_equal(raw_exec(f, RAW_SQL(f, "PRAGMA user_version = 99",
					    "UPDATE schema_version SET version = 99")), SQLITE_OK);
	assert_int_equal(store_open(f->uri, &s), A11_ERR_STORE);
	assert_null(s);
	assert_int_equal(raw_exec(f, RAW_SQL(f, "PRAGMA user_version = 1",
					    "UPDATE schema_version SET version = 1")), SQLITE_OK);
}

static void test_cred_round_trip(void **state)
{
	struct sfx *f = *state;
	struct store_cred c = cred("web"), got;
	char long_name[STORE_NAME_MAX + 2];

	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_string_equal(got.name, "web");
	assert_int_equal(got.kind, CRED_REPOSITORY);
	assert_string_equal(got.policy_json, policy_a);
	assert_int_equal(got.policy_version, 3);
	assert_int_equal(got.sealed_secret_len, sizeof(sealed));
	assert_memory_equal(got.sealed_secret, sealed, sizeof(sealed));
	assert_string_equal(got.chain_pem, chain);
	assert_string_equal(got.pin_verifier, pin_verifier);
	assert_memory_equal(got.pin_salt, c.pin_salt, sizeof(c.pin_salt));
	assert_int_equal(got.pin_failures, 0);
	assert_false(got.pin_locked);
	store_cred_clear(&got);
	assert_null(got.sealed_secret);

	/* Optional fields absent, another kind. */
	c = cred("token");
	c.kind = CRED_TOKEN;
	c.chain_pem = c.pin_verifier = NULL;
	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
	assert_int_equal(store_cred_get(f->s, "token", &got), A11_OK);
	assert_int_equal(got.kind, CRED_TOKEN);
	assert_null(got.chain_pem);
	assert_null(got.pin_verifier);
	store_cred_clear(&got);

	assert_int_equal(store_cred_get(f->s, "nope", &got), A11_ERR_NOT_FOUND);
	assert_null(got.policy_json);
	/* Over-long is refused, never truncated into another name. */
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(store_cred_get(f->s, long_name, &got), A11_ERR_ARG);
	memset(c.name, 'n', sizeof(c.name));
	assert_int_equal(store_cred_put(f->s, &c), A11_ERR_ARG);
	c = cred("");
	assert_int_equal(store_cred_put(f->s, &c), A11_ERR_ARG);
	c = cred("bad-kind");
	c.kind = (enum cred_kind)7;
	assert_int_equal(store_cred_put(f->s, &c), A11_ERR_ARG);
}

/* A replace keeps the PIN counters and moves policy_version forward when
 * the policy text changes, whatever version the caller passed. */
static void test_cred_replace(void **state)
{
	struct sfx *f = *state;
	struct store_cred c = cred("web"), got;
	uint8_t other[] = { 9, 9 };
	uint32_t failures;
	bool locked;

	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
	assert_int_equal(sfx_pin_wrong(f, "web", 5, &failures, &locked), A11_OK);
	c.policy_json = policy_b;
	c.sealed_secret = other;
	c.sealed_secret_len = sizeof(other);
	c.pin_failures = 0;
	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_string_equal(got.policy_json, policy_b);
	assert_int_equal(got.policy_version, 4);
	assert_int_equal(got.pin_failures, 1);
	assert_memory_equal(got.sealed_secret, other, sizeof(other));
	store_cred_clear(&got);
	/* Same policy, caller's higher version: taken as is. */
	c.policy_version = 10;
	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_int_equal(got.policy_version, 10);
	store_cred_clear(&got);
}

struct names {
	char v[8][STORE_NAME_MAX + 1];
	size_t n;
	bool secrets_seen;
};

static void collect(const struct store_cred *c, void *arg)
{
	struct names *ns = arg;

	assert_true(ns->n < 8);
	snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", c->name);
	ns->secrets_seen |= c->sealed_secret != NULL || c->sealed_secret_len != 0;
	assert_non_null(c->policy_json);
}


/* Schema 2 to 5: the PIN column is renamed and keeps what it held (an
 * older broker's scrypt hash, which src/broker/pin.c then refuses with
 * its remedy: setting the PIN again). */
static void test_migrate_pin_column(void **state)
{
	struct sfx *f = *state;
	struct store_cred got;

	struct store_lease l = sfx_lease("l1", "old", 1), lgot;
	struct store_session ss = sfx_session("s1", "old", 100), sgot;

	/* SQLite's own history: PostgreSQL's schema began at SQLite's 4. */
	if (f->pg)
		skip();
	put_cred(f, "old");
	sfx_put_lease(f, &l);
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	assert_int_equal(raw_exec(f, "ALTER TABLE leases DROP COLUMN approver;"
				     "ALTER TABLE leases DROP COLUMN key_name;"
				     "ALTER TABLE sessions DROP COLUMN seen_reset;"
				     "ALTER TABLE sessions DROP COLUMN seen_restart;"
				     "ALTER TABLE sessions DROP COLUMN seen_clock;"
				     "ALTER TABLE credentials RENAME COLUMN pin_verifier TO pin_hash;"
				     "UPDATE credentials SET pin_hash = '$scrypt$15$8$1$x$y';"
				     "PRAGMA user_version = 2"), SQLITE_OK);
	sfx_reopen(f);
	assert_int_equal(raw_int(f, "PRAGMA user_version"), 5);
	assert_int_equal(store_cred_get(f->s, "old", &got), A11_OK);
	assert_string_equal(got.pin_verifier, "$scrypt$15$8$1$x$y");
	assert_int_equal(got.sealed_secret_len, sizeof(sealed));
	store_cred_clear(&got);
	/* Schema 4: a lease from before names no key, a session no counters. */
	assert_int_equal(store_lease_get(f->s, "l1", &lgot), A11_OK);
	assert_int_equal(lgot.key_name_len, 0);
	assert_int_equal(lgot.approver_len, 0);
	assert_int_equal(store_session_take(f->s, "s1", 1, &sgot), A11_OK);
	assert_false(sgot.seen_known);
	store_session_clear(&sgot);
}

static void test_cred_list_delete(void **state)
{
	struct sfx *f = *state;
	struct names ns = { .n = 0 };
	struct store_session ss = sfx_session("s1", "a", 100), got;
	struct store_lease l = sfx_lease("l1", "a", 1), lgot;

	put_cred(f, "b");
	put_cred(f, "a");
	put_cred(f, "c");
	assert_int_equal(store_cred_list(f->s, collect, &ns), A11_OK);
	assert_int_equal(ns.n, 3);
	assert_string_equal(ns.v[0], "a");
	assert_string_equal(ns.v[1], "b");
	assert_string_equal(ns.v[2], "c");
	assert_false(ns.secrets_seen);

	assert_int_equal(store_cred_delete(f->s, "b"), A11_OK);
	assert_int_equal(store_cred_delete(f->s, "b"), A11_ERR_NOT_FOUND);
	ns.n = 0;
	assert_int_equal(store_cred_list(f->s, collect, &ns), A11_OK);
	assert_int_equal(ns.n, 2);
	assert_string_equal(ns.v[1], "c");

	/* Sessions and leases go with their credential. */
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	sfx_put_lease(f, &l);
	assert_int_equal(store_cred_delete(f->s, "a"), A11_OK);
	assert_int_equal(store_session_take(f->s, "s1", 0, &got), A11_ERR_NOT_FOUND);
	assert_int_equal(store_lease_get(f->s, "l1", &lgot), A11_ERR_NOT_FOUND);
}

static void test_set_policy(void **state)
{
	struct sfx *f = *state;
	struct store_cred got;

	put_cred(f, "web");
	assert_int_equal(store_cred_set_policy(f->s, "web", policy_b), A11_OK);
	assert_int_equal(store_cred_set_policy(f->s, "web", policy_b), A11_OK);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_string_equal(got.policy_json, policy_b);
	assert_int_equal(got.policy_version, 5);
	store_cred_clear(&got);
	assert_int_equal(store_cred_set_policy(f->s, "nope", policy_b), A11_ERR_NOT_FOUND);
	assert_int_equal(store_cred_set_policy(f->s, "web", NULL), A11_ERR_ARG);
}

static int lease_seq;

/* A wrong PIN is a refusal verdict; a right one comes with the release it
 * opens. */
static void pin_expect(struct sfx *f, bool ok, uint32_t want_failures, bool want_locked)
{
	struct store_lease l = { .issued = 1, .expires = 2 };
	enum store_hold held;
	struct store_cred got;
	uint32_t failures = 99;
	bool locked = !want_locked;

	if (!ok) {
		assert_int_equal(sfx_pin_wrong(f, "web", 3, &failures, &locked), A11_OK);
	} else {
		snprintf(l.id, sizeof(l.id), "pin%d", lease_seq++);
		snprintf(l.credential, sizeof(l.credential), "web");
		assert_int_equal(sfx_release(f, &l, false, STORE_PIN_RIGHT, &held), A11_OK);
		assert_int_equal(held, want_locked ? STORE_HOLD_PIN_LOCKED : STORE_HOLD_OK);
		assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
		failures = got.pin_failures;
		locked = got.pin_locked;
		store_cred_clear(&got);
	}
	assert_int_equal(failures, want_failures);
	assert_int_equal(locked, want_locked);
}

static void test_pin(void **state)
{
	struct sfx *f = *state;
	struct store_cred got;
	uint32_t failures;
	bool locked;

	put_cred(f, "web");
	pin_expect(f, false, 1, false);
	pin_expect(f, false, 2, false);
	pin_expect(f, true, 0, false);
	pin_expect(f, false, 1, false);
	pin_expect(f, false, 2, false);
	pin_expect(f, false, 3, true);
	/* Locked: a right PIN does not unlock, only the operator does, and
	 * its release does not commit. */
	pin_expect(f, true, 3, true);
	pin_expect(f, false, 3, true);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_true(got.pin_locked);
	store_cred_clear(&got);
	assert_int_equal(store_pin_unlock(f->s, "web"), A11_OK);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_false(got.pin_locked);
	assert_int_equal(got.pin_failures, 0);
	store_cred_clear(&got);
	pin_expect(f, false, 1, false);

	/* A PIN event on a credential that is gone changes nothing. */
	assert_int_equal(sfx_pin_wrong(f, "nope", 3, &failures, &locked), A11_OK);
	assert_int_equal(failures, 0);
	assert_int_equal(store_pin_unlock(f->s, "nope"), A11_ERR_NOT_FOUND);
	assert_int_equal(sfx_pin_wrong(f, "web", 0, &failures, &locked), A11_ERR_ARG);
}

#define PIN_THREADS 4
#define PIN_EACH 25

static void *pin_worker(void *arg)
{
	struct sfx *f = arg;
	uint32_t failures;
	bool locked;

	for (int i = 0; i < PIN_EACH; i++)
		if (sfx_pin_wrong(f, "web", 1000, &failures, &locked) != A11_OK)
			return arg;
	return NULL;
}

/* The read-modify-write is one transaction: no lost increments. */
static void test_pin_concurrent(void **state)
{
	struct sfx *f = *state;
	pthread_t t[PIN_THREADS];
	struct store_cred got;
	void *ret;

	put_cred(f, "web");
	for (int i = 0; i < PIN_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, pin_worker, f), 0);
	for (int i = 0; i < PIN_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_int_equal(got.pin_failures, PIN_THREADS * PIN_EACH);
	store_cred_clear(&got);
}

static void test_reopen_persists(void **state)
{
	struct sfx *f = *state;
	struct store_session ss = sfx_session("s1", "web", 1000), sgot;
	struct store_lease l = sfx_lease("l1", "web", 5), lgot;
	struct store_tpm t = { .reset_count = 1, .clock = 9 }, tgot;
	struct store_audit rec = { .time = 1 };
	struct store_cred got;
	int64_t bad = -1;
	bool known;

	memset(t.ek_hash, 1, sizeof(t.ek_hash));
	put_cred(f, "web");
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	sfx_put_lease(f, &l);
	sfx_tpm_seen(f, &t);
	snprintf(rec.event, sizeof(rec.event), "release");
	assert_int_equal(store_audit_append(f->s, &rec), A11_OK);
	assert_int_equal(store_audit_append(f->s, &rec), A11_OK);

	sfx_reopen(f);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_memory_equal(got.sealed_secret, sealed, sizeof(sealed));
	store_cred_clear(&got);
	assert_int_equal(store_session_take(f->s, "s1", 10, &sgot), A11_OK);
	store_session_clear(&sgot);
	assert_int_equal(store_lease_get(f->s, "l1", &lgot), A11_OK);
	assert_int_equal(store_tpm_get(f->s, t.ek_hash, &tgot, &known), A11_OK);
	assert_true(known);
	assert_int_equal(tgot.clock, 9);
	assert_int_equal(store_audit_verify(f->s, &bad), A11_OK);
	assert_int_equal(store_audit_append(f->s, &rec), A11_OK);
	assert_int_equal(rec.seq, 5);

	/* And the "used" mark survived too. */
	sfx_reopen(f);
	assert_int_equal(store_session_take(f->s, "s1", 10, &sgot), A11_ERR_REUSED);
}

struct reentry {
	struct store *s;
	a11_err inner;
};

static void reenter(const struct store_cred *c, void *arg)
{
	struct reentry *re = arg;
	struct store_cred got;

	re->inner = store_cred_get(re->s, c->name, &got);
}

/* A callback that calls back into the store gets an error, not a hang. */
static void test_callback_reentry(void **state)
{
	struct sfx *f = *state;
	struct reentry re = { .s = f->s, .inner = A11_OK };

	put_cred(f, "web");
	assert_int_equal(store_cred_list(f->s, reenter, &re), A11_OK);
	assert_int_equal(re.inner, A11_ERR_ARG);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open),
		T(test_newer_schema),
		T(test_migrate_pin_column),
		T(test_cred_round_trip),
		T(test_cred_replace),
		T(test_cred_list_delete),
		T(test_set_policy),
		T(test_pin),
		T(test_pin_concurrent),
		T(test_reopen_persists),
		T(test_callback_reentry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
