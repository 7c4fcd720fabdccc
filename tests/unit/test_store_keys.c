/* The store's part in key rotation (docs/operations.md, "Rotating keys"),
 * on either backend (store_fixture.h): re-sealing a credential is a
 * compare-and-swap that never undoes an operator's change, and a lease
 * names its approver key, from schema 5 (PostgreSQL 2) on. */
#include <stdbool.h>
#include <stdint.h>

#include "store_fixture.h"

static char policy[] = "{\"pcrs\":[7]}";
static char pin_a[] = "$a11auth$1$1000$pinA", pin_b[] = "$a11auth$1$1000$pinB";
static uint8_t secret_a[] = { 2, 0, 0, 0, 1, 'a' }, secret_b[] = { 2, 0, 0, 0, 2, 'b' };

static void put_cred(struct sfx *f, const char *name, char *pin)
{
	struct store_cred c = { .kind = CRED_TOKEN, .policy_json = policy, .policy_version = 3,
				.sealed_secret = secret_a, .sealed_secret_len = sizeof(secret_a),
				.pin_verifier = pin };

	snprintf(c.name, sizeof(c.name), "%s", name);
	assert_int_equal(store_cred_put(f->s, &c), A11_OK);
}

static struct store_reseal a_to_b(const char *name, const char *old_pin, const char *pin)
{
	return (struct store_reseal){ .name = name, .old_secret = secret_a,
				      .old_secret_len = sizeof(secret_a), .secret = secret_b,
				      .secret_len = sizeof(secret_b), .old_pin = old_pin,
				      .pin = pin };
}

/* The swap happens over exactly what was read, and changes nothing else
 * (the PIN counters, the policy version stay). */
static void test_reseal(void **state)
{
	struct sfx *f = *state;
	struct store_reseal rs = a_to_b("web", pin_a, pin_b);
	struct store_cred got;
	uint32_t failures;
	bool locked;

	put_cred(f, "web", pin_a);
	assert_int_equal(sfx_pin_wrong(f, "web", 5, &failures, &locked), A11_OK);
	assert_int_equal(store_cred_reseal(f->s, &rs), A11_OK);
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	assert_memory_equal(got.sealed_secret, secret_b, sizeof(secret_b));
	assert_string_equal(got.pin_verifier, pin_b);
	assert_int_equal(got.pin_failures, 1);
	assert_int_equal(got.policy_version, 3);
	store_cred_clear(&got);
	/* Done once: the values it expects are gone. */
	assert_int_equal(store_cred_reseal(f->s, &rs), A11_ERR_NOT_FOUND);
	rs.name = "absent";
	assert_int_equal(store_cred_reseal(f->s, &rs), A11_ERR_NOT_FOUND);
}

/* An operator's change between the read and the write wins: a new PIN,
 * a PIN removed, a new secret. */
static void test_reseal_loses_to_a_change(void **state)
{
	struct sfx *f = *state;
	struct store_reseal rs = a_to_b("web", pin_a, pin_b), none = a_to_b("mail", NULL, NULL);
	struct store_cred got;

	put_cred(f, "web", pin_b);     /* the PIN changed after rekey read pin_a */
	assert_int_equal(store_cred_reseal(f->s, &rs), A11_ERR_NOT_FOUND);
	put_cred(f, "mail", pin_a);    /* a PIN set after rekey read none */
	assert_int_equal(store_cred_reseal(f->s, &none), A11_ERR_NOT_FOUND);
	put_cred(f, "mail", NULL);     /* and removed again: now it holds */
	assert_int_equal(store_cred_reseal(f->s, &none), A11_OK);
	assert_int_equal(store_cred_get(f->s, "mail", &got), A11_OK);
	assert_null(got.pin_verifier);
	assert_memory_equal(got.sealed_secret, secret_b, sizeof(secret_b));
	store_cred_clear(&got);
	/* One PIN side NULL and the other not is not a reseal. */
	rs.pin = NULL;
	assert_int_equal(store_cred_reseal(f->s, &rs), A11_ERR_ARG);
}

static struct store_lease lease(const char *id, uint8_t approver)
{
	struct store_lease l = { .issued = 1, .expires = 3601 };

	snprintf(l.id, sizeof(l.id), "%s", id);
	snprintf(l.credential, sizeof(l.credential), "web");
	memset(l.ek_hash, 0xe4, sizeof(l.ek_hash));
	if (approver != 0) {
		l.approver_len = sizeof(l.approver);
		memset(l.approver, approver, l.approver_len);
	}
	return l;
}

/* A lease keeps the approver it was made under, through renewals; one
 * from before the column gets the one bind names, once. */
static void test_lease_approver(void **state)
{
	struct sfx *f = *state;
	struct store_lease l1 = lease("l1", 0xa1), l2 = lease("l2", 0), got;
	uint8_t current[34];
	enum store_hold held;
	size_t n;

	put_cred(f, "web", NULL);
	sfx_put_lease(f, &l1);
	sfx_put_lease(f, &l2);
	l1.expires += 100;
	memset(l1.approver, 0xb2, sizeof(l1.approver)); /* a renewal never rebinds */
	assert_int_equal(sfx_release(f, &l1, true, STORE_PIN_NONE, &held), A11_OK);
	assert_int_equal(store_lease_get(f->s, "l1", &got), A11_OK);
	assert_int_equal(got.approver_len, 34);
	assert_int_equal(got.approver[0], 0xa1);
	assert_int_equal(store_lease_get(f->s, "l2", &got), A11_OK);
	assert_int_equal(got.approver_len, 0);
	memset(current, 0xc3, sizeof(current));
	assert_int_equal(store_lease_bind_approver(f->s, current, &n), A11_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_lease_get(f->s, "l2", &got), A11_OK);
	assert_int_equal(got.approver_len, 34);
	assert_memory_equal(got.approver, current, 34);
	assert_int_equal(store_lease_get(f->s, "l1", &got), A11_OK);
	assert_int_equal(got.approver[0], 0xa1);
	assert_int_equal(store_lease_bind_approver(f->s, current, &n), A11_OK);
	assert_int_equal(n, 0);
}

/* The migration: leases from before keep everything and name no
 * approver. Only 34-byte Names are stored. */
static void test_migrate_approver(void **state)
{
	struct sfx *f = *state;
	struct store_lease l = lease("l1", 0), got;

	put_cred(f, "web", NULL);
	sfx_put_lease(f, &l);
	assert_int_equal(raw_exec(f, RAW_SQL(f, "ALTER TABLE leases DROP COLUMN approver;"
					      "PRAGMA user_version = 4",
					     "ALTER TABLE leases DROP COLUMN approver;"
					     "UPDATE schema_version SET version = 1")), SQLITE_OK);
	sfx_reopen(f);
	assert_int_equal(raw_int(f, RAW_SQL(f, "PRAGMA user_version",
					    "SELECT version FROM schema_version")),
			 f->pg ? 2 : 5);
	assert_int_equal(store_lease_get(f->s, "l1", &got), A11_OK);
	assert_int_equal(got.expires, 3601);
	assert_int_equal(got.approver_len, 0);
	assert_int_equal(raw_exec(f, RAW_SQL(f, "UPDATE leases SET approver = X'00'",
					     "UPDATE leases SET approver = '\\x00'::bytea")),
			 SQLITE_CONSTRAINT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reseal),
		T(test_reseal_loses_to_a_change),
		T(test_lease_approver),
		T(test_migrate_approver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
