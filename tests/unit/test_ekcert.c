/* wire_ekcert_verify against a CA made here: self-signed root, intermediate,
 * and EK leaves shaped like TPM EK certificates (empty subject, critical
 * subjectAltName directoryName of TCG attributes, TCG EKU, keyEncipherment). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../../src/wire/attest.h"
#include "../../src/wire/key.h"
#include "../testlib.h"

struct ca {
	EVP_PKEY *root_key, *int_key;
	X509 *root, *inter;
};

/* A temporary directory and the files written into it. */
struct dir {
	char path[64];
	char files[4][128];
	int n;
};

struct fx {
	struct ca good, evil;          /* evil: same names, other keys */
	struct dir full, bundle, root_only, int_only, evil_dir, empty;
	EVP_PKEY *ek_key, *ecc_key;
	uint8_t *der, *ecc_der;        /* leaves issued by good.inter */
	size_t der_len, ecc_der_len;
	TPMT_PUBLIC ek, ecc_ek;
};

static X509_NAME *cn(const char *s)
{
	X509_NAME *n = X509_NAME_new();

	assert_non_null(n);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)s, -1, -1, 0), 1);
	return n;
}

/* subject is consumed. issuer NULL: self-signed. */
static X509 *cert_new(EVP_PKEY *pub, X509_NAME *subject, X509 *issuer, long serial)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	assert_int_equal(X509_set_subject_name(x, subject), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	X509_NAME_free(subject);
	return x;
}

static void cert_sign(X509 *x, EVP_PKEY *key)
{
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
}

/* bc: "critical,CA:TRUE" for a real CA, "critical,CA:FALSE" for a broken one. */
static void ca_make(struct ca *ca, const char *bc)
{
	ca->root_key = t_keygen("p256");
	ca->int_key = t_keygen("p256");
	ca->root = cert_new(ca->root_key, cn("swtpm-localca-rootca"), NULL, 1);
	t_cert_ext(ca->root, ca->root, NID_basic_constraints, "critical,CA:TRUE");
	t_cert_ext(ca->root, ca->root, NID_key_usage, "critical,keyCertSign,cRLSign");
	t_cert_ext(ca->root, ca->root, NID_subject_key_identifier, "hash");
	cert_sign(ca->root, ca->root_key);
	ca->inter = cert_new(ca->int_key, cn("swtpm-localca"), ca->root, 2);
	t_cert_ext(ca->inter, ca->root, NID_basic_constraints, bc);
	t_cert_ext(ca->inter, ca->root, NID_key_usage, "critical,keyCertSign,cRLSign");
	t_cert_ext(ca->inter, ca->root, NID_subject_key_identifier, "hash");
	t_cert_ext(ca->inter, ca->root, NID_authority_key_identifier, "keyid");
	cert_sign(ca->inter, ca->root_key);
}

static void ca_free(struct ca *ca)
{
	X509_free(ca->root);
	X509_free(ca->inter);
	EVP_PKEY_free(ca->root_key);
	EVP_PKEY_free(ca->int_key);
}

/* The TPM identity lives in a critical SAN directoryName (TCG EK
 * Credential Profile §3.2.9), the subject stays empty. */
static void add_tpm_san(X509 *x)
{
	static const char *const attrs[][2] = {
		{ "2.23.133.2.1", "id:00001014" },  /* tcg-at-tpmManufacturer */
		{ "2.23.133.2.2", "swtpm" },        /* tcg-at-tpmModel */
		{ "2.23.133.2.3", "id:20191023" },  /* tcg-at-tpmVersion */
	};
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	X509_NAME *dn = X509_NAME_new();

	assert_true(gens != NULL && g != NULL && dn != NULL);
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		ASN1_OBJECT *o = OBJ_txt2obj(attrs[i][0], 1);

		assert_int_equal(X509_NAME_add_entry_by_OBJ(dn, o, MBSTRING_UTF8,
				(const unsigned char *)attrs[i][1], -1, -1, 0), 1);
		ASN1_OBJECT_free(o);
	}
	GENERAL_NAME_set0_value(g, GEN_DIRNAME, dn);
	assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 1, X509V3_ADD_DEFAULT), 1);
	GENERAL_NAMES_free(gens);
}

/* subjectDirectoryAttributes (tpmSpecification), non-critical, which
 * OpenSSL 3.0 does not parse: it must be ignored, not rejected. */
static void add_subject_dir_attrs(X509 *x)
{
	static const uint8_t der[] = { 0x30, 0x00 };
	ASN1_OBJECT *o = OBJ_txt2obj("2.5.29.9", 1);
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e;

	assert_true(o != NULL && v != NULL && ASN1_OCTET_STRING_set(v, der, sizeof(der)) == 1);
	e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, v);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	ASN1_OBJECT_free(o);
	ASN1_OCTET_STRING_free(v);
}

static uint8_t *ek_cert(const struct ca *ca, EVP_PKEY *ek, const char *ku, size_t *len)
{
	X509 *x = cert_new(ek, X509_NAME_new(), ca->inter, 7);
	uint8_t *der = NULL;
	int n;

	t_cert_ext(x, ca->inter, NID_basic_constraints, "critical,CA:FALSE");
	t_cert_ext(x, ca->inter, NID_key_usage, ku);
	t_cert_ext(x, ca->inter, NID_ext_key_usage, "2.23.133.8.1"); /* tcg-kp-EKCertificate */
	t_cert_ext(x, ca->inter, NID_authority_key_identifier, "keyid");
	add_tpm_san(x);
	add_subject_dir_attrs(x);
	cert_sign(x, ca->int_key);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_free(x);
	return der;
}

static void dir_make(struct dir *d)
{
	snprintf(d->path, sizeof(d->path), "%s/a11-ekca.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(d->path));
	d->n = 0;
}

static FILE *dir_open(struct dir *d, const char *name)
{
	char path[sizeof(d->files[0])];
	FILE *f;

	assert_true(d->n < 4);
	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	memcpy(d->files[d->n], path, sizeof(path));
	f = fopen(d->files[d->n++], "w");
	assert_non_null(f);
	return f;
}

/* name gets the certificates a and b (b may be NULL). */
static void dir_put(struct dir *d, const char *name, X509 *a, X509 *b)
{
	FILE *f = dir_open(d, name);

	assert_int_equal(PEM_write_X509(f, a), 1);
	if (b != NULL)
		assert_int_equal(PEM_write_X509(f, b), 1);
	assert_int_equal(fclose(f), 0);
}

static void dir_remove(struct dir *d)
{
	for (int i = 0; i < d->n; i++)
		unlink(d->files[i]);
	rmdir(d->path);
}

static void ek_public(EVP_PKEY *key, TPMT_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	assert_int_equal(wire_pub_from_evp(key, pub), A11_OK);
	pub->nameAlg = TPM2_ALG_SHA256;
}

static void stores_make(struct fx *f)
{
	FILE *fp;

	dir_make(&f->full);
	dir_put(&f->full, "root.pem", f->good.root, NULL);
	dir_put(&f->full, "intermediate.pem", f->good.inter, NULL);
	/* One bundle, plus files the loader must skip or ignore. */
	dir_make(&f->bundle);
	dir_put(&f->bundle, "chain.pem", f->good.inter, f->good.root);
	fp = dir_open(&f->bundle, "ca-key.pem");
	assert_int_equal(PEM_write_PrivateKey(fp, f->good.root_key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	fp = dir_open(&f->bundle, "README");
	fputs("not a certificate\n", fp);
	fclose(fp);
	dir_put(&f->bundle, "root.pem", f->good.root, NULL); /* a duplicate */
	dir_make(&f->root_only);
	dir_put(&f->root_only, "root.pem", f->good.root, NULL);
	dir_make(&f->int_only);
	dir_put(&f->int_only, "intermediate.pem", f->good.inter, NULL);
	dir_make(&f->evil_dir);
	dir_put(&f->evil_dir, "root.pem", f->evil.root, NULL);
	dir_put(&f->evil_dir, "intermediate.pem", f->evil.inter, NULL);
	dir_make(&f->empty);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ca_make(&f->good, "critical,CA:TRUE");
	ca_make(&f->evil, "critical,CA:TRUE");
	f->ek_key = t_keygen("rsa2048");
	f->ecc_key = t_keygen("p384");
	f->der = ek_cert(&f->good, f->ek_key, "critical,keyEncipherment", &f->der_len);
	f->ecc_der = ek_cert(&f->good, f->ecc_key, "critical,keyAgreement", &f->ecc_der_len);
	ek_public(f->ek_key, &f->ek);
	ek_public(f->ecc_key, &f->ecc_ek);
	stores_make(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct dir *dirs[] = { &f->full, &f->bundle, &f->root_only, &f->int_only,
			       &f->evil_dir, &f->empty };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		dir_remove(dirs[i]);
	ca_free(&f->good);
	ca_free(&f->evil);
	EVP_PKEY_free(f->ek_key);
	EVP_PKEY_free(f->ecc_key);
	OPENSSL_free(f->der);
	OPENSSL_free(f->ecc_der);
	free(f);
	return 0;
}

static void test_ekcert_ok(void **state)
{
	struct fx *f = *state;

	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->full.path, &f->ek), A11_OK);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->full.path, NULL), A11_OK);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->bundle.path, &f->ek), A11_OK);
	/* A PEM file rather than a directory. */
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->bundle.files[0], &f->ek), A11_OK);
	assert_int_equal(wire_ekcert_verify(f->ecc_der, f->ecc_der_len, f->full.path, &f->ecc_ek),
			 A11_OK);
}

static void test_ekcert_untrusted(void **state)
{
	struct fx *f = *state;

	/* Same CA names, other keys: the names match, the signatures do not. */
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->evil_dir.path, &f->ek),
			 A11_ERR_EKCERT);
	/* The chain must reach a self-signed root in the store. */
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->root_only.path, &f->ek),
			 A11_ERR_EKCERT);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->int_only.path, &f->ek),
			 A11_ERR_EKCERT);
}

/* An "intermediate" without CA:TRUE cannot issue, even when trusted. */
static void test_ekcert_not_a_ca(void **state)
{
	struct fx *f = *state;
	struct ca bad;
	struct dir d;
	uint8_t *der;
	size_t len;

	ca_make(&bad, "critical,CA:FALSE");
	der = ek_cert(&bad, f->ek_key, "critical,keyEncipherment", &len);
	dir_make(&d);
	dir_put(&d, "chain.pem", bad.root, bad.inter);
	assert_int_equal(wire_ekcert_verify(der, len, d.path, &f->ek), A11_ERR_EKCERT);
	dir_remove(&d);
	OPENSSL_free(der);
	ca_free(&bad);
}

static void test_ekcert_key(void **state)
{
	struct fx *f = *state;
	TPMT_PUBLIC other;
	EVP_PKEY *k = t_keygen("rsa2048");

	ek_public(k, &other);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->full.path, &other),
			 A11_ERR_EKCERT_KEY);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->full.path, &f->ecc_ek),
			 A11_ERR_EKCERT_KEY);
	assert_int_equal(wire_ekcert_verify(f->ecc_der, f->ecc_der_len, f->full.path, &f->ek),
			 A11_ERR_EKCERT_KEY);
	EVP_PKEY_free(k);
}

static void test_ekcert_parse(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(f->der_len + 1);
	uint8_t noise[4096];

	assert_non_null(buf);
	/* Exactly cut bytes on the heap, so ASan catches any over-read. */
	for (size_t cut = 1; cut < f->der_len; cut++) {
		uint8_t *p = malloc(cut);

		assert_non_null(p);
		memcpy(p, f->der, cut);
		assert_int_equal(wire_ekcert_verify(p, cut, f->full.path, &f->ek), A11_ERR_PARSE);
		free(p);
	}
	memcpy(buf, f->der, f->der_len);
	buf[f->der_len] = 0;
	assert_int_equal(wire_ekcert_verify(buf, f->der_len + 1, f->full.path, &f->ek),
			 A11_ERR_PARSE);
	assert_int_equal(wire_ekcert_verify(buf, 0, f->full.path, &f->ek), A11_ERR_PARSE);
	assert_int_equal(RAND_bytes(noise, sizeof(noise)), 1);
	assert_int_equal(wire_ekcert_verify(noise, sizeof(noise), f->full.path, &f->ek),
			 A11_ERR_PARSE);
	free(buf);
}

static void test_ekcert_bad_ca_path(void **state)
{
	struct fx *f = *state;
	struct dir d;
	FILE *fp;

	/* A damaged certificate makes the whole store unusable, not skipped. */
	dir_make(&d);
	dir_put(&d, "root.pem", f->good.root, f->good.inter);
	fp = dir_open(&d, "broken.pem");
	fputs("-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n", fp);
	fclose(fp);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_ERR_ARG);
	dir_remove(&d);

	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, f->empty.path, &f->ek),
			 A11_ERR_ARG);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, "/nonexistent/a11", &f->ek),
			 A11_ERR_ARG);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, NULL, &f->ek), A11_ERR_ARG);
	assert_int_equal(wire_ekcert_verify(NULL, 1, f->full.path, &f->ek), A11_ERR_ARG);
}

/* Rewrite an existing file of d with the certificates a and b. */
static void file_rewrite(const char *path, X509 *a, X509 *b)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, a), 1);
	assert_int_equal(PEM_write_X509(f, b), 1);
	assert_int_equal(fclose(f), 0);
}

/* The parsed store is kept between checks (src/wire/ekcert.c), yet the
 * next check sees every change of the CA path: a file rewritten in place
 * with another CA, a file added, a file removed, a single-file path. */
static void test_ekcert_store_follows_changes(void **state)
{
	struct fx *f = *state;
	struct dir d;

	dir_make(&d);
	dir_put(&d, "ca.pem", f->good.root, f->good.inter);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_OK);
	file_rewrite(d.files[0], f->evil.root, f->evil.inter);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_ERR_EKCERT);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_ERR_EKCERT);
	dir_put(&d, "good.pem", f->good.root, f->good.inter);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_OK);
	assert_int_equal(unlink(d.files[1]), 0);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_ERR_EKCERT);
	/* The file itself as the path. */
	file_rewrite(d.files[0], f->good.root, f->good.inter);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.files[0], &f->ek), A11_OK);
	file_rewrite(d.files[0], f->evil.root, f->evil.inter);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.files[0], &f->ek),
			 A11_ERR_EKCERT);
	assert_int_equal(unlink(d.files[0]), 0);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_ERR_ARG);
	assert_int_equal(rmdir(d.path), 0);
	assert_int_equal(wire_ekcert_verify(f->der, f->der_len, d.path, &f->ek), A11_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ekcert_ok),
		cmocka_unit_test(test_ekcert_untrusted),
		cmocka_unit_test(test_ekcert_not_a_ca),
		cmocka_unit_test(test_ekcert_key),
		cmocka_unit_test(test_ekcert_parse),
		cmocka_unit_test(test_ekcert_bad_ca_path),
		cmocka_unit_test(test_ekcert_store_follows_changes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
