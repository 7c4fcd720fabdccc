/* What a hostile broker (or a man in the middle) could answer the
 * attester, refused by the release decoder (src/proto/release.c): lease
 * ids that are not the broker's 32 lowercase hex characters, and numbers
 * no broker means (lease ends beyond any calendar, approvals after the
 * end, leases longer than a policy allows). Each case starts from a body
 * the decoder accepts with one thing changed. */
#include <stdio.h>

#include "proto_decode.h"

static char *rel_base(void)
{
	struct release m;
	char *s;

	fx_rel(&m, 1, false);
	s = release_encode(&m);
	assert_non_null(s);
	release_clear(&m);
	return s;
}

/* The same rule for a release's lease.id and a challenge's lease. */
static void lease_ids(enum msg k, const char *base, const char *path)
{
	static const char *const bad[] = {
		"", "0", "3f2a", "3f2a00ff3f2a00ff3f2a00ff3f2a00f",   /* short */
		"3f2a00ff3f2a00ff3f2a00ff3f2a00ff0",                     /* 33 */
		"3f2a00ff3f2a00ff3f2a00ff3f2a00ff3f2a00ff3f2a00ff3f2a00ff3f2a00ff", /* 64 */
		"3F2A00FF3F2A00FF3F2A00FF3F2A00FF",                      /* upper case */
		"3f2a00ff3f2a00ff3f2a00ff3f2a00fg", "3f2a00ff-f2a00ff3f2a00ff3f2a00ff",
		"../../../../../../../../etc/pas", "3f2a00ff3f2a00ff 3f2a00ff3f2a00f",
	};

	assert_int_equal(fx_try_set(k, base, path, json_string("0123456789abcdef0123456789abcdef")),
			 A11_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fx_try_set(k, base, path, json_string(bad[i])) != A11_ERR_PARSE)
			fail_msg("%s \"%s\" was accepted", path, bad[i]);
	assert_int_equal(fx_try_json(k, base, path, "\"3f2a00ff3f2a00ff\\u00003f2a00ff3f2a00f\""),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(k, base, path, "7"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(k, base, path, "null"), A11_ERR_PARSE);
}

static void test_lease_id(void **state)
{
	struct challenge_req *creq = malloc(sizeof(*creq));
	char *base = rel_base(), *cbase;

	(void)state;
	lease_ids(M_REL, base, "lease.id");
	assert_non_null(creq);
	fx_creq(creq, true);
	cbase = challenge_req_encode(creq);
	assert_non_null(cbase);
	lease_ids(M_CREQ, cbase, "lease");
	free(cbase);
	free(creq);
	free(base);
}

/* Unix times end with year 9999; approved <= expires; a lease is at most
 * PROTO_LEASE_TTL_MAX long, as no broker policy allows more. */
static void test_lease_times(void **state)
{
	char *base = rel_base(), big[64];

	(void)state;
	assert_int_equal(fx_try_json(M_REL, base, "lease.expires", "9223372036854775807"),
			 A11_ERR_PARSE);
	snprintf(big, sizeof(big), "%lld", (long long)PROTO_TIME_MAX + 1);
	assert_int_equal(fx_try_json(M_REL, base, "lease.expires", big), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "lease.approved", "1795403601"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "lease.approved", "1795403600"), A11_OK);
	assert_int_equal(fx_try_json(M_REL, base, "lease.approved", "-1"), A11_ERR_PARSE);
	/* expires = 1795403600: the longest lease starts PROTO_LEASE_TTL_MAX before. */
	snprintf(big, sizeof(big), "%lld", 1795403600LL - PROTO_LEASE_TTL_MAX);
	assert_int_equal(fx_try_json(M_REL, base, "lease.approved", big), A11_OK);
	snprintf(big, sizeof(big), "%lld", 1795403600LL - PROTO_LEASE_TTL_MAX - 1);
	assert_int_equal(fx_try_json(M_REL, base, "lease.approved", big), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "lease.approved", "0"), A11_ERR_PARSE);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_id),
		cmocka_unit_test(test_lease_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
