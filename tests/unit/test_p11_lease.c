/* The module's side of a lease that a hostile broker shaped
 * (src/p11/lease.c): the renewal time stays inside the lease whatever the
 * numbers, and nothing that fails validation reaches the state directory,
 * where the host's other processes would trust it without the network. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/p11/p11.h"

static struct p11_token_conf tconf = { .label = "web", .credential = "web" };

static int64_t due(int64_t approved, int64_t expires, long percent)
{
	struct p11_token t;

	memset(&t, 0, sizeof(t));
	t.conf = &tconf;
	t.cred.rel.lease_approved = approved;
	t.cred.rel.lease_expires = expires;
	mod.conf.renew_at_percent = percent;
	return lease_renew_due(&t);
}

/* No overflow (UBSan aborts on one) and the time within the lease. */
static void test_renew_due_bounded(void **state)
{
	static const int64_t ends[][2] = {
		{ 0, INT64_MAX }, { 1795400000, INT64_MAX }, { INT64_MAX - 1, INT64_MAX },
		{ 0, PROTO_TIME_MAX }, { -5, INT64_MAX }, { INT64_MIN, 10 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		for (long pct = 10; pct <= 95; pct += 85) {
			int64_t d = due(ends[i][0], ends[i][1], pct);

			if (d != 0 && (d < ends[i][0] || d > ends[i][1]))
				fail_msg("lease %lld..%lld at %ld%%: renewal at %lld",
					 (long long)ends[i][0], (long long)ends[i][1], pct,
					 (long long)d);
		}
	assert_int_equal(due(1795400000, 1795403600, 67), 1795400000 + 2412);
	assert_int_equal(due(1795400000, 1795400000, 67), 0);
	assert_int_equal(due(1795400000, 1795399999, 67), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renew_due_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
