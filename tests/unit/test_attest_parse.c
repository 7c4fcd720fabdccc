/* Malformed evidence: hand-built TPMT_SIGNATURE fields, and attestation
 * bytes that the AK did sign but that are not a valid TPMS_ATTEST
 * (truncated, trailing bytes, noise, oversized size fields, every byte
 * mutated). Signing them makes the parser, not the signature, the check
 * under test. Also run under ASan (make tests SANITIZE=1). */
#include <stdlib.h>

#include "attest_fixture.h"

/* Scheme, hash and sizes in a TPMT_SIGNATURE a caller built by hand. */
static void test_sig_fields(void **state)
{
	static const uint8_t msg[] = "attest11";
	struct signer ec, rsa;
	TPMT_SIGNATURE sig;

	(void)state;
	signer_init(&ec, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	signer_init(&rsa, "rsa2048", TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
	sign(&rsa, msg, sizeof(msg), &sig);
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_OK);
	sig.sigAlg = TPM2_ALG_RSAPSS; /* PKCS#1 v1.5 bytes are not PSS */
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.sigAlg = TPM2_ALG_RSASSA;
	sig.signature.rsassa.hash = TPM2_ALG_SHA384; /* claimed hash is not the one used */
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.signature.rsassa.hash = TPM2_ALG_SM3_256;
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_ERR_UNSUPPORTED);
	sig.signature.rsassa.hash = TPM2_ALG_SHA256;
	sig.signature.rsassa.sig.size = 0xffff;
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.signature.rsassa.sig.size = 0;
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.sigAlg = TPM2_ALG_HMAC;
	assert_int_equal(wire_sig_verify(&rsa.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);

	sign(&ec, msg, sizeof(msg), &sig);
	assert_int_equal(wire_sig_verify(&ec.pub, msg, sizeof(msg), &sig), A11_OK);
	/* Same r with a leading zero: the value is right but 33 bytes exceed
	 * the P-256 field, which a TPM never sends. */
	memmove(sig.signature.ecdsa.signatureR.buffer + 1, sig.signature.ecdsa.signatureR.buffer, 32);
	sig.signature.ecdsa.signatureR.buffer[0] = 0;
	sig.signature.ecdsa.signatureR.size = 33;
	assert_int_equal(wire_sig_verify(&ec.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	memmove(sig.signature.ecdsa.signatureR.buffer, sig.signature.ecdsa.signatureR.buffer + 1, 32);
	sig.signature.ecdsa.signatureR.size = 0xffff;
	assert_int_equal(wire_sig_verify(&ec.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.signature.ecdsa.signatureR.size = 32;
	sig.signature.ecdsa.signatureS.size = 0;
	assert_int_equal(wire_sig_verify(&ec.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.signature.ecdsa.signatureS.size = 32;
	sig.sigAlg = TPM2_ALG_ECDAA;
	assert_int_equal(wire_sig_verify(&ec.pub, msg, sizeof(msg), &sig), A11_ERR_SIGNATURE);
	sig.sigAlg = TPM2_ALG_ECDSA;
	assert_int_equal(wire_sig_verify(NULL, msg, sizeof(msg), &sig), A11_ERR_ARG);
	assert_int_equal(wire_sig_verify(&ec.pub, NULL, 1, &sig), A11_ERR_ARG);
	assert_int_equal(wire_sig_verify(&ec.pub, msg, sizeof(msg), NULL), A11_ERR_ARG);
	signer_free(&ec);
	signer_free(&rsa);
}

/* Bytes signed by the AK but not a TPMS_ATTEST: every prefix, a trailing
 * byte, 64 KiB of noise. The signature passes, so the parser is tested. */
static void test_parse_truncated_trailing_garbage(void **state)
{
	struct signer s;
	struct ev e;
	uint8_t *noise = malloc(65536);

	(void)state;
	assert_non_null(noise);
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&e, &s, NULL);
	for (size_t cut = 0; cut < e.len; cut++) {
		TPMT_SIGNATURE sig;
		struct wire_quote_expect x = { &e.nonce, &e.sel, &e.pcrs, &s.qn };

		/* Heap copy of exactly cut bytes: ASan sees any over-read. */
		uint8_t *p = malloc(cut ? cut : 1);
		assert_non_null(p);
		memcpy(p, e.buf, cut);
		sign(&s, p, cut, &sig);
		assert_int_equal(wire_quote_verify(&s.pub, p, cut, &sig, &x, NULL), A11_ERR_PARSE);
		free(p);
	}
	e.buf[e.len++] = 0;
	sign(&s, e.buf, e.len, &e.sig);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PARSE);
	assert_int_equal(RAND_bytes(noise, 65536), 1);
	{
		struct wire_quote_expect x = { &e.nonce, &e.sel, &e.pcrs, &s.qn };

		assert_int_equal(wire_quote_verify(&s.pub, noise, 65536, &e.sig, &x, NULL),
				 A11_ERR_SIGNATURE);
		sign(&s, noise, 65536, &e.sig);
		assert_int_equal(wire_quote_verify(&s.pub, noise, 65536, &e.sig, &x, NULL),
				 A11_ERR_PARSE);
	}
	free(noise);
	signer_free(&s);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Size fields larger than their buffers or than the data, re-signed. */
static void test_parse_oversized(void **state)
{
	static const uint16_t sizes[] = { 35, 0x41, 0x100, 0xffff };
	struct signer s;
	struct ev e, good;
	size_t off_count, off_digest;

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&good, &s, NULL);
	assert_int_equal(good.buf[OFF_QN + 1], 34);
	assert_int_equal(good.buf[OFF_NONCE + 1], 32);
	off_count = OFF_BODY;
	off_digest = good.len - 34;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t offs[] = { OFF_QN, OFF_NONCE, off_digest };

		for (size_t j = 0; j < 3; j++) {
			e = good;
			put16(e.buf + offs[j], sizes[k]);
			sign(&s, e.buf, e.len, &e.sig);
			assert_int_equal(quote_check(&e, NULL), A11_ERR_PARSE);
		}
	}
	e = good;
	e.buf[off_count] = 0xff; /* TPML count 0xff000001 */
	sign(&s, e.buf, e.len, &e.sig);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PARSE);
	e = good;
	e.buf[off_count + 3] = TPM2_NUM_PCR_BANKS + 1;
	sign(&s, e.buf, e.len, &e.sig);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PARSE);
	e = good;
	e.buf[off_count + 6] = TPM2_PCR_SELECT_MAX + 1; /* sizeofSelect */
	sign(&s, e.buf, e.len, &e.sig);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PARSE);
	e.buf[off_count + 6] = 0xff;
	sign(&s, e.buf, e.len, &e.sig);
	assert_int_equal(quote_check(&e, NULL), A11_ERR_PARSE);
	signer_free(&s);
}

/* Every byte changed and re-signed: only clockInfo and firmwareVersion,
 * which the verifier reports but does not judge, may still verify. */
static void test_parse_resigned_mutations(void **state)
{
	struct signer s;
	struct ev e, good;

	(void)state;
	signer_init(&s, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	quote_make(&good, &s, NULL);
	for (size_t i = 0; i < good.len; i++) {
		for (int m = 0; m < 2; m++) {
			a11_err r;

			e = good;
			e.buf[i] = m ? (uint8_t)~e.buf[i] : (uint8_t)(e.buf[i] ^ 1);
			sign(&s, e.buf, e.len, &e.sig);
			r = quote_check(&e, NULL);
			if (i < OFF_CLOCK || i >= OFF_BODY)
				assert_int_not_equal(r, A11_OK);
		}
	}
	signer_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sig_fields),
		cmocka_unit_test(test_parse_truncated_trailing_garbage),
		cmocka_unit_test(test_parse_oversized),
		cmocka_unit_test(test_parse_resigned_mutations),
	};

	/* tss2-mu logs every rejected structure; the rejections are the point. */
	setenv("TSS2_LOG", "all+none", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
