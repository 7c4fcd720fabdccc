/* What a hostile broker (or a man in the middle) could answer the
 * attester, refused by the release decoder (src/proto/release.c): lease
 * ids that are not the broker's 32 lowercase hex characters, and numbers
 * no broker means (lease ends beyond any calendar, approvals after the
 * end, leases longer than a policy allows). Each case starts from a body
 * the decoder accepts with one thing changed. Then what decodes but the
 * attester refuses (src/attester/check.c): certificates that do not parse
 * or are not for the key, and approval terms that disagree with the
 * attester's own quote and challenge. */
#include <stdio.h>
#include <openssl/x509.h>

#include "cert_fixture.h"
#include "proto_decode.h"
#include "../../src/attester/check.h"
#include "../../src/wire/key.h"
#include "../../src/wire/policy.h"

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

/* The challenge's session expiry is a Unix time like the others. */
static void test_session_expires(void **state)
{
	struct challenge_resp m;
	char *base, big[32];

	(void)state;
	fx_cresp(&m, true);
	base = challenge_resp_encode(&m);
	assert_non_null(base);
	snprintf(big, sizeof(big), "%lld", (long long)PROTO_TIME_MAX);
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", big), A11_OK);
	snprintf(big, sizeof(big), "%lld", (long long)PROTO_TIME_MAX + 1);
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", big), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", "9223372036854775807"),
			 A11_ERR_PARSE);
	free(base);
}

/* ---- the attester's checks of a decoded release ---- */

struct rel_fx {
	EVP_PKEY *key, *other;
	TPM2B_PUBLIC pub, other_pub;
	struct release rel;
	struct a11_pcr_values values;
	TPML_PCR_SELECTION sel;      /* the challenge's */
	struct release_expect x;
};

/* The approved policy as an honest broker computes it from the terms. */
static void approve(struct rel_fx *f)
{
	const struct wire_lease_terms t = {
		.clock_end = f->rel.approval.clock_end, .reset_count = f->rel.approval.reset_count,
		.pcrs = f->rel.pcr_bound ? &f->rel.pcr_selection : NULL, .values = &f->values,
		.auth_value = f->rel.auth_value,
	};

	assert_int_equal(wire_lease_policy(&t, &f->rel.approval.approved), A11_OK);
}

static int rel_setup(void **state)
{
	struct rel_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->key = EVP_EC_gen("P-256");
	f->other = EVP_EC_gen("P-256");
	assert_non_null(f->key);
	assert_non_null(f->other);
	fx_key_pub(f->key, &f->pub);
	fx_key_pub(f->other, &f->other_pub);
	fx_rel(&f->rel, 0, false);
	f->rel.pub = f->pub;
	f->rel.certs[0] = fx_cert_for(f->key, &f->rel.cert_len[0]);
	f->rel.certs[1] = fx_cert_for(f->other, &f->rel.cert_len[1]); /* an issuer */
	f->rel.cert_count = 2;
	fx_selection(&f->sel);
	f->values.count = 3;
	for (uint32_t i = 0; i < 3; i++) {
		f->values.v[i].size = i < 2 ? 32 : 20;
		fx_fill(f->values.v[i].buffer, f->values.v[i].size, 20 + i);
	}
	f->x = (struct release_expect){ .kind = CRED_REPOSITORY, .key = &f->pub.publicArea,
		.quote_clock = { .clock = f->rel.approval.clock_end - 3600 * 1000,
				 .resetCount = f->rel.approval.reset_count },
		.key_auth = true, .bind_pcrs = true, .sel = &f->sel,
		.values = &f->values };
	approve(f);
	*state = f;
	return 0;
}

static int rel_teardown(void **state)
{
	struct rel_fx *f = *state;

	release_clear(&f->rel);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->other);
	free(f);
	return 0;
}

static void test_release_accepted(void **state)
{
	struct rel_fx *f = *state;

	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
	assert_int_equal(attester_check_certs(&f->rel, &f->pub.publicArea), A11_OK);
}

/* Garbage, a trailing byte, a truncated certificate, anywhere in the chain. */
static void test_certs_parse(void **state)
{
	struct rel_fx *f = *state;

	for (size_t i = 0; i < 2; i++) {
		uint8_t keep = f->rel.certs[i][0];

		f->rel.certs[i][0] = 0x31;
		assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
		f->rel.certs[i][0] = keep;
		f->rel.certs[i][f->rel.cert_len[i]++] = 0;
		assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
		f->rel.cert_len[i] -= 2;
		assert_int_equal(attester_check_certs(&f->rel, &f->pub.publicArea),
				 A11_ERR_PROTOCOL);
		f->rel.cert_len[i]++;
	}
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
}

/* The leaf is for another key (repository and ca kinds alike); a token
 * comes with no certificate at all; ca comes with one. */
static void test_certs_key(void **state)
{
	struct rel_fx *f = *state;
	uint8_t *leaf = f->rel.certs[0];
	size_t len = f->rel.cert_len[0];

	f->rel.certs[0] = f->rel.certs[1];
	f->rel.cert_len[0] = f->rel.cert_len[1];
	f->rel.certs[1] = leaf;
	f->rel.cert_len[1] = len;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->rel.kind = f->x.kind = CRED_CA;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	assert_int_equal(attester_check_certs(&f->rel, &f->other_pub.publicArea), A11_OK);
	f->x.key = &f->other_pub.publicArea;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
	f->rel.kind = f->x.kind = CRED_TOKEN;
	f->x.key = NULL;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->rel.kind = f->x.kind = CRED_CA;
	f->x.key = &f->other_pub.publicArea;
	f->rel.cert_count = 0;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->rel.cert_count = 2;
}

/* Each term changed, and the approved policy recomputed from the changed
 * terms as a hostile broker's approver would sign it: the terms disagree
 * with the attester's quote or challenge. */
static void test_terms(void **state)
{
	struct rel_fx *f = *state;
	struct approval *a = &f->rel.approval;
	const struct approval keep = *a;

	a->clock_end += 1000; /* signed for 1 s more than the lease, still <= 366 d: fine */
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
	a->clock_end = f->x.quote_clock.clock + (uint64_t)PROTO_LEASE_TTL_MAX * 1000 + 1;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	a->clock_end = UINT64_MAX;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	a->clock_end = f->x.quote_clock.clock;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	*a = keep;
	a->reset_count++;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	*a = keep;
	f->rel.auth_value = false;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->rel.auth_value = true;
	f->rel.pcr_selection.pcrSelections[0].pcrSelect[1] = 0x01; /* PCR 8 too */
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	fx_selection(&f->rel.pcr_selection);
	f->rel.pcr_bound = false;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->rel.pcr_bound = true;
	approve(f);
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
}

/* The terms as sent, but an approved policy that is not theirs. */
static void test_approved_digest(void **state)
{
	struct rel_fx *f = *state;

	f->rel.approval.approved.buffer[5] ^= 1;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->rel.approval.approved.buffer[5] ^= 1;
	f->values.v[2].buffer[0] ^= 1; /* approved over other PCR values */
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->values.v[2].buffer[0] ^= 1;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
}

/* A renewal keeps the shape of the key's policy: the key's authPolicy
 * (PolicyAuthorize) accepts any approval, but the module runs the live
 * lease's steps before it. */
static void test_renewal_shape(void **state)
{
	struct rel_fx *f = *state;
	struct release live;

	memset(&live, 0, sizeof(live));
	live.kind = CRED_REPOSITORY;
	live.pcr_bound = true;
	live.pcr_selection = f->rel.pcr_selection;
	live.auth_value = true;
	f->x.live = &live;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_OK);
	live.auth_value = false;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	live.auth_value = true;
	live.pcr_selection.pcrSelections[1].pcrSelect[2] = 0x40;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	live.pcr_selection = f->rel.pcr_selection;
	live.kind = CRED_CA;
	assert_int_equal(attester_check_release(&f->rel, &f->x), A11_ERR_PROTOCOL);
	f->x.live = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_id),
		cmocka_unit_test(test_lease_times),
		cmocka_unit_test(test_session_expires),
		cmocka_unit_test_setup_teardown(test_release_accepted, rel_setup, rel_teardown),
		cmocka_unit_test_setup_teardown(test_certs_parse, rel_setup, rel_teardown),
		cmocka_unit_test_setup_teardown(test_certs_key, rel_setup, rel_teardown),
		cmocka_unit_test_setup_teardown(test_terms, rel_setup, rel_teardown),
		cmocka_unit_test_setup_teardown(test_approved_digest, rel_setup, rel_teardown),
		cmocka_unit_test_setup_teardown(test_renewal_shape, rel_setup, rel_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
