/* verifier_check_identity and verifier_ek_hash (src/broker/verifier.c):
 * an EK certificate issued here by a throwaway root CA, the EK allow-list,
 * and the shape an AK must have (docs/protocol.md, POST /v1/challenge). */
#include <stdio.h>
#include <stdlib.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../../src/broker/verifier.h"
#include "attest_fixture.h"
#include "tmpdir_fixture.h"

struct fx {
	struct tmpdir dir;
	EVP_PKEY *ca_key, *evil_key, *ek_key;
	uint8_t *ek_der, *evil_der;   /* EK certificates by the CA and by evil */
	size_t ek_der_len, evil_der_len;
	TPM2B_PUBLIC ek;
	struct signer ak;             /* P-256, the attributes a TPM AK has */
	TPM2B_PUBLIC ak_pub;
	struct policy *p;
};

/* issuer NULL: a self-signed CA named cn. */
static X509 *cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *sign_key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_true(x != NULL && n != NULL);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 2 : 1), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	if (issuer == NULL) {
		t_cert_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		t_cert_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		t_cert_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		t_cert_ext(x, issuer, NID_key_usage, "critical,keyEncipherment");
	}
	assert_true(X509_sign(x, sign_key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

/* An EK certificate for ek by a root of key ca_key; the root's PEM goes
 * to pem_path when not NULL. */
static uint8_t *ek_cert(EVP_PKEY *ca_key, EVP_PKEY *ek, const char *pem_path, size_t *len)
{
	X509 *root = cert(ca_key, "attest11 test EK CA", NULL, ca_key);
	X509 *leaf = cert(ek, "EK", root, ca_key);
	uint8_t *der = NULL;
	int n = i2d_X509(leaf, &der);

	assert_true(n > 0);
	*len = (size_t)n;
	if (pem_path != NULL) {
		FILE *f = fopen(pem_path, "w");

		assert_non_null(f);
		assert_int_equal(PEM_write_X509(f, root), 1);
		assert_int_equal(fclose(f), 0);
	}
	X509_free(leaf);
	X509_free(root);
	return der;
}

static void tpm_public(EVP_PKEY *key, TPM2B_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	assert_int_equal(wire_pub_from_evp(key, &pub->publicArea), A11_OK);
	pub->publicArea.nameAlg = TPM2_ALG_SHA256;
}

/* SHA-256 of the SPKI DER, computed from the original OpenSSL key. */
static void spki_hash(EVP_PKEY *key, uint8_t out[32])
{
	uint8_t *der = NULL;
	int n = i2d_PUBKEY(key, &der);

	assert_true(n > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, out, NULL, EVP_sha256(), NULL), 1);
	OPENSSL_free(der);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[PATH_MAX];

	assert_non_null(f);
	tmpdir_make(&f->dir);
	tmpdir_file(&f->dir, "ekca.pem", path);
	f->ca_key = t_keygen("p256");
	f->evil_key = t_keygen("p256");
	f->ek_key = t_keygen("rsa2048");
	f->ek_der = ek_cert(f->ca_key, f->ek_key, path, &f->ek_der_len);
	f->evil_der = ek_cert(f->evil_key, f->ek_key, NULL, &f->evil_der_len);
	tpm_public(f->ek_key, &f->ek);
	signer_init(&f->ak, "p256", TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	f->ak_pub.publicArea = f->ak.pub;
	f->p = calloc(1, sizeof(*f->p));
	assert_non_null(f->p);
	snprintf(f->p->ek_ca, sizeof(f->p->ek_ca), "%s", path);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tmpdir_remove(&f->dir);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->evil_key);
	EVP_PKEY_free(f->ek_key);
	OPENSSL_free(f->ek_der);
	OPENSSL_free(f->evil_der);
	signer_free(&f->ak);
	free(f->p);
	free(f);
	return 0;
}

static enum refusal check(struct fx *f, const TPM2B_PUBLIC *ak, uint8_t hash[32])
{
	uint8_t scratch[32];

	return verifier_check_identity(f->p, f->ek_der, f->ek_der_len, &f->ek, ak,
				       hash ? hash : scratch);
}

static void test_identity_ok(void **state)
{
	struct fx *f = *state;
	uint8_t got[32], want[32];
	struct signer rsa;
	TPM2B_PUBLIC rsa_pub;

	memset(got, 0, sizeof(got));
	assert_int_equal(check(f, &f->ak_pub, got), REF_NONE);
	spki_hash(f->ek_key, want);
	assert_memory_equal(got, want, 32);
	/* RSA-2048 AKs too. */
	signer_init(&rsa, "rsa2048", TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
	rsa_pub.publicArea = rsa.pub;
	assert_int_equal(check(f, &rsa_pub, NULL), REF_NONE);
	signer_free(&rsa);
}

static void test_ek_hash(void **state)
{
	static const char *const kinds[] = { "rsa2048", "rsa3072", "p256", "p384" };
	struct fx *f = *state;
	uint8_t got[32], want[32];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		EVP_PKEY *k = t_keygen(kinds[i]);
		TPM2B_PUBLIC pub;

		tpm_public(k, &pub);
		assert_int_equal(verifier_ek_hash(&pub.publicArea, got), A11_OK);
		spki_hash(k, want);
		assert_memory_equal(got, want, 32);
		EVP_PKEY_free(k);
	}
	/* Not a key it can express. */
	{
		TPMT_PUBLIC bad = f->ek.publicArea;

		bad.type = TPM2_ALG_KEYEDHASH;
		assert_int_not_equal(verifier_ek_hash(&bad, got), A11_OK);
	}
}

static void test_ek_allow(void **state)
{
	struct fx *f = *state;
	struct policy *p = f->p;
	uint8_t hash[32];
	TPM2B_PUBLIC bad_ak = f->ak_pub;

	spki_hash(f->ek_key, hash);
	memset(p->ek_allow, 0x11, sizeof(p->ek_allow[0]) * 3);
	/* Listed (last of three). */
	memcpy(p->ek_allow[2], hash, 32);
	p->ek_allow_count = 3;
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_NONE);
	/* Listed first. */
	memcpy(p->ek_allow[0], hash, 32);
	memset(p->ek_allow[2], 0x11, 32);
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_NONE);
	/* Not listed: one bit off, or outside the count. */
	p->ek_allow[0][31] ^= 1;
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_EK_NOT_ALLOWED);
	p->ek_allow[0][31] ^= 1;
	memcpy(p->ek_allow[3], hash, 32);
	p->ek_allow_count = 1;
	memset(p->ek_allow[0], 0x22, 32);
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_EK_NOT_ALLOWED);
	/* The EK is refused before the AK is looked at. */
	bad_ak.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
	assert_int_equal(check(f, &bad_ak, NULL), REF_EK_NOT_ALLOWED);
	memset(p->ek_allow, 0, sizeof(p->ek_allow[0]) * 4);
	p->ek_allow_count = 0;
	assert_int_equal(check(f, &bad_ak, NULL), REF_AK_INVALID);
}

static void test_ak_rules(void **state)
{
	static const TPMA_OBJECT need[] = {
		TPMA_OBJECT_FIXEDTPM, TPMA_OBJECT_FIXEDPARENT, TPMA_OBJECT_SENSITIVEDATAORIGIN,
		TPMA_OBJECT_RESTRICTED, TPMA_OBJECT_SIGN_ENCRYPT,
	};
	static const TPMI_ALG_HASH algs[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA384, TPM2_ALG_SHA512,
					      TPM2_ALG_NULL, TPM2_ALG_SM3_256 };
	struct fx *f = *state;
	TPM2B_PUBLIC ak;
	struct signer s;

	/* Each required attribute missing. */
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		ak = f->ak_pub;
		ak.publicArea.objectAttributes &= ~need[i];
		assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	}
	/* decrypt set: a key that can also decrypt could sign anything. */
	ak = f->ak_pub;
	ak.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
	assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	/* Attributes that do not matter are allowed. */
	ak = f->ak_pub;
	ak.publicArea.objectAttributes &= ~TPMA_OBJECT_USERWITHAUTH;
	ak.publicArea.objectAttributes |= TPMA_OBJECT_NODA;
	assert_int_equal(check(f, &ak, NULL), REF_NONE);
	/* nameAlg SHA-256 only. */
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		ak = f->ak_pub;
		ak.publicArea.nameAlg = algs[i];
		assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	}
	/* P-256 or RSA-2048 only. */
	signer_init(&s, "p384", TPM2_ALG_ECDSA, TPM2_ALG_SHA384);
	ak.publicArea = s.pub;
	assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	signer_free(&s);
	signer_init(&s, "rsa3072", TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
	ak.publicArea = s.pub;
	assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	signer_free(&s);
	ak = f->ak_pub;
	ak.publicArea.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
	assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	ak = f->ak_pub;
	ak.publicArea.type = TPM2_ALG_KEYEDHASH;
	assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	ak = f->ak_pub;
	ak.publicArea.type = TPM2_ALG_SYMCIPHER;
	assert_int_equal(check(f, &ak, NULL), REF_AK_INVALID);
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_NONE);
}

static void test_ek_cert(void **state)
{
	struct fx *f = *state;
	uint8_t hash[32], *buf;
	EVP_PKEY *other = t_keygen("rsa2048");
	TPM2B_PUBLIC other_pub, saved = f->ek;

	/* Another CA: untrusted. */
	assert_int_equal(verifier_check_identity(f->p, f->evil_der, f->evil_der_len, &f->ek,
						 &f->ak_pub, hash), REF_EKCERT_UNTRUSTED);
	/* The certificate is not for this EK. */
	tpm_public(other, &other_pub);
	f->ek = other_pub;
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_EKCERT_UNTRUSTED);
	f->ek = saved;
	/* Not a certificate: malformed request, not an untrusted TPM. */
	buf = malloc(f->ek_der_len + 1);
	assert_non_null(buf);
	memcpy(buf, f->ek_der, f->ek_der_len);
	buf[f->ek_der_len] = 0;
	assert_int_equal(verifier_check_identity(f->p, buf, f->ek_der_len + 1, &f->ek,
						 &f->ak_pub, hash), REF_BAD_REQUEST);
	assert_int_equal(verifier_check_identity(f->p, buf, f->ek_der_len - 1, &f->ek,
						 &f->ak_pub, hash), REF_BAD_REQUEST);
	assert_int_equal(verifier_check_identity(f->p, buf, 0, &f->ek, &f->ak_pub, hash),
			 REF_BAD_REQUEST);
	free(buf);
	/* A policy whose CA path is gone refuses everything. */
	{
		struct policy *p = f->p;
		char saved_ca[sizeof(p->ek_ca)];

		memcpy(saved_ca, p->ek_ca, sizeof(saved_ca));
		tmpdir_file(&f->dir, "missing.pem", p->ek_ca);
		assert_int_not_equal(check(f, &f->ak_pub, NULL), REF_NONE);
		memcpy(p->ek_ca, saved_ca, sizeof(saved_ca));
	}
	assert_int_equal(check(f, &f->ak_pub, NULL), REF_NONE);
	EVP_PKEY_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_ok),
		cmocka_unit_test(test_ek_hash),
		cmocka_unit_test(test_ek_allow),
		cmocka_unit_test(test_ak_rules),
		cmocka_unit_test(test_ek_cert),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
