/* Leases inside the TPM (docs/protocol.md, "Leases"): a key whose
 * authPolicy is PolicyAuthorize by the broker's approver works exactly
 * while an approval of its lease holds, and the software digests of the
 * broker and the attester are the ones the TPM computes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "../../src/broker/approver.h"
#include "../../src/tpm/tpm.h"
#include "../../src/wire/key.h"
#include "../../src/wire/policy.h"
#include "../../src/wire/wrap.h"
#include "../testlib.h"

static struct tpm *tpm;
static struct approver *approver, *stranger;
static char dir[] = "/tmp/a11-lease-XXXXXX";

static struct approver *make_approver(const char *name)
{
	char priv[256], pub[256];
	struct approver *a = NULL;

	snprintf(priv, sizeof(priv), "%s/%s.pem", dir, name);
	snprintf(pub, sizeof(pub), "%s/%s.pub.pem", dir, name);
	if (approver_keygen(priv, pub) != A11_OK || approver_load(priv, &a) != A11_OK)
		return NULL;
	unlink(priv);
	unlink(pub);
	return a;
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL || tpm_open(t_env("A11_TCTI"), &tpm) != A11_OK)
		return -1;
	approver = make_approver("a");
	stranger = make_approver("b");
	return approver && stranger ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	approver_free(approver);
	approver_free(stranger);
	tpm_close(tpm);
	rmdir(dir);
	return 0;
}

struct leased {
	EVP_PKEY *key;
	struct tpm_key parent, k;
	uint8_t ref[32];
	TPM2B_AUTH auth;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/* A P-256 key wrapped the broker's way: authPolicy PolicyAuthorize(approver,
 * ref), userWithAuth clear, authValue auth. */
static void lease_key(struct leased *l, uint8_t ref_seed)
{
	const TPM2B_PUBLIC *ap = approver_public(approver);
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256 };
	TPM2B_DIGEST pd;
	struct wire_dup d;
	struct tpm_import in;
	struct tpm_policy pol = { .lease = true, .auth_value = true };

	memset(l, 0, sizeof(*l));
	memset(l->ref, ref_seed, sizeof(l->ref));
	l->auth.size = 32;
	memset(l->auth.buffer, 0x5a, 32);
	l->key = t_keygen("p256");
	assert_int_equal(wire_key_policy(&ap->publicArea, l->ref, sizeof(l->ref), &pd), A11_OK);
	opts.auth_policy = &pd;
	opts.auth_value = &l->auth;
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_RSA, &l->parent), A11_OK);
	assert_int_equal(wire_dup_key(l->key, &l->parent.pub.publicArea, &opts, &d), A11_OK);
	assert_false(d.pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
	in = (struct tpm_import){ &d.pub, &d.duplicate, &d.seed, &d.enc_key, &d.sym };
	assert_int_equal(tpm_import(tpm, &l->parent, &in, &l->priv), A11_OK);
	l->pub = d.pub;
	assert_int_equal(tpm_load(tpm, &l->parent, &d.pub, &l->priv, &pol, &l->auth, &l->k), A11_OK);
	wire_dup_clear(&d);
}

static void leased_free(struct leased *l)
{
	tpm_key_release(tpm, &l->k);
	tpm_key_release(tpm, &l->parent);
	EVP_PKEY_free(l->key);
}

/* Approve terms for ref with signer a, verify in the TPM, install. */
static a11_err approve(struct leased *l, struct approver *a, const uint8_t ref[32],
		       uint64_t clock_end, uint32_t reset_count)
{
	const struct wire_lease_terms t = { .clock_end = clock_end, .reset_count = reset_count,
					    .auth_value = true };
	struct tpm_policy *p = &l->k.policy;
	TPM2B_DIGEST ahash;
	TPMT_SIGNATURE sig;
	a11_err r;

	p->terms.policy_ref.size = 32;
	memcpy(p->terms.policy_ref.buffer, l->ref, 32);
	p->terms.clock_end = clock_end;
	p->terms.reset_count = reset_count;
	assert_int_equal(wire_lease_policy(&t, &p->terms.approved), A11_OK);
	assert_int_equal(wire_approval_digest(&p->terms.approved, ref, 32, &ahash), A11_OK);
	assert_int_equal(approver_sign(a, &ahash, &sig), A11_OK);
	/* The TPM checks against the approver the key names. */
	if ((r = tpm_verify_approval(tpm, approver_public(a), &ahash, &sig, &p->terms)) != A11_OK)
		return r;
	p->lease = true;
	l->k.use_policy = true;
	return A11_OK;
}

static a11_err sign(struct leased *l)
{
	TPM2B_DIGEST dg;
	TPMT_SIGNATURE sig;
	a11_err r;

	t_digest(TPM2_ALG_SHA256, "leased", &dg);
	r = tpm_sign(tpm, &l->k, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, &dg, &sig);
	if (r == A11_OK)
		assert_true(t_verify(l->key, TPM2_ALG_SHA256, dg.buffer, dg.size, &sig));
	return r;
}

static TPMS_TIME_INFO now(void)
{
	TPMS_TIME_INFO ti;

	assert_int_equal(tpm_read_clock(tpm, &ti), A11_OK);
	return ti;
}

static void test_lease_signs_while_approved(void **state)
{
	struct leased l;
	TPMS_TIME_INFO ti = now();

	(void)state;
	lease_key(&l, 1);
	assert_int_equal(sign(&l), A11_ERR_LEASE_ENDED); /* no approval yet: a lease ended at 0 */
	assert_int_equal(approve(&l, approver, l.ref, ti.clockInfo.clock + 60000,
				 ti.clockInfo.resetCount), A11_OK);
	for (int i = 0; i < 5; i++) /* the kept session is reset after each use */
		assert_int_equal(sign(&l), A11_OK);
	leased_free(&l);
}

static void pcr_extend(int pcr)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "tpm2_pcrextend -T '%s' %d:sha256=%064d >/dev/null",
		 t_env("A11_TCTI"), pcr, pcr);
	assert_int_equal(system(cmd), 0);
}

/* PCRs in the approved policy: a change makes PolicyAuthorize refuse. */
static void test_lease_with_pcrs(void **state)
{
	struct leased l;
	TPMS_TIME_INFO ti = now();
	TPML_PCR_SELECTION sel = { .count = 1, .pcrSelections = { { .hash = TPM2_ALG_SHA256,
		.sizeofSelect = 3, .pcrSelect = { 0, 0, 0x80 } } } };
	struct a11_pcr_values vals;
	struct wire_lease_terms t = { .clock_end = ti.clockInfo.clock + 60000,
				      .reset_count = ti.clockInfo.resetCount, .pcrs = &sel,
				      .values = &vals, .auth_value = true };
	struct tpm_policy *p;
	TPM2B_DIGEST ahash;
	TPMT_SIGNATURE sig;

	(void)state;
	lease_key(&l, 5);
	p = &l.k.policy;
	assert_int_equal(tpm_pcr_read(tpm, &sel, &vals), A11_OK);
	*p = (struct tpm_policy){ .lease = true, .pcr = true, .pcrs = sel, .auth_value = true };
	p->terms = (struct tpm_lease){ .clock_end = t.clock_end, .reset_count = t.reset_count,
				       .policy_ref = { .size = 32 } };
	memcpy(p->terms.policy_ref.buffer, l.ref, 32);
	assert_int_equal(wire_lease_policy(&t, &p->terms.approved), A11_OK);
	assert_int_equal(wire_approval_digest(&p->terms.approved, l.ref, 32, &ahash), A11_OK);
	assert_int_equal(approver_sign(approver, &ahash, &sig), A11_OK);
	assert_int_equal(tpm_verify_approval(tpm, approver_public(approver), &ahash, &sig,
					     &p->terms), A11_OK);
	assert_int_equal(sign(&l), A11_OK);
	pcr_extend(23);
	assert_int_equal(sign(&l), A11_ERR_TPM_POLICY);
	leased_free(&l);
}

static void test_lease_ends_in_the_tpm(void **state)
{
	struct leased l;
	TPMS_TIME_INFO ti = now();

	(void)state;
	lease_key(&l, 2);
	assert_int_equal(approve(&l, approver, l.ref, ti.clockInfo.clock + 1500,
				 ti.clockInfo.resetCount), A11_OK);
	assert_int_equal(sign(&l), A11_OK);
	sleep(2);
	assert_int_equal(sign(&l), A11_ERR_LEASE_ENDED);
	/* A renewal is a new approval: the same loaded key works again. */
	ti = now();
	assert_int_equal(approve(&l, approver, l.ref, ti.clockInfo.clock + 60000,
				 ti.clockInfo.resetCount), A11_OK);
	assert_int_equal(sign(&l), A11_OK);
	leased_free(&l);
}

static void test_lease_bound_to_boot(void **state)
{
	struct leased l;
	TPMS_TIME_INFO ti = now();

	(void)state;
	lease_key(&l, 3);
	assert_int_equal(approve(&l, approver, l.ref, ti.clockInfo.clock + 60000,
				 ti.clockInfo.resetCount + 1), A11_OK);
	assert_int_equal(sign(&l), A11_ERR_LEASE_ENDED);
	leased_free(&l);
}

static void test_approval_refused(void **state)
{
	struct leased l;
	uint8_t other_ref[32];
	TPMS_TIME_INFO ti = now();
	uint64_t end = ti.clockInfo.clock + 60000;

	(void)state;
	memset(other_ref, 0xee, sizeof(other_ref));
	lease_key(&l, 4);
	/* Another lease's approval (another policyRef) does not unlock it. */
	assert_int_equal(approve(&l, approver, other_ref, end, ti.clockInfo.resetCount), A11_OK);
	assert_int_equal(sign(&l), A11_ERR_TPM_POLICY);
	/* Nor does a signature by anyone but the approver the key names. */
	assert_int_equal(approve(&l, stranger, l.ref, end, ti.clockInfo.resetCount), A11_OK);
	assert_int_equal(sign(&l), A11_ERR_TPM_POLICY);
	/* A signature that does not verify gets no ticket at all. */
	{
		TPM2B_DIGEST ahash = { .size = 32 };
		TPMT_SIGNATURE sig;

		assert_int_equal(approver_sign(approver, &ahash, &sig), A11_OK);
		ahash.buffer[0] = 1;
		assert_int_equal(tpm_verify_approval(tpm, approver_public(approver), &ahash, &sig,
						     &l.k.policy.terms), A11_ERR_SIGNATURE);
	}
	/* The right approval with the wrong authValue: the PIN is checked. */
	assert_int_equal(approve(&l, approver, l.ref, end, ti.clockInfo.resetCount), A11_OK);
	assert_int_equal(sign(&l), A11_OK);
	{
		struct tpm_key right = l.k;

		l.auth.buffer[0] ^= 1;
		assert_int_equal(tpm_load(tpm, &l.parent, &l.pub, &l.priv, &right.policy, &l.auth,
					  &l.k), A11_OK);
		assert_int_equal(sign(&l), A11_ERR_TPM_AUTH);
		tpm_key_release(tpm, &right);
	}
	leased_free(&l);
}

/* What the broker and the attester compute equals the TPM's trial. */
static void test_lease_digests_match_trial(void **state)
{
	const TPM2B_PUBLIC *ap = approver_public(approver);
	TPMS_TIME_INFO ti = now();
	struct tpm_policy pol = { .lease = true, .pcr = true, .auth_value = true };
	const struct wire_lease_terms t = { .clock_end = ti.clockInfo.clock + 1234567,
					    .reset_count = ti.clockInfo.resetCount,
					    .pcrs = &pol.pcrs, .auth_value = true };
	struct a11_pcr_values vals;
	struct wire_lease_terms tv = t;
	/* Trial sessions skip PolicyAuthorize's checks: that the approved
	 * policy matches what a real session reaches is what the signing tests
	 * show. */
	TPM2B_DIGEST sw, hw;
	uint8_t ref[32];

	(void)state;
	memset(ref, 7, sizeof(ref));
	pol.pcrs.count = 1;
	pol.pcrs.pcrSelections[0] = (TPMS_PCR_SELECTION){ .hash = TPM2_ALG_SHA256, .sizeofSelect = 3,
							  .pcrSelect = { 0x03, 0x00, 0x01 } };
	assert_int_equal(tpm_pcr_read(tpm, &pol.pcrs, &vals), A11_OK);
	tv.values = &vals;
	/* The approved policy: counters, PCRs, authValue, up to PolicyAuthorize. */
	pol.terms.clock_end = t.clock_end;
	pol.terms.reset_count = t.reset_count;
	assert_int_equal(wire_lease_policy(&tv, &sw), A11_OK);
	pol.terms.approved = sw;
	pol.terms.policy_ref.size = 32;
	memcpy(pol.terms.policy_ref.buffer, ref, 32);
	assert_int_equal(wire_name(&ap->publicArea, &pol.terms.approver), A11_OK);
	pol.terms.ticket = (TPMT_TK_VERIFIED){ .tag = TPM2_ST_VERIFIED, .hierarchy = TPM2_RH_NULL };
	/* After PolicyAuthorize the trial digest is the key's authPolicy. */
	assert_int_equal(tpm_policy_trial(tpm, &pol, TPM2_ALG_SHA256, &hw), A11_OK);
	assert_int_equal(wire_key_policy(&ap->publicArea, ref, sizeof(ref), &sw), A11_OK);
	assert_int_equal(hw.size, sw.size);
	assert_memory_equal(hw.buffer, sw.buffer, sw.size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_digests_match_trial),
		cmocka_unit_test(test_lease_signs_while_approved),
		cmocka_unit_test(test_lease_ends_in_the_tpm),
		cmocka_unit_test(test_lease_bound_to_boot),
		cmocka_unit_test(test_lease_with_pcrs),
		cmocka_unit_test(test_approval_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
