/* Admission control (src/broker/admit.c): the bound on attestations in
 * progress, what ends one, and how refused hosts are spread over the
 * seconds ahead. Time is passed in, so nothing here sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/broker/admit.h"

#define TTL_S 30

static struct admit *make(unsigned max)
{
	struct admit *a = NULL;

	assert_int_equal(admit_new(max, TTL_S, &a), A11_OK);
	return a;
}

static void test_bound(void **state)
{
	struct admit *a = make(3);
	unsigned retry = 0;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(admit_challenge(a, 1000, &retry));
	assert_int_equal(admit_pending(a, 1000), 3);
	assert_false(admit_challenge(a, 1000, &retry));
	assert_true(retry >= 1 && retry <= ADMIT_RETRY_MAX_S);
	/* Evidence ends one: the next challenge gets in. */
	admit_evidence(a, 1001);
	assert_int_equal(admit_pending(a, 1001), 2);
	assert_true(admit_challenge(a, 1002, &retry));
	assert_false(admit_challenge(a, 1002, &retry));
	/* A challenge the flow refused is not in progress. */
	admit_cancel(a);
	assert_true(admit_challenge(a, 1003, &retry));
	admit_free(a);
}

/* Evidence is never refused, and with nothing in progress (a session
 * from before a restart) it counts nothing below zero. */
static void test_evidence_always(void **state)
{
	struct admit *a = make(1);
	unsigned retry = 0;

	(void)state;
	admit_evidence(a, 0);
	admit_evidence(a, 0);
	assert_int_equal(admit_pending(a, 0), 0);
	assert_true(admit_challenge(a, 0, &retry));
	assert_false(admit_challenge(a, 0, &retry));
	admit_free(a);
}

/* A challenge whose evidence never comes stops counting at its ttl. */
static void test_expiry(void **state)
{
	struct admit *a = make(2);
	unsigned retry = 0;

	(void)state;
	assert_true(admit_challenge(a, 0, &retry));
	assert_true(admit_challenge(a, 5000, &retry));
	assert_false(admit_challenge(a, TTL_S * 1000 - 1, &retry));
	assert_true(admit_challenge(a, TTL_S * 1000, &retry));
	assert_int_equal(admit_pending(a, TTL_S * 1000), 2);
	assert_int_equal(admit_pending(a, 5000 + TTL_S * 1000), 1);
	admit_free(a);
}

/* A spike is told to come back spread out: each second ahead takes as
 * many as max_pending, or as the broker finished in the last second. */
static void test_retry_spread(void **state)
{
	struct admit *a = make(2);
	unsigned retry = 0, seen[4] = { 0 };

	(void)state;
	assert_true(admit_challenge(a, 0, &retry));
	assert_true(admit_challenge(a, 0, &retry));
	for (int i = 0; i < 6; i++) {
		assert_false(admit_challenge(a, 0, &retry));
		assert_true(retry >= 1 && retry <= 3);
		seen[retry]++;
	}
	assert_int_equal(seen[1], 2);
	assert_int_equal(seen[2], 2);
	assert_int_equal(seen[3], 2);
	/* Five done within second 10: second 11's refusals go 5 to a second. */
	for (int i = 0; i < 5; i++)
		admit_evidence(a, 10000 + i);
	assert_true(admit_challenge(a, 11000, &retry));
	assert_true(admit_challenge(a, 11000, &retry));
	for (int i = 0; i < 5; i++) {
		assert_false(admit_challenge(a, 11000, &retry));
		assert_int_equal(retry, 1);
	}
	assert_false(admit_challenge(a, 11000, &retry));
	assert_int_equal(retry, 2);
	admit_free(a);
}

static void test_bounded_retry(void **state)
{
	struct admit *a = make(1);
	unsigned retry = 0;

	(void)state;
	assert_true(admit_challenge(a, 0, &retry));
	for (int i = 0; i < 200; i++)
		assert_false(admit_challenge(a, 0, &retry));
	assert_int_equal(retry, ADMIT_RETRY_MAX_S);
	admit_free(a);
	a = NULL;
	assert_int_equal(admit_new(0, TTL_S, &a), A11_ERR_ARG);
	assert_null(a);
	admit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_evidence_always),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_retry_spread),
		cmocka_unit_test(test_bounded_retry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
