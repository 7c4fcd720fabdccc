/* The store's challenge sessions (single use, also across replicas, and
 * pruned when expired) and leases (listing, renewal, unknown credential). */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_fixture.h"

struct names {
	char v[8][STORE_NAME_MAX + 1];
	size_t n;
};

static void test_session(void **state)
{
	struct sfx *f = *state;
	struct store_session ss = sfx_session("s1", "web", 1000), got;

	sfx_put_token(f->s, "web");
	snprintf(ss.lease, sizeof(ss.lease), "lease-1");
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	assert_int_equal(store_session_put(f->s, &ss), A11_ERR_EXISTS);
	/* Valid up to and including expires. */
	assert_int_equal(store_session_take(f->s, "s1", 1000, &got), A11_OK);
	assert_string_equal(got.id, "s1");
	assert_string_equal(got.credential, "web");
	assert_string_equal(got.lease, "lease-1");
	assert_memory_equal(got.nonce, ss.nonce, 32);
	assert_memory_equal(got.secret_hash, ss.secret_hash, 32);
	assert_int_equal(got.ek_cert_len, ss.ek_cert_len);
	assert_memory_equal(got.ek_cert, ss.ek_cert, ss.ek_cert_len);
	assert_memory_equal(got.ek_public, ss.ek_public, ss.ek_public_len);
	assert_memory_equal(got.ak_public, ss.ak_public, ss.ak_public_len);
	assert_int_equal(got.expires, 1000);
	store_session_clear(&got);
	assert_int_equal(store_session_take(f->s, "s1", 1000, &got), A11_ERR_REUSED);
	assert_null(got.ek_cert);

	/* Expired: refused, and used up. */
	ss = sfx_session("s2", "web", 1000);
	ss.ek_cert = NULL;
	ss.ek_cert_len = 0;
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	assert_int_equal(store_session_take(f->s, "s2", 1001, &got), A11_ERR_EXPIRED);
	assert_null(got.ek_public);
	assert_int_equal(store_session_take(f->s, "s2", 0, &got), A11_ERR_REUSED);

	assert_int_equal(store_session_take(f->s, "s3", 0, &got), A11_ERR_NOT_FOUND);
	ss = sfx_session("s4", "no-such-credential", 1000);
	assert_int_equal(store_session_put(f->s, &ss), A11_ERR_NOT_FOUND);
	assert_int_equal(store_session_take(f->s, "", 0, &got), A11_ERR_ARG);
}

/* Single use whichever replica gets the evidence: takers on two stores
 * (two brokers, to the database) race for one session; one wins. */
#define TAKERS 6

struct taker {
	struct store *s;
	pthread_barrier_t *go;
	a11_err r;
};

static void *take(void *arg)
{
	struct taker *t = arg;
	struct store_session got;

	pthread_barrier_wait(t->go);
	t->r = store_session_take(t->s, "s1", 10, &got);
	store_session_clear(&got);
	return NULL;
}

static void test_session_replicas(void **state)
{
	struct sfx *f = *state;
	struct store *two[2] = { f->s, sfx_open_second(f) };
	struct store_session ss;
	struct taker t[TAKERS];
	pthread_t th[TAKERS];
	pthread_barrier_t go;
	int won;

	sfx_put_token(f->s, "web");
	for (int round = 0; round < 10; round++) {
		ss = sfx_session("s1", "web", 1000);
		assert_int_equal(store_session_put(two[round % 2], &ss), A11_OK);
		assert_int_equal(pthread_barrier_init(&go, NULL, TAKERS), 0);
		for (int i = 0; i < TAKERS; i++) {
			t[i] = (struct taker){ .s = two[i % 2], .go = &go };
			assert_int_equal(pthread_create(&th[i], NULL, take, &t[i]), 0);
		}
		won = 0;
		for (int i = 0; i < TAKERS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			assert_true(t[i].r == A11_OK || t[i].r == A11_ERR_REUSED);
			won += t[i].r == A11_OK;
		}
		pthread_barrier_destroy(&go);
		assert_int_equal(won, 1);
		assert_int_equal(store_session_prune(f->s, 2000), A11_OK);
	}
	store_close(two[1]);
}

static void test_session_prune(void **state)
{
	struct sfx *f = *state;
	struct store_session ss, got;
	static const char *const ids[] = { "s100", "s200", "s300" };

	sfx_put_token(f->s, "web");
	for (int i = 0; i < 3; i++) {
		ss = sfx_session(ids[i], "web", 100 * (i + 1));
		assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	}
	assert_int_equal(store_session_prune(f->s, 200), A11_OK);
	assert_int_equal(store_session_take(f->s, "s100", 0, &got), A11_ERR_NOT_FOUND);
	assert_int_equal(store_session_take(f->s, "s200", 150, &got), A11_OK);
	store_session_clear(&got);
	assert_int_equal(store_session_take(f->s, "s300", 150, &got), A11_OK);
	store_session_clear(&got);
}

static void collect_leases(const struct store_lease *l, void *arg)
{
	struct names *ns = arg;

	assert_true(ns->n < 8);
	snprintf(ns->v[ns->n++], sizeof(ns->v[0]), "%s", l->id);
}

static void test_lease(void **state)
{
	struct sfx *f = *state;
	struct store_lease l1 = sfx_lease("l1", "web", 20), l2 = sfx_lease("l2", "web", 10), got;
	struct names ns = { .n = 0 };
	enum store_hold held;

	sfx_put_token(f->s, "web");
	snprintf(l1.cert_serial, sizeof(l1.cert_serial), "0a1b2c");
	l1.key_name_len = 34;
	memset(l1.key_name, 0xab, l1.key_name_len);
	sfx_put_lease(f, &l1);
	sfx_put_lease(f, &l2);
	assert_int_equal(store_lease_get(f->s, "l1", &got), A11_OK);
	assert_string_equal(got.id, "l1");
	assert_string_equal(got.credential, "web");
	assert_memory_equal(got.ek_hash, l1.ek_hash, sizeof(got.ek_hash));
	assert_int_equal(got.issued, 20);
	assert_int_equal(got.expires, 20 + 3600);
	assert_false(got.revoked);
	assert_string_equal(got.cert_serial, "0a1b2c");
	assert_int_equal(got.key_name_len, 34);
	assert_memory_equal(got.key_name, l1.key_name, 34);
	assert_int_equal(store_lease_list(f->s, collect_leases, &ns), A11_OK);
	assert_int_equal(ns.n, 2);
	assert_string_equal(ns.v[0], "l2");
	assert_string_equal(ns.v[1], "l1");
	/* A second release of the same id is not a renewal. */
	assert_int_equal(sfx_release(f, &l1, false, STORE_PIN_NONE, &held), A11_ERR_EXISTS);

	assert_int_equal(store_lease_revoke(f->s, "l1"), A11_OK);
	assert_int_equal(store_lease_get(f->s, "l1", &got), A11_OK);
	assert_true(got.revoked);
	/* A renewal of a revoked lease commits nothing. */
	l1.expires += 100;
	assert_int_equal(sfx_release(f, &l1, true, STORE_PIN_NONE, &held), A11_OK);
	assert_int_equal(held, STORE_HOLD_LEASE_REVOKED);
	assert_int_equal(store_lease_get(f->s, "l1", &got), A11_OK);
	assert_true(got.revoked);
	assert_int_equal(got.expires, 20 + 3600);

	assert_int_equal(store_lease_revoke(f->s, "nope"), A11_ERR_NOT_FOUND);
	assert_int_equal(store_lease_get(f->s, "nope", &got), A11_ERR_NOT_FOUND);
	l2 = sfx_lease("l3", "no-such-credential", 0);
	assert_int_equal(sfx_release(f, &l2, false, STORE_PIN_NONE, &held), A11_ERR_NOT_FOUND);
	l2 = sfx_lease("l3", "web", 0);
	memset(l2.cert_serial, 'x', sizeof(l2.cert_serial));
	assert_int_equal(sfx_release(f, &l2, false, STORE_PIN_NONE, &held), A11_ERR_ARG);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_session),
		T(test_session_replicas),
		T(test_session_prune),
		T(test_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
