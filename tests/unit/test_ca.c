/* Leaf issuance (src/broker/ca.c) against issuers made here: P-256 and
 * RSA-2048 self-signed CAs, P-256 and RSA-2048 subject keys. Leaves must
 * chain with X509_verify_cert (strict mode, SSL client and server
 * purposes) and carry exactly the requested names, validity and extensions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "../../src/broker/ca.h"
#include "../testlib.h"

#define SAN "spiffe://attest11.example/workload/web"

struct fx {
	EVP_PKEY *ec_ca_key, *rsa_ca_key, *ec_leaf_key, *rsa_leaf_key;
	X509 *ec_ca, *rsa_ca, *bare_ca;    /* bare: no subjectKeyIdentifier */
	time_t now;
};

static X509 *make_ca(EVP_PKEY *key, const char *cn, time_t now, bool ski)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
						    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), now - 86400));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), now + 30 * 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	t_cert_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
	t_cert_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (ski)
		t_cert_ext(x, x, NID_subject_key_identifier, "hash");
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->now = time(NULL);
	fx->ec_ca_key = t_keygen("p256");
	fx->rsa_ca_key = t_keygen("rsa2048");
	fx->ec_leaf_key = t_keygen("p256");
	fx->rsa_leaf_key = t_keygen("rsa2048");
	fx->ec_ca = make_ca(fx->ec_ca_key, "attest11 test CA (P-256)", fx->now, true);
	fx->rsa_ca = make_ca(fx->rsa_ca_key, "attest11 test CA (RSA)", fx->now, true);
	fx->bare_ca = make_ca(fx->ec_ca_key, "attest11 test CA (no SKI)", fx->now, false);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	X509_free(fx->ec_ca);
	X509_free(fx->rsa_ca);
	X509_free(fx->bare_ca);
	EVP_PKEY_free(fx->ec_ca_key);
	EVP_PKEY_free(fx->rsa_ca_key);
	EVP_PKEY_free(fx->ec_leaf_key);
	EVP_PKEY_free(fx->rsa_leaf_key);
	free(fx);
	return 0;
}

static struct ca_request request(struct fx *fx, EVP_PKEY *subject)
{
	struct ca_request req = {
		.subject_key = subject,
		.common_name = "web",
		.san_uri = SAN,
		.not_before = (int64_t)fx->now - 60,
		.not_after = (int64_t)fx->now + 3600,
	};

	return req;
}

/* X509_V_OK or the verification error. */
static int chain(X509 *ca, X509 *leaf, int purpose, bool strict)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int err;

	assert_true(store != NULL && ctx != NULL);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	if (strict)
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
	err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

static void check_names(X509 *leaf, X509 *ca)
{
	char cn[64];
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn;
	int crit = -1;

	assert_int_equal(X509_get_version(leaf), X509_VERSION_3);
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName,
						   cn, sizeof(cn)), 3);
	assert_string_equal(cn, "web");
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)), 0);
	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	assert_non_null(sans);
	assert_int_equal(crit, 0);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
	gn = sk_GENERAL_NAME_value(sans, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_int_equal(ASN1_STRING_length(gn->d.uniformResourceIdentifier), strlen(SAN));
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), SAN, strlen(SAN));
	GENERAL_NAMES_free(sans);
}

static void check_usage(X509 *leaf, bool rsa)
{
	BASIC_CONSTRAINTS *bc;
	ASN1_BIT_STRING *ku;
	int crit = -1;

	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_int_equal(bc->ca, 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(leaf), 0);
	ku = X509_get_ext_d2i(leaf, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	ASN1_BIT_STRING_free(ku);
	assert_int_equal(X509_get_key_usage(leaf),
			 KU_DIGITAL_SIGNATURE | (rsa ? KU_KEY_ENCIPHERMENT : 0));
	assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);
}

static void check_key_ids(X509 *leaf, X509 *ca)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(leaf);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
	const ASN1_OCTET_STRING *ca_ski = X509_get0_subject_key_id(ca);

	assert_int_equal(X509_pubkey_digest(leaf, EVP_sha1(), md, &md_len), 1);
	assert_non_null(ski);
	assert_int_equal(ASN1_STRING_length(ski), md_len);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, md_len);
	assert_non_null(aki);
	if (ca_ski == NULL) {
		assert_int_equal(X509_pubkey_digest(ca, EVP_sha1(), md, &md_len), 1);
		assert_int_equal(ASN1_STRING_length(aki), md_len);
		assert_memory_equal(ASN1_STRING_get0_data(aki), md, md_len);
	} else {
		assert_int_equal(ASN1_OCTET_STRING_cmp(aki, ca_ski), 0);
	}
}

static void issue_and_check(struct fx *fx, EVP_PKEY *ca_key, X509 *ca, EVP_PKEY *subject)
{
	struct ca_request req = request(fx, subject);
	bool rsa = EVP_PKEY_get_base_id(subject) == EVP_PKEY_RSA;
	X509 *leaf = NULL;
	char serial[41];
	EVP_PKEY *pub;

	assert_int_equal(ca_issue(ca_key, ca, &req, &leaf, serial), A11_OK);
	assert_non_null(leaf);
	assert_int_equal(chain(ca, leaf, X509_PURPOSE_SSL_CLIENT, true), X509_V_OK);
	assert_int_equal(chain(ca, leaf, X509_PURPOSE_SSL_SERVER, true), X509_V_OK);
	assert_int_equal(X509_get_signature_nid(leaf),
			 EVP_PKEY_get_base_id(ca_key) == EVP_PKEY_RSA ? NID_sha256WithRSAEncryption
								      : NID_ecdsa_with_SHA256);
	pub = X509_get0_pubkey(leaf);
	assert_int_equal(EVP_PKEY_eq(pub, subject), 1);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf), (time_t)req.not_before), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf), (time_t)req.not_after), 0);
	check_names(leaf, ca);
	check_usage(leaf, rsa);
	check_key_ids(leaf, ca);
	X509_free(leaf);
}

static void test_issue_matrix(void **state)
{
	struct fx *fx = *state;

	issue_and_check(fx, fx->ec_ca_key, fx->ec_ca, fx->ec_leaf_key);
	issue_and_check(fx, fx->ec_ca_key, fx->ec_ca, fx->rsa_leaf_key);
	issue_and_check(fx, fx->rsa_ca_key, fx->rsa_ca, fx->ec_leaf_key);
	issue_and_check(fx, fx->rsa_ca_key, fx->rsa_ca, fx->rsa_leaf_key);
}

/* An issuer without subjectKeyIdentifier still yields an authority key id
 * (computed from its key) and a chaining leaf. */
static void test_issuer_without_ski(void **state)
{
	struct fx *fx = *state;
	struct ca_request req = request(fx, fx->ec_leaf_key);
	X509 *leaf = NULL;
	char serial[41];

	assert_int_equal(ca_issue(fx->ec_ca_key, fx->bare_ca, &req, &leaf, serial), A11_OK);
	check_key_ids(leaf, fx->bare_ca);
	assert_int_equal(chain(fx->bare_ca, leaf, X509_PURPOSE_SSL_CLIENT, false), X509_V_OK);
	X509_free(leaf);
}

static void test_validity(void **state)
{
	struct fx *fx = *state;
	struct ca_request req = request(fx, fx->ec_leaf_key);
	X509 *leaf = NULL;
	char serial[41];
	struct tm tm;
	time_t ca_end;

	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(fx->ec_ca), &tm), 1);
	ca_end = timegm(&tm);
	req.not_after = (int64_t)ca_end;   /* up to the issuer's end is fine */
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, serial), A11_OK);
	X509_free(leaf);
	req.not_after = (int64_t)ca_end + 1;
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, serial), A11_ERR_ARG);
	assert_null(leaf);
	req.not_after = req.not_before;
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, serial), A11_ERR_ARG);
	req.not_after = req.not_before - 1;
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, serial), A11_ERR_ARG);
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'F')
			*s = (char)(*s - 'A' + 'a');
}

static void test_serials(void **state)
{
	struct fx *fx = *state;
	struct ca_request req = request(fx, fx->ec_leaf_key);
	static char seen[100][41];

	for (int i = 0; i < 100; i++) {
		X509 *leaf = NULL;
		BIGNUM *bn;
		char *hex;

		assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, seen[i]), A11_OK);
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
		assert_non_null(bn);
		assert_false(BN_is_negative(bn));
		assert_false(BN_is_zero(bn));
		assert_true(BN_num_bits(bn) <= 127);
		hex = BN_bn2hex(bn);
		lower(hex);
		/* BN_bn2hex pads to whole bytes; ours has no leading zero at all. */
		assert_string_equal(hex[0] == '0' ? hex + 1 : hex, seen[i]);
		assert_true(seen[i][0] != '0' && strlen(seen[i]) <= 32);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(seen[k], seen[i]);
		OPENSSL_free(hex);
		BN_free(bn);
		X509_free(leaf);
	}
}

static void expect_arg(struct fx *fx, const struct ca_request *req)
{
	X509 *leaf = NULL;
	char serial[41];

	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, req, &leaf, serial), A11_ERR_ARG);
	assert_null(leaf);
}

static void test_bad_san(void **state)
{
	struct fx *fx = *state;
	struct ca_request req = request(fx, fx->ec_leaf_key);
	static const char *const bad[] = {
		"", "spiffe://a,b", "spiffe://a\nb", "spiffe://a\rb", "spiffe://a b",
		"no-scheme", "://x", "1x:y", "spiffe://caf\xc3\xa9",
		"URI:spiffe://a,URI:spiffe://b",
	};
	char long_uri[300];
	X509 *leaf = NULL;
	char serial[41];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.san_uri = bad[i];
		expect_arg(fx, &req);
	}
	memset(long_uri, 'a', sizeof(long_uri));
	memcpy(long_uri, "urn:", 4);
	long_uri[256] = '\0';
	req.san_uri = long_uri;
	expect_arg(fx, &req);
	long_uri[255] = '\0';   /* exactly 255 */
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, serial), A11_OK);
	X509_free(leaf);
}

static void test_bad_args(void **state)
{
	struct fx *fx = *state;
	struct ca_request req = request(fx, fx->ec_leaf_key);
	char long_cn[80];
	X509 *leaf = NULL;
	char serial[41];

	/* The RSA CA's certificate with the EC CA's key. */
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->rsa_ca, &req, &leaf, serial), A11_ERR_ARG);
	assert_null(leaf);
	assert_int_equal(ca_issue(fx->rsa_ca_key, fx->ec_ca, &req, &leaf, serial), A11_ERR_ARG);
	req.common_name = "";
	expect_arg(fx, &req);
	memset(long_cn, 'c', sizeof(long_cn) - 1);
	long_cn[sizeof(long_cn) - 1] = '\0';
	req.common_name = long_cn;
	expect_arg(fx, &req);
	req.common_name = "bad\xff";
	expect_arg(fx, &req);
	req = request(fx, NULL);
	expect_arg(fx, &req);
	req = request(fx, fx->ec_leaf_key);
	assert_int_equal(ca_issue(NULL, fx->ec_ca, &req, &leaf, serial), A11_ERR_ARG);
	assert_int_equal(ca_issue(fx->ec_ca_key, NULL, &req, &leaf, serial), A11_ERR_ARG);
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, NULL, &leaf, serial), A11_ERR_ARG);
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, NULL, serial), A11_ERR_ARG);
	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, NULL), A11_ERR_ARG);
	assert_null(leaf);
}

/* A leaf certificate is not an issuer. */
static void test_issuer_not_ca(void **state)
{
	struct fx *fx = *state;
	struct ca_request req = request(fx, fx->ec_leaf_key);
	X509 *leaf = NULL, *leaf2 = NULL;
	char serial[41];

	assert_int_equal(ca_issue(fx->ec_ca_key, fx->ec_ca, &req, &leaf, serial), A11_OK);
	req.subject_key = fx->rsa_leaf_key;
	assert_int_equal(ca_issue(fx->ec_leaf_key, leaf, &req, &leaf2, serial), A11_ERR_ARG);
	assert_null(leaf2);
	X509_free(leaf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_matrix),
		cmocka_unit_test(test_issuer_without_ski),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_bad_san),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_issuer_not_ca),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
