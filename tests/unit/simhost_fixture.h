/* Certificates for suites that use simulated hosts (src/simhost): an EK
 * CA (self-signed P-256 root) and plain certificates for the broker's
 * credentials. Header-only (static inline) because each unit test is its
 * own binary linked only with testlib. */
#ifndef A11_TEST_SIMHOST_FIXTURE_H
#define A11_TEST_SIMHOST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../../src/simhost/simhost.h"
#include "../testlib.h"

/* A key and its certificate. */
struct keycert {
	EVP_PKEY *key;
	X509 *cert;
};

/* A certificate for key named cn, by issuer (NULL: self-signed), a CA if
 * ca is true; a day's validity around now. */
static inline X509 *cert_issue(EVP_PKEY *key, const char *cn, const struct keycert *issuer,
			       bool ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	static long serial = 1;

	assert_true(x != NULL && n != NULL);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : n), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	t_cert_ext(x, issuer ? issuer->cert : x, NID_basic_constraints,
		 ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (ca)
		t_cert_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	assert_true(X509_sign(x, issuer ? issuer->key : key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

/* A self-signed CA: the EK CA, or a ca credential's issuer. */
static inline void keycert_ca(struct keycert *kc, const char *cn)
{
	kc->key = t_keygen("p256");
	kc->cert = cert_issue(kc->key, cn, NULL, true);
}

static inline void keycert_free(struct keycert *kc)
{
	EVP_PKEY_free(kc->key);
	X509_free(kc->cert);
	kc->key = NULL;
	kc->cert = NULL;
}

/* PEM of a certificate or a private key, malloc'd, NUL-terminated. */
static inline char *pem_of(X509 *x, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(b);
	assert_int_equal(x ? PEM_write_bio_X509(b, x)
			   : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &data);
	out = calloc(1, (size_t)n + 1);
	assert_non_null(out);
	memcpy(out, data, (size_t)n);
	BIO_free(b);
	return out;
}

static inline void cert_write(X509 *x, const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

static inline struct simhost *host_new(enum simhost_ek ek, const struct keycert *ca)
{
	struct simhost *h = NULL;

	assert_int_equal(simhost_new(ek, ca->key, ca->cert, &h), A11_OK);
	return h;
}

#endif
