/* verifier_appraise (src/broker/verifier.c) on synthetic evidence: an AK
 * made of a software key signs quotes as a TPM would (attest_fixture.h);
 * the session's secret_hash is SHA-256 of the `activated` bytes. One wrong
 * thing at a time, each with its refusal and its AR4SI vector. The EK and
 * AK checks of verifier_check_identity are in test_verifier_identity.c. */
#include <stdlib.h>

#include "../../src/broker/verifier.h"
#include "attest_fixture.h"

struct fx {
	struct signer ak;
	struct ev e;                 /* the quote */
	TPM2B_PUBLIC ak_pub;
	uint8_t secret_hash[32];
	uint8_t nonce[32];           /* what the session holds */
	struct verifier_session s;
	struct evidence_req *ev;
	struct policy *p;
	struct appraisal out;
};

static void refs_add(struct policy *p, const struct a11_pcr_values *v)
{
	p->refs = realloc(p->refs, (p->ref_count + 1) * sizeof(*p->refs));
	assert_non_null(p->refs);
	p->refs[p->ref_count++] = *v;
}

/* Good evidence: a quote over sel (sha256 {0,7} when NULL) by a fresh AK. */
static struct fx *fx_new(const char *kind, TPMI_ALG_SIG_SCHEME scheme,
			 const TPML_PCR_SELECTION *sel)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	signer_init(&f->ak, kind, scheme, TPM2_ALG_SHA256);
	quote_make(&f->e, &f->ak, sel);
	f->ak_pub.publicArea = f->ak.pub;
	f->ev = calloc(1, sizeof(*f->ev));
	f->p = calloc(1, sizeof(*f->p));
	assert_true(f->ev != NULL && f->p != NULL);
	f->p->pcr_selection = f->e.sel;
	memcpy(f->ev->session, "00112233445566778899aabbccddeeff", 33);
	f->ev->activated.size = 32;
	assert_int_equal(RAND_bytes(f->ev->activated.buffer, 32), 1);
	assert_int_equal(EVP_Digest(f->ev->activated.buffer, 32, f->secret_hash, NULL,
				    EVP_sha256(), NULL), 1);
	memcpy(f->ev->quote.data, f->e.buf, f->e.len);
	f->ev->quote.len = f->e.len;
	f->ev->quote.sig = f->e.sig;
	f->ev->pcrs = f->e.pcrs;
	memcpy(f->nonce, f->e.nonce.buffer, 32);
	f->s.ak = &f->ak_pub;
	f->s.nonce = f->nonce;
	f->s.nonce_len = 32;
	f->s.secret_hash = f->secret_hash;
	return f;
}

static void fx_free(struct fx *f)
{
	signer_free(&f->ak);
	free(f->p->refs);
	free(f->p);
	free(f->ev);
	free(f);
}

static enum refusal appraise(struct fx *f)
{
	memset(&f->out, 0xa5, sizeof(f->out)); /* every field must be written */
	verifier_appraise(f->p, &f->s, f->ev, &f->out);
	/* The EAR always carries the session's nonce and the hardware claim. */
	assert_int_equal(f->out.ear.nonce_len, 32);
	assert_memory_equal(f->out.ear.nonce, f->nonce, 32);
	assert_int_equal(f->out.ear.tv[AR_HARDWARE], AR_AFFIRMING);
	assert_int_equal(f->out.ear.tv[AR_FILE_SYSTEM], AR_NO_CLAIM);
	assert_int_equal(f->out.ear.tv[AR_RUNTIME_OPAQUE], AR_NO_CLAIM);
	assert_int_equal(f->out.ear.tv[AR_STORAGE_OPAQUE], AR_NO_CLAIM);
	assert_int_equal(f->out.ear.tv[AR_SOURCED_DATA], AR_NO_CLAIM);
	return f->out.refusal;
}

/* Instance identity, configuration and executables of the last appraisal. */
static void tv_is(const struct fx *f, int id, int conf, int exe)
{
	assert_int_equal(f->out.ear.tv[AR_INSTANCE_IDENTITY], id);
	assert_int_equal(f->out.ear.tv[AR_CONFIGURATION], conf);
	assert_int_equal(f->out.ear.tv[AR_EXECUTABLES], exe);
}

static void test_good(void **state)
{
	static const struct { const char *kind; TPMI_ALG_SIG_SCHEME scheme; } aks[] = {
		{ "p256", TPM2_ALG_ECDSA }, { "rsa2048", TPM2_ALG_RSASSA },
		{ "rsa2048", TPM2_ALG_RSAPSS },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(aks) / sizeof(aks[0]); i++) {
		struct fx *f = fx_new(aks[i].kind, aks[i].scheme, NULL);

		/* No reference values: executables is no claim. */
		assert_int_equal(appraise(f), REF_NONE);
		tv_is(f, AR_AFFIRMING, AR_AFFIRMING, AR_NO_CLAIM);
		assert_int_equal(ear_status(&f->out.ear), EAR_AFFIRMING);
		/* The parsed quote and the AK's QN come back. */
		assert_int_equal(f->out.quote.clockInfo.resetCount, 3);
		assert_int_equal(f->out.quote.clockInfo.restartCount, 4);
		assert_int_equal(f->out.quote.firmwareVersion, f->e.at.firmwareVersion);
		assert_int_equal(f->out.ak_qn.size, f->ak.qn.size);
		assert_memory_equal(f->out.ak_qn.name, f->ak.qn.name, f->ak.qn.size);
		fx_free(f);
	}
}

static void test_reference_values(void **state)
{
	TPML_PCR_SELECTION two = { 0 };
	struct a11_pcr_values other;
	struct fx *f;

	(void)state;
	add_bank(&two, TPM2_ALG_SHA256, 1u << 0 | 1u << 7);
	add_bank(&two, TPM2_ALG_SHA1, 1u << 1 | 1u << 2 | 1u << 23);
	f = fx_new("p256", TPM2_ALG_ECDSA, &two);
	/* A set that differs in the last value only, then the right one. */
	other = f->e.pcrs;
	other.v[other.count - 1].buffer[0] ^= 1;
	refs_add(f->p, &other);
	assert_int_equal(appraise(f), REF_PCR_VALUES);
	tv_is(f, AR_AFFIRMING, AR_AFFIRMING, AR_CONTRAINDICATED);
	assert_int_equal(ear_status(&f->out.ear), EAR_CONTRAINDICATED);
	refs_add(f->p, &f->e.pcrs);
	assert_int_equal(appraise(f), REF_NONE);
	tv_is(f, AR_AFFIRMING, AR_AFFIRMING, AR_AFFIRMING);
	assert_int_equal(ear_status(&f->out.ear), EAR_AFFIRMING);
	/* A reference set with one value fewer matches nothing. */
	other = f->e.pcrs;
	other.count--;
	f->p->refs[1] = other;
	assert_int_equal(appraise(f), REF_PCR_VALUES);
	tv_is(f, AR_AFFIRMING, AR_AFFIRMING, AR_CONTRAINDICATED);
	fx_free(f);
}

static void test_not_activated(void **state)
{
	struct fx *f = fx_new("p256", TPM2_ALG_ECDSA, NULL);

	(void)state;
	f->ev->activated.buffer[31] ^= 1;
	assert_int_equal(appraise(f), REF_AK_NOT_ACTIVATED);
	tv_is(f, AR_CONTRAINDICATED, AR_NO_CLAIM, AR_NO_CLAIM);
	f->ev->activated.buffer[31] ^= 1;
	f->ev->activated.size = 31;  /* a prefix is not the secret */
	assert_int_equal(appraise(f), REF_AK_NOT_ACTIVATED);
	f->ev->activated.size = 0;
	assert_int_equal(appraise(f), REF_AK_NOT_ACTIVATED);
	f->ev->activated.size = 32;
	f->secret_hash[0] ^= 1;
	assert_int_equal(appraise(f), REF_AK_NOT_ACTIVATED);
	f->secret_hash[0] ^= 1;
	assert_int_equal(appraise(f), REF_NONE);
	fx_free(f);
}

/* Sign f->e.at again and put it in the evidence. */
static void resign(struct fx *f)
{
	ev_seal(&f->e);
	memcpy(f->ev->quote.data, f->e.buf, f->e.len);
	f->ev->quote.len = f->e.len;
	f->ev->quote.sig = f->e.sig;
}

static void quote_invalid(struct fx *f)
{
	assert_int_equal(appraise(f), REF_QUOTE_INVALID);
	tv_is(f, AR_CRYPTO_FAILED, AR_NO_CLAIM, AR_NO_CLAIM);
	assert_int_equal(ear_status(&f->out.ear), EAR_CONTRAINDICATED);
}

static void test_quote_invalid(void **state)
{
	struct fx *f = fx_new("p256", TPM2_ALG_ECDSA, NULL);
	struct signer other;
	TPM2B_PUBLIC saved;

	(void)state;
	/* Nonce: another value, a prefix. */
	f->nonce[5] ^= 1;
	quote_invalid(f);
	f->nonce[5] ^= 1;
	f->s.nonce_len = 31;
	memset(&f->out, 0, sizeof(f->out));
	verifier_appraise(f->p, &f->s, f->ev, &f->out);
	assert_int_equal(f->out.refusal, REF_QUOTE_INVALID);
	f->s.nonce_len = 32;
	/* Signature: any byte flipped. */
	f->ev->quote.sig.signature.ecdsa.signatureS.buffer[7] ^= 1;
	quote_invalid(f);
	f->ev->quote.sig.signature.ecdsa.signatureS.buffer[7] ^= 1;
	f->ev->quote.data[f->ev->quote.len - 1] ^= 1;
	quote_invalid(f);
	f->ev->quote.data[f->ev->quote.len - 1] ^= 1;
	f->ev->quote.len--;
	quote_invalid(f);
	f->ev->quote.len++;
	/* Signer: the session's AK is another key. */
	signer_init(&other, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	saved = f->ak_pub;
	f->ak_pub.publicArea = other.pub;
	quote_invalid(f);
	f->ak_pub = saved;
	/* Signer: signed by the AK but naming another signer. */
	f->e.at.qualifiedSigner = other.qn;
	resign(f);
	quote_invalid(f);
	/* Type and magic, signed. */
	f->e.at.qualifiedSigner = f->ak.qn;
	f->e.at.magic = TPM2_GENERATED_VALUE ^ 1;
	resign(f);
	quote_invalid(f);
	f->e.at.magic = TPM2_GENERATED_VALUE;
	f->e.at.type = TPM2_ST_ATTEST_CERTIFY;
	resign(f);
	quote_invalid(f);
	f->e.at.type = TPM2_ST_ATTEST_QUOTE;
	resign(f);
	assert_int_equal(appraise(f), REF_NONE);
	signer_free(&other);
	fx_free(f);
}

static void test_pcr_selection(void **state)
{
	struct fx *f = fx_new("p256", TPM2_ALG_ECDSA, NULL);
	TPML_PCR_SELECTION want;

	(void)state;
	/* The policy asks for one PCR more than was quoted. */
	want = f->e.sel;
	want.pcrSelections[0].pcrSelect[1] |= 1;
	f->p->pcr_selection = want;
	assert_int_equal(appraise(f), REF_PCR_SELECTION);
	tv_is(f, AR_AFFIRMING, AR_CONTRAINDICATED, AR_NO_CLAIM);
	/* ... or a bank the TPM did not quote (not allocated). */
	want = f->e.sel;
	add_bank(&want, TPM2_ALG_SHA384, 1u << 0);
	f->p->pcr_selection = want;
	assert_int_equal(appraise(f), REF_PCR_SELECTION);
	tv_is(f, AR_AFFIRMING, AR_CONTRAINDICATED, AR_NO_CLAIM);
	/* ... or the same PCRs in another bank. */
	want = f->e.sel;
	want.pcrSelections[0].hash = TPM2_ALG_SHA1;
	f->p->pcr_selection = want;
	assert_int_equal(appraise(f), REF_PCR_SELECTION);
	fx_free(f);
}

static void test_pcr_digest(void **state)
{
	struct fx *f = fx_new("p256", TPM2_ALG_ECDSA, NULL);

	(void)state;
	/* A reference set equal to the claimed (wrong) values must not help:
	 * the digest is checked first. */
	f->ev->pcrs.v[1].buffer[3] ^= 1;
	refs_add(f->p, &f->ev->pcrs);
	assert_int_equal(appraise(f), REF_PCR_DIGEST);
	tv_is(f, AR_AFFIRMING, AR_NO_CLAIM, AR_CRYPTO_FAILED);
	assert_int_equal(ear_status(&f->out.ear), EAR_CONTRAINDICATED);
	f->ev->pcrs.v[1].buffer[3] ^= 1;
	/* One value missing, one too many, one of the wrong size. */
	f->ev->pcrs.count--;
	assert_int_equal(appraise(f), REF_PCR_DIGEST);
	f->ev->pcrs.count += 2;
	f->ev->pcrs.v[2] = f->ev->pcrs.v[0];
	assert_int_equal(appraise(f), REF_PCR_DIGEST);
	f->ev->pcrs.count--;
	f->ev->pcrs.v[0].size = 20;
	assert_int_equal(appraise(f), REF_PCR_DIGEST);
	f->ev->pcrs.v[0].size = 32;
	/* Values swapped: same bytes, wrong order. */
	{
		TPM2B_DIGEST t = f->ev->pcrs.v[0];

		f->ev->pcrs.v[0] = f->ev->pcrs.v[1];
		f->ev->pcrs.v[1] = t;
		assert_int_equal(appraise(f), REF_PCR_DIGEST);
		f->ev->pcrs.v[1] = f->ev->pcrs.v[0];
		f->ev->pcrs.v[0] = t;
	}
	f->ev->pcrs.count = 0;
	assert_int_equal(appraise(f), REF_PCR_DIGEST);
	/* The true values pass the digest and then fail the (wrong) reference. */
	f->ev->pcrs = f->e.pcrs;
	assert_int_equal(appraise(f), REF_PCR_VALUES);
	f->p->ref_count = 0;
	assert_int_equal(appraise(f), REF_NONE);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_reference_values),
		cmocka_unit_test(test_not_activated),
		cmocka_unit_test(test_quote_invalid),
		cmocka_unit_test(test_pcr_selection),
		cmocka_unit_test(test_pcr_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
