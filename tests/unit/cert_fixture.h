/* A P-256 key as OpenSSL and the TPM describe it, and a self-signed
 * certificate for it: what a release's leaf certificate and key must
 * agree on. Header-only (static inline). */
#ifndef A11_TEST_CERT_FIXTURE_H
#define A11_TEST_CERT_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../../src/wire/key.h"

static inline void fx_key_pub(EVP_PKEY *k, TPM2B_PUBLIC *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(wire_pub_from_evp(k, &p->publicArea), A11_OK);
	p->publicArea.nameAlg = TPM2_ALG_SHA256;
	p->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					 TPMA_OBJECT_SIGN_ENCRYPT;
	p->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/* A self-signed certificate for k, DER, malloc'd with a spare byte. */
static inline uint8_t *fx_cert_for(EVP_PKEY *k, size_t *len)
{
	X509 *x = X509_new();
	unsigned char *der = NULL;
	uint8_t *out;
	int n;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"web", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	out = malloc((size_t)n + 1); /* room for a trailing byte */
	assert_non_null(out);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	X509_free(x);
	return out;
}

#endif
