/* store_verdict_commit: a verdict and everything it stores commit as one
 * transaction, and a release commits only while its conditions hold
 * (store.h), also with two brokers (two stores) on one database. Each
 * rule here has a test that fails when it is removed. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_fixture.h"

static char policy[] = "{}";
static char pin_verifier[] = "$a11auth$1$10000$c2VhbGVk";
static uint8_t sealed[] = { 1, 2, 3 };

static void put_cred(struct sfx *f, const char *name, bool pin)
{
	struct store_cred c = { .kind = CRED_CA, .policy_json = policy, .policy_version = 1,
				.sealed_secret = sealed, .sealed_secret_len = sizeof(sealed),
				.pin_verifier = pin ? pin_verifier : NULL };

	snprintf(c.name, sizeof(c.name), "%s", name);
	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
}

static struct store_lease lease(const char *id, uint8_t key)
{
	struct store_lease l = { .issued = 10, .expires = 100, .key_name_len = 34 };

	snprintf(l.id, sizeof(l.id), "%s", id);
	snprintf(l.credential, sizeof(l.credential), "web");
	memset(l.ek_hash, 0xe4, sizeof(l.ek_hash));
	memset(l.policy_ref, 0x9f, sizeof(l.policy_ref));
	memset(l.key_name, key, l.key_name_len);
	return l;
}

static int64_t count(const struct sfx *f, const char *table)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return raw_int(f, sql);
}

static enum store_hold renew(struct sfx *f, const struct store_lease *l)
{
	enum store_hold held = STORE_HOLD_OK;

	assert_int_equal(sfx_release(f, l, true, STORE_PIN_NONE, &held), A11_OK);
	return held;
}

/* A renewal renews its lease's key and nothing else, and not after a
 * revocation; whatever does not hold writes nothing, not even a record. */
static void test_renewal_holds(void **state)
{
	struct sfx *f = *state;
	struct store_lease l = lease("l1", 0x11), other;

	put_cred(f, "web", false);
	sfx_put_lease(f, &l);
	l.expires = 200;
	assert_int_equal(renew(f, &l), STORE_HOLD_OK);
	other = l;
	memset(other.key_name, 0x22, other.key_name_len);
	other.expires = 300;
	assert_int_equal(renew(f, &other), STORE_HOLD_KEY);
	other = l;
	other.key_name_len = 0;
	assert_int_equal(renew(f, &other), STORE_HOLD_KEY);
	other = l;
	other.ek_hash[0] ^= 1;
	assert_int_equal(renew(f, &other), STORE_HOLD_LEASE_UNKNOWN);
	other = l;
	other.policy_ref[31] ^= 1;
	assert_int_equal(renew(f, &other), STORE_HOLD_LEASE_UNKNOWN);
	other = lease("l2", 0x11);
	assert_int_equal(renew(f, &other), STORE_HOLD_LEASE_UNKNOWN);
	assert_int_equal(raw_int(f, "SELECT expires FROM leases WHERE id = 'l1'"), 200);
	assert_int_equal(count(f, "audit"), 2);
	assert_int_equal(store_lease_revoke(f->s, "l1"), A11_OK);
	assert_int_equal(renew(f, &l), STORE_HOLD_LEASE_REVOKED);
	assert_int_equal(count(f, "audit"), 2);
}

/* Decided under one policy, committed under another: refused. */
static void test_policy_changed(void **state)
{
	struct sfx *f = *state;
	struct store_lease l = lease("l1", 1);
	struct store_audit rec = { .time = 1, .event = "release" };
	struct store_verdict v = { .audit = &rec, .credential = "web", .lease = &l,
				   .policy_version = 1 };
	enum store_hold held;

	put_cred(f, "web", false);
	assert_int_equal(store_cred_set_policy(f->s, "web", "{\"pcrs\":[7]}"), A11_OK);
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_POLICY);
	assert_int_equal(count(f, "leases"), 0);
	assert_int_equal(store_cred_delete(f->s, "web"), A11_OK);
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_CREDENTIAL);
	assert_int_equal(count(f, "audit"), 0);
}

/* A locked credential releases and renews nothing, even with a right PIN. */
static void test_locked_releases_nothing(void **state)
{
	struct sfx *f = *state;
	struct store_lease l = lease("l1", 1), l2 = lease("l2", 2);
	enum store_hold held;
	uint32_t failures;
	bool locked;

	put_cred(f, "web", true);
	assert_int_equal(sfx_release(f, &l, false, STORE_PIN_RIGHT, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_OK);
	assert_int_equal(sfx_pin_wrong(f, "web", 1, &failures, &locked), A11_OK);
	assert_true(locked);
	assert_int_equal(renew(f, &l), STORE_HOLD_PIN_LOCKED);
	assert_int_equal(sfx_release(f, &l2, false, STORE_PIN_RIGHT, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_PIN_LOCKED);
	assert_int_equal(count(f, "leases"), 1);
}

/* All or nothing: an audit append that fails takes the lease, the PIN
 * counter and the TPM counters with it. */
static void test_all_or_nothing(void **state)
{
	struct sfx *f = *state;
	struct store_lease l = lease("l1", 1);
	struct store_tpm t = { .reset_count = 1, .clock = 5 }, got;
	struct store_audit rec = { .time = 1, .event = "release" };
	struct store_verdict v = { .audit = &rec, .credential = "web", .lease = &l, .tpm = &t,
				   .pin = STORE_PIN_RIGHT, .policy_version = 1 };
	enum store_hold held;
	uint32_t failures;
	bool locked, known;

	memcpy(t.ek_hash, l.ek_hash, 32);
	put_cred(f, "web", true);
	assert_int_equal(sfx_pin_wrong(f, "web", 3, &failures, &locked), A11_OK);
	assert_int_equal(raw_exec(f, RAW_SQL(f, "CREATE TRIGGER no_audit BEFORE INSERT ON audit"
					    " BEGIN SELECT RAISE(ABORT, 'disk full'); END",
					    "CREATE FUNCTION no_audit() RETURNS trigger"
					    " LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION"
					    " 'disk full'; END$$; CREATE TRIGGER no_audit"
					    " BEFORE INSERT ON audit FOR EACH ROW EXECUTE"
					    " FUNCTION no_audit()")), SQLITE_OK);
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_ERR_STORE);
	assert_int_equal(count(f, "leases"), 0);
	assert_int_equal(raw_int(f, "SELECT pin_failures FROM credentials"), 1);
	assert_int_equal(store_tpm_get(f->s, t.ek_hash, &got, &known), A11_OK);
	assert_false(known);
	assert_int_equal(raw_exec(f, RAW_SQL(f, "DROP TRIGGER no_audit",
					    "DROP TRIGGER no_audit ON audit")), SQLITE_OK);
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_OK);
	assert_int_equal(count(f, "leases"), 1);
	assert_int_equal(raw_int(f, "SELECT pin_failures FROM credentials"), 0);
	assert_int_equal(rec.seq, 2);
}

static void test_bad_verdicts(void **state)
{
	struct sfx *f = *state;
	struct store_lease l = lease("l1", 1);
	struct store_audit rec = { .time = 1, .event = "release" };
	struct store_verdict v = { .audit = &rec, .credential = "web", .lease = &l };
	enum store_hold held;

	put_cred(f, "web", true);
	v.pin = STORE_PIN_WRONG;   /* a wrong PIN releases nothing */
	v.pin_max_failures = 3;
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_ERR_ARG);
	v.lease = NULL;
	v.pin = STORE_PIN_RIGHT;   /* a right PIN comes with its release */
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_ERR_ARG);
	v.lease = &l;
	v.credential = "other";    /* the lease is the credential's */
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_ERR_ARG);
	v.credential = "web";
	v.audit = NULL;
	assert_int_equal(store_verdict_commit(f->s, &v, &held), A11_ERR_ARG);
	assert_int_equal(count(f, "leases"), 0);
}

/* The session keeps what the broker had seen of the TPM at the challenge. */
static void test_session_seen(void **state)
{
	struct sfx *f = *state;
	struct store_session ss = { .expires = 50, .seen_known = true, .seen_reset_count = 7,
				    .seen_restart_count = 3, .seen_clock = UINT64_MAX - 1 };
	struct store_session got;

	put_cred(f, "web", false);
	snprintf(ss.id, sizeof(ss.id), "s1");
	snprintf(ss.credential, sizeof(ss.credential), "web");
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	snprintf(ss.id, sizeof(ss.id), "s2");
	ss.seen_known = false;
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	assert_int_equal(store_session_take(f->s, "s1", 1, &got), A11_OK);
	assert_true(got.seen_known);
	assert_int_equal(got.seen_reset_count, 7);
	assert_int_equal(got.seen_restart_count, 3);
	assert_true(got.seen_clock == UINT64_MAX - 1);
	store_session_clear(&got);
	assert_int_equal(store_session_take(f->s, "s2", 1, &got), A11_OK);
	assert_false(got.seen_known);
	store_session_clear(&got);
}

/* A TPM's counters are raised by verdicts after a verified quote, never
 * lowered: quotes of one TPM may be appraised out of order. */
static void test_tpm(void **state)
{
	struct sfx *f = *state;
	struct store_tpm t = { .reset_count = 4, .restart_count = 2, .clock = 123456,
			       .last_seen = 1700000000 }, got, old;
	bool known = true;

	memset(t.ek_hash, 0x77, sizeof(t.ek_hash));
	assert_int_equal(store_tpm_get(f->s, t.ek_hash, &got, &known), A11_OK);
	assert_false(known);
	sfx_tpm_seen(f, &t);
	assert_int_equal(store_tpm_get(f->s, t.ek_hash, &got, &known), A11_OK);
	assert_true(known);
	assert_memory_equal(&got, &t, sizeof(t));
	/* Raised, never lowered: an older quote appraised later leaves the
	 * counters as they are. */
	old = t;
	old.clock--;
	sfx_tpm_seen(f, &old);
	assert_int_equal(store_tpm_get(f->s, t.ek_hash, &got, &known), A11_OK);
	assert_memory_equal(&got, &t, sizeof(t));
	/* The full u64 and u32 ranges; a reset outranks any clock. */
	t.reset_count = UINT32_MAX;
	t.restart_count = 0;
	t.clock = UINT64_MAX - 5;
	sfx_tpm_seen(f, &t);
	assert_int_equal(store_tpm_get(f->s, t.ek_hash, &got, &known), A11_OK);
	assert_memory_equal(&got, &t, sizeof(t));
}

static void test_tpm_newer(void **state)
{
	const struct store_tpm a = { .reset_count = 2, .restart_count = 1, .clock = 50 };
	struct store_tpm b = a;

	(void)state;
	assert_false(store_tpm_newer(&a, &b));
	b.clock = 49;
	assert_true(store_tpm_newer(&a, &b));
	b.clock = 1000;
	b.restart_count = 0;
	assert_true(store_tpm_newer(&a, &b));
	b.restart_count = 9;
	assert_false(store_tpm_newer(&a, &b));
	b.reset_count = 1;
	assert_true(store_tpm_newer(&a, &b));
}

/* The lockout race: with two failures counted and three allowed, wrong
 * PINs and the right one at once. The lock and the release are decided in
 * one transaction each, so a release exists only if it committed before
 * the verdict that locked: in the audit chain, its record comes first. */
#define RACE_ROUNDS 40
#define RACE_WRONG 3

struct racer {
	struct store *s;
	int round;
	bool right;
	int64_t seq;           /* of its record, 0 if none was stored */
	bool released, locked;
	pthread_barrier_t *go;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct store_lease l = lease("", 1);
	enum store_hold held = STORE_HOLD_OK;
	struct store_audit rec = { .time = 1, .event = "refusal" };
	struct store_verdict v = { .audit = &rec, .credential = "web", .pin = STORE_PIN_WRONG,
				   .pin_max_failures = 3 };

	snprintf(l.id, sizeof(l.id), "race%d", r->round);
	if (r->right) {
		v = (struct store_verdict){ .audit = &rec, .credential = "web", .lease = &l,
					    .pin = STORE_PIN_RIGHT, .policy_version = 1 };
		snprintf(rec.event, sizeof(rec.event), "release");
	}
	pthread_barrier_wait(r->go);
	if (store_verdict_commit(r->s, &v, &held) != A11_OK)
		return NULL;
	r->seq = held == STORE_HOLD_OK ? rec.seq : 0;
	r->released = r->right && held == STORE_HOLD_OK;
	r->locked = !r->right && v.pin_locked;
	return NULL;
}

/* Racer i commits through stores[i % n]: with two stores, the right PIN
 * and the wrong ones reach the database as two brokers' would. */
static void race_round(struct sfx *f, struct store *const *stores, int n, int round)
{
	struct racer r[RACE_WRONG + 1];
	pthread_t t[RACE_WRONG + 1];
	pthread_barrier_t go;
	int64_t lock_seq = 0;
	uint32_t failures;
	bool locked;

	assert_int_equal(store_pin_unlock(f->s, "web"), A11_OK);
	assert_int_equal(sfx_pin_wrong(f, "web", 3, &failures, &locked), A11_OK);
	assert_int_equal(sfx_pin_wrong(f, "web", 3, &failures, &locked), A11_OK);
	assert_int_equal(pthread_barrier_init(&go, NULL, RACE_WRONG + 1), 0);
	for (int i = 0; i <= RACE_WRONG; i++) {
		r[i] = (struct racer){ .s = stores[i % n], .round = round, .right = i == 0,
				       .go = &go };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i <= RACE_WRONG; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&go);
	/* The verdict that locked: the first wrong PIN to find it locked. */
	for (int i = 1; i <= RACE_WRONG; i++)
		if (r[i].locked && (lock_seq == 0 || r[i].seq < lock_seq))
			lock_seq = r[i].seq;
	assert_true(lock_seq > 0);   /* three wrong PINs lock in any order */
	if (r[0].released)
		assert_true(r[0].seq < lock_seq);
}

static void test_lockout_race(void **state)
{
	struct sfx *f = *state;

	put_cred(f, "web", true);
	for (int i = 0; i < RACE_ROUNDS; i++)
		race_round(f, &f->s, 1, i);
}

/* ---- replicas: two stores on one database --------------------------------
 * Each store has connections of its own (its own SQLite connection, its
 * own PostgreSQL pool), so the database sees two independent clients,
 * exactly as it would two broker processes. */

/* The lockout race with the guesses spread over both: no right PIN is
 * released after the lock, whichever replica each request reached. */
static void test_lockout_race_replicas(void **state)
{
	struct sfx *f = *state;
	struct store *two[2] = { f->s, sfx_open_second(f) };

	put_cred(f, "web", true);
	for (int i = 0; i < RACE_ROUNDS; i++)
		race_round(f, two, 2, i);
	store_close(two[1]);
}

/* A revocation made on one replica refuses the next renewal on the other. */
static void test_revoke_replicas(void **state)
{
	struct sfx *f = *state;
	struct store *other = sfx_open_second(f);
	struct store_lease l = lease("l1", 0x11);
	struct store_audit rec = { .time = 1, .event = "renewal" };
	struct store_verdict v = { .audit = &rec, .credential = "web", .lease = &l,
				   .renewal = true, .policy_version = 1 };
	enum store_hold held;

	put_cred(f, "web", false);
	sfx_put_lease(f, &l);
	assert_int_equal(store_verdict_commit(other, &v, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_OK);
	assert_int_equal(store_lease_revoke(f->s, "l1"), A11_OK);
	assert_int_equal(store_verdict_commit(other, &v, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_LEASE_REVOKED);
	store_close(other);
}

/* Quotes of one TPM appraised at once on both replicas, in any order:
 * the counters end at the latest, never lowered by a slower verdict. */
#define TPM_EACH 40

struct tpm_racer {
	struct store *s;
	int first;              /* clocks first, first + 2, ... */
	a11_err r;
};

static void *tpm_race(void *arg)
{
	struct tpm_racer *t = arg;
	struct store_tpm q = { .reset_count = 3, .restart_count = 1 };
	struct store_audit rec = { .time = 1, .event = "refusal" };
	struct store_verdict v = { .audit = &rec, .tpm = &q };
	enum store_hold held;

	memset(q.ek_hash, 0x42, sizeof(q.ek_hash));
	for (int i = 0; i < TPM_EACH && t->r == A11_OK; i++) {
		/* From the top down: every quote after the first is older. */
		q.clock = (uint64_t)(t->first + 2 * (TPM_EACH - 1 - i)) | (UINT64_C(1) << 63);
		t->r = store_verdict_commit(t->s, &v, &held);
	}
	return NULL;
}

static void test_tpm_replicas(void **state)
{
	struct sfx *f = *state;
	struct tpm_racer t[2] = { { .s = f->s, .first = 0 }, { .s = sfx_open_second(f), .first = 1 } };
	pthread_t th[2];
	struct store_tpm got;
	uint8_t ek_hash[32];
	bool known;

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, tpm_race, &t[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].r, A11_OK);
	}
	memset(ek_hash, 0x42, sizeof(ek_hash));
	assert_int_equal(store_tpm_get(t[1].s, ek_hash, &got, &known), A11_OK);
	assert_true(known);
	assert_true(got.clock == ((uint64_t)(2 * TPM_EACH - 1) | (UINT64_C(1) << 63)));
	store_close(t[1].s);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_renewal_holds),
		T(test_policy_changed),
		T(test_locked_releases_nothing),
		T(test_all_or_nothing),
		T(test_bad_verdicts),
		T(test_session_seen),
		T(test_tpm),
		cmocka_unit_test(test_tpm_newer),
		T(test_lockout_race),
		T(test_lockout_race_replicas),
		T(test_revoke_replicas),
		T(test_tpm_replicas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
