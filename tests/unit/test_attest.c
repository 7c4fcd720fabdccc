/* wire_quote_verify, wire_certify_verify and wire_sig_verify on well-formed
 * evidence: positive cases for ECDSA, RSASSA and RSAPSS, then one wrong
 * thing at a time, each with its own error code. Robustness against
 * malformed bytes is in test_attest_parse.c. */
#include <stdlib.h>

#include "attest_fixture.h"

static void quote_ok_with(const char *kind, TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH h,
			  int salt, const TPML_PCR_SELECTION *sel)
{
	struct signer s;
	struct ev e;
	TPMS_ATTEST out;

	signer_init(&s, kind, scheme, h);
	s.salt = salt;
	quote_make(&e, &s, sel);
	memset(&out, 0, sizeof(out));
	assert_int_equal(quote_check(&e, &out), A11_OK);
	assert_int_equal(out.clockInfo.clock, e.at.clockInfo.clock);
	assert_int_equal(out.clockInfo.resetCount, 3);
	assert_int_equal(out.firmwareVersion, e.at.firmwareVersion);
	assert_int_equal(quote_check(&e, NULL), A11_OK);
	signer_free(&s);
}

static void test_quote_ok(void **state)
{
	TPML_PCR_SELECTION two = { 0 };

	(void)state;
	add_bank(&two, TPM2_ALG_SHA256, 1u << 0 | 1u << 7);
	add_bank(&two, TPM2_ALG_SHA1, 1u << 1 | 1u << 2 | 1u << 23);
	quote_ok_with("p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, NULL);
	quote_ok_with("p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, &two);
	quote_ok_with("rsa2048", TPM2_ALG_RSASSA, TPM2_ALG_SHA256, 0, NULL);
	quote_ok_with("rsa2048", TPM2_ALG_RSASSA, TPM2_ALG_SHA256, 0, &two);
	quote_ok_with("rsa2048", TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, RSA_PSS_SALTLEN_DIGEST, NULL);
	/* Any salt length verifies: the TPM may choose the maximum. */
	quote_ok_with("rsa2048", TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, RSA_PSS_SALTLEN_MAX, &two);
	quote_ok_with("rsa2048", TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, 0, NULL);
	/* pcrDigest and signature both SHA-384 over SHA-256 bank values. */
	quote_ok_with("p384", TPM2_ALG_ECDSA, TPM2_ALG_SHA384, 0, NULL);
}

/* The digest uses the signing hash, not the bank's. */
static void test_quote_digest_uses_sig_hash(void **state)
{
	struct signer s;
	struct ev e;

	(void)state;
	signer_init(&s, "p384", TPM2_ALG_ECDSA, TPM2_ALG_SHA384);
	quote_make(&e, &s, NULL);
	values_digest(TPM2_ALG_SHA256, &e.pcrs, &e.at.attested.quote.pcrDigest);
	ev_seal(&e);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	signer_free(&s);
}

static void test_quote_wrong_nonce_signer(void **state)
{
	struct signer s;
	struct ev e;

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, NULL);
	e.nonce.buffer[31] ^= 1;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_NONCE);
	e.nonce.buffer[31] ^= 1;
	e.nonce.size = 31; /* a prefix is not the nonce */
	assert_int_equal(quote_check(&e, NULL), A11_ERR_NONCE);
	e.nonce.size = 32;
	s.qn.name[5] ^= 1;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_SIGNER);
	s.qn.name[5] ^= 1;
	wire_hierarchy_qn(TPM2_RH_OWNER, &s.qn);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_SIGNER);
	signer_free(&s);
}

static void test_quote_flipped_attest(void **state)
{
	struct signer s;
	struct ev e;

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, NULL);
	for (size_t i = 0; i < e.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			e.buf[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(quote_check(&e, NULL), A11_ERR_SIGNATURE);
			e.buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(quote_check(&e, NULL), A11_OK);
	signer_free(&s);
}

/* Flip every signature byte of an RSASSA, a PSS and an ECDSA quote. */
static void test_quote_flipped_sig(void **state)
{
	static const struct { const char *kind; TPMI_ALG_SIG_SCHEME scheme; } v[] = {
		{ "rsa2048", TPM2_ALG_RSASSA }, { "rsa2048", TPM2_ALG_RSAPSS },
		{ "p256", TPM2_ALG_ECDSA },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		struct signer s;
		struct ev e;
		uint8_t *p[2];
		size_t n[2];

		signer_init(&s, v[k].kind, v[k].scheme, TPM2_ALG_SHA256);
		quote_make(&e, &s, NULL);
		p[0] = e.sig.signature.rsassa.sig.buffer;
		n[0] = e.sig.signature.rsassa.sig.size;
		n[1] = 0;
		if (v[k].scheme == TPM2_ALG_ECDSA) {
			p[0] = e.sig.signature.ecdsa.signatureR.buffer;
			n[0] = e.sig.signature.ecdsa.signatureR.size;
			p[1] = e.sig.signature.ecdsa.signatureS.buffer;
			n[1] = e.sig.signature.ecdsa.signatureS.size;
		}
		for (int part = 0; part < 2; part++)
			for (size_t i = 0; i < n[part]; i++) {
				p[part][i] ^= 0x01;
				assert_int_equal(quote_check(&e, NULL), A11_ERR_SIGNATURE);
				p[part][i] ^= 0x01;
			}
		assert_int_equal(quote_check(&e, NULL), A11_OK);
		signer_free(&s);
	}
}

static void test_quote_pcr_values(void **state)
{
	struct signer s;
	struct ev e;

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, NULL);
	e.pcrs.v[1].buffer[0] ^= 1;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.v[1].buffer[0] ^= 1;
	e.pcrs.count = 1;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.count = 3;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.count = A11_PCR_MAX_VALUES + 1;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.count = 0xffffffffu;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.count = 2;
	e.pcrs.v[0].size = 20; /* a SHA-1-sized value in the SHA-256 bank */
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.v[0].size = 0xffff;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_DIGEST);
	e.pcrs.v[0].size = 32;
	assert_int_equal(quote_check(&e, NULL), A11_OK);
	/* A bank whose hash we do not implement cannot be checked. */
	add_bank(&e.sel, TPM2_ALG_SM3_256, 1u << 0);
	e.at.attested.quote.pcrSelect = e.sel;
	ev_seal(&e);
	e.pcrs.v[2].size = 32;
	e.pcrs.count = 3;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_UNSUPPORTED);
	signer_free(&s);
}

static void test_quote_selection(void **state)
{
	struct signer s;
	struct ev e;
	TPML_PCR_SELECTION asked = { 0 };

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, NULL);
	asked = e.sel;
	e.sel.pcrSelections[0].pcrSelect[1] = 0x01; /* PCR 8 too: the TPM dropped it */
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	e.sel = asked;
	e.sel.pcrSelections[0].pcrSelect[0] = 0x03; /* {0,1} instead of {0,7} */
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	e.sel = asked;
	e.sel.pcrSelections[0].hash = TPM2_ALG_SHA1;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	e.sel = asked;
	add_bank(&e.sel, TPM2_ALG_SHA384, 1u << 0);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	e.sel = asked;
	e.sel.pcrSelections[0].sizeofSelect = 4; /* same bits, other size */
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	e.sel = asked;
	e.sel.count = 0;
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	e.sel = asked;
	assert_int_equal(quote_check(&e, NULL), A11_OK);
	signer_free(&s);
}

/* 4 banks x 24 PCRs is the most a11_pcr_values holds; a fifth bank makes
 * the count exceed it, which must fail without reading past v[]. */
static void test_quote_max_values(void **state)
{
	static const TPMI_ALG_HASH banks[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256,
					       TPM2_ALG_SHA384, TPM2_ALG_SHA512 };
	struct signer s;
	struct ev *e = malloc(sizeof(*e));
	TPML_PCR_SELECTION sel = { 0 };

	(void)state;
	assert_non_null(e);
	for (size_t i = 0; i < 4; i++)
		add_bank(&sel, banks[i], 0xffffff);
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(e, &s, &sel);
	assert_int_equal(e->pcrs.count, A11_PCR_MAX_VALUES);
	assert_int_equal(quote_check(e, NULL), A11_OK);
	add_bank(&e->sel, TPM2_ALG_SHA256, 0xffffff);
	e->at.attested.quote.pcrSelect = e->sel;
	ev_seal(e);
	e->pcrs.count = A11_PCR_MAX_VALUES + 24;
	assert_int_equal(quote_check(e, NULL), A11_ERR_PCR_DIGEST);
	free(e);
	signer_free(&s);
}

/* Same bank twice in a different order is a different selection. */
static void test_quote_bank_order(void **state)
{
	struct signer s;
	struct ev e;
	TPML_PCR_SELECTION sel = { 0 };

	(void)state;
	add_bank(&sel, TPM2_ALG_SHA256, 1u << 0);
	add_bank(&sel, TPM2_ALG_SHA1, 1u << 0);
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, &sel);
	e.sel.pcrSelections[0] = sel.pcrSelections[1];
	e.sel.pcrSelections[1] = sel.pcrSelections[0];
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PCR_SELECTION);
	signer_free(&s);
}

static void test_quote_magic_type(void **state)
{
	struct signer s;
	struct ev e;

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, NULL);
	e.at.magic ^= 0x100;
	ev_seal(&e);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_ATTEST_MAGIC);
	e.at.magic = TPM2_GENERATED_VALUE;
	e.at.type = TPM2_ST_ATTEST_CERTIFY;
	memset(&e.at.attested, 0, sizeof(e.at.attested));
	e.at.attested.certify.name = s.qn;
	ev_seal(&e);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_ATTEST_TYPE);
	signer_free(&s);
}

static void test_sig_key_mismatch(void **state)
{
	struct signer ec, ec2, rsa;
	struct ev e;

	(void)state;
	signer_init(&ec, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	signer_init(&ec2, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	signer_init(&rsa, "rsa2048", TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
	quote_make(&e, &ec, NULL);
	sign(&rsa, e.buf, e.len, &e.sig); /* RSA signature, ECC key */
	assert_int_equal(quote_check(&e, NULL), A11_ERR_SIGNATURE);
	assert_int_equal(wire_sig_verify(&rsa.pub, e.buf, e.len, &e.sig), A11_OK);
	sign(&ec, e.buf, e.len, &e.sig); /* ECDSA signature, RSA key */
	assert_int_equal(wire_sig_verify(&rsa.pub, e.buf, e.len, &e.sig), A11_ERR_SIGNATURE);
	/* Another key of the right type. */
	assert_int_equal(wire_sig_verify(&ec2.pub, e.buf, e.len, &e.sig), A11_ERR_SIGNATURE);
	assert_int_equal(quote_check(&e, NULL), A11_OK);
	signer_free(&ec);
	signer_free(&ec2);
	signer_free(&rsa);
}

static void certify_make(struct ev *e, struct signer *s, const TPMT_PUBLIC *object)
{
	ev_header(e, s, TPM2_ST_ATTEST_CERTIFY);
	assert_int_equal(wire_name(object, &e->at.attested.certify.name), A11_OK);
	e->at.attested.certify.qualifiedName = e->at.attested.certify.name;
	ev_seal(e);
}

static a11_err certify_check(struct ev *e, const TPMT_PUBLIC *object, TPMS_ATTEST *out)
{
	return wire_certify_verify(&e->s->pub, e->buf, e->len, &e->sig, &e->nonce,
				   &e->s->qn, object, out);
}

static void test_certify(void **state)
{
	struct signer ak, obj, other;
	struct ev e;
	TPMS_ATTEST out;
	TPMT_PUBLIC o;

	(void)state;
	signer_init(&ak, "rsa2048", TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
	signer_init(&obj, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	signer_init(&other, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	certify_make(&e, &ak, &obj.pub);
	assert_int_equal(certify_check(&e, &obj.pub, &out), A11_OK);
	assert_memory_equal(&out.attested.certify.name, &e.at.attested.certify.name,
			    sizeof(TPM2B_NAME));
	assert_int_equal(certify_check(&e, &other.pub, NULL), A11_ERR_NAME);
	o = obj.pub;
	o.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM; /* same key, other attributes */
	assert_int_equal(certify_check(&e, &o, NULL), A11_ERR_NAME);
	e.nonce.buffer[0] ^= 1;
	assert_int_equal(certify_check(&e, &obj.pub, NULL), A11_ERR_NONCE);
	e.nonce.buffer[0] ^= 1;
	e.buf[e.len - 1] ^= 1;
	assert_int_equal(certify_check(&e, &obj.pub, NULL), A11_ERR_SIGNATURE);
	e.buf[e.len - 1] ^= 1;
	assert_int_equal(certify_check(&e, NULL, NULL), A11_ERR_ARG);
	/* A quote is not a certification. */
	quote_make(&e, &ak, NULL);
	assert_int_equal(certify_check(&e, &obj.pub, NULL), A11_ERR_ATTEST_TYPE);
	signer_free(&ak);
	signer_free(&obj);
	signer_free(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_ok),
		cmocka_unit_test(test_quote_digest_uses_sig_hash),
		cmocka_unit_test(test_quote_wrong_nonce_signer),
		cmocka_unit_test(test_quote_flipped_attest),
		cmocka_unit_test(test_quote_flipped_sig),
		cmocka_unit_test(test_quote_pcr_values),
		cmocka_unit_test(test_quote_selection),
		cmocka_unit_test(test_quote_max_values),
		cmocka_unit_test(test_quote_bank_order),
		cmocka_unit_test(test_quote_magic_type),
		cmocka_unit_test(test_sig_key_mismatch),
		cmocka_unit_test(test_certify),
	};

	/* tss2-mu logs every rejected structure; the rejections are the point. */
	setenv("TSS2_LOG", "all+none", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
