#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "testlib.h"

size_t t_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	assert_true(n % 2 == 0 && n / 2 <= cap);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n / 2;
}

EVP_PKEY *t_keygen(const char *kind)
{
	EVP_PKEY *k = NULL;

	if (strcmp(kind, "rsa2048") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(kind, "rsa3072") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else if (strcmp(kind, "p256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(kind, "p384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(k);
	return k;
}

const char *t_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("%s is not set: run integration tests through tests/run.sh", name);
	return v;
}

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>

static const EVP_MD *t_md(TPMI_ALG_HASH h)
{
	switch (h) {
	case TPM2_ALG_SHA1: return EVP_sha1();
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	default: return EVP_sha512();
	}
}

void t_digest(TPMI_ALG_HASH hash, const char *msg, TPM2B_DIGEST *out)
{
	unsigned int n;

	assert_int_equal(EVP_Digest(msg, strlen(msg), out->buffer, &n, t_md(hash), NULL), 1);
	out->size = (UINT16)n;
}

int t_verify(EVP_PKEY *key, TPMI_ALG_HASH hash, const uint8_t *digest, size_t len,
	     const TPMT_SIGNATURE *sig)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	unsigned char der[256], *p = der;
	const unsigned char *s;
	size_t slen;
	int ok = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, t_md(hash)), 1);
	if (sig->sigAlg == TPM2_ALG_ECDSA) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig->signature.ecdsa.signatureR.buffer,
				      sig->signature.ecdsa.signatureR.size, NULL);
		BIGNUM *ss = BN_bin2bn(sig->signature.ecdsa.signatureS.buffer,
				       sig->signature.ecdsa.signatureS.size, NULL);
		assert_int_equal(ECDSA_SIG_set0(es, r, ss), 1);
		slen = (size_t)i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		s = der;
	} else {
		int pad = sig->sigAlg == TPM2_ALG_RSAPSS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, pad), 1);
		if (pad == RSA_PKCS1_PSS_PADDING)
			/* TLS 1.3 needs salt = digest length: insist on it. */
			assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), 1);
		s = sig->signature.rsassa.sig.buffer;
		slen = sig->signature.rsassa.sig.size;
	}
	ok = EVP_PKEY_verify(ctx, s, slen, digest, len) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

#include <openssl/x509v3.h>

void t_cert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}
