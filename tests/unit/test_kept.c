/* What the broker keeps between requests: the bounded LRU itself
 * (src/common/kept.c), the EK hashes (src/broker/verifier.c), the
 * credentials' chains as DER (src/broker/grant.c), each answering only for
 * what it was computed from, the keys made from TPM public areas and the
 * decoder contexts for private keys (src/wire/key.c). */
#include <stdlib.h>
#include <openssl/x509.h>

#include "../../src/broker/verifier.h"
#include "../../src/common/kept.h"
#include "../../src/wire/key.h"
#include "flow_fixture.h"

static void key_n(unsigned i, uint8_t key[32])
{
	memset(key, 0x5A, 32);
	memcpy(key, &i, sizeof(i));
}

static bool has(struct kept *k, unsigned i, uint8_t want)
{
	uint8_t key[32], *v;
	size_t len = 0;
	bool ok;

	key_n(i, key);
	v = kept_get(k, key, &len);
	ok = v != NULL && len == 1 && v[0] == want;
	free(v);
	return ok;
}

static void put(struct kept *k, unsigned i, uint8_t val)
{
	uint8_t key[32];

	key_n(i, key);
	kept_put(k, key, &val, 1);
}

static void test_hit_miss_replace(void **state)
{
	static struct kept k = KEPT_INIT(4);

	(void)state;
	assert_false(has(&k, 1, 7));
	put(&k, 1, 7);
	assert_true(has(&k, 1, 7));
	assert_false(has(&k, 2, 7));
	put(&k, 1, 8);                  /* replaced, not added */
	assert_true(has(&k, 1, 8));
	for (unsigned i = 2; i <= 4; i++)
		put(&k, i, (uint8_t)i);
	assert_true(has(&k, 1, 8));     /* four fit */
}

/* Full: the least recently used goes, whatever the order of insertion. */
static void test_lru_bound(void **state)
{
	static struct kept k = KEPT_INIT(3);

	(void)state;
	put(&k, 1, 1);
	put(&k, 2, 2);
	put(&k, 3, 3);
	assert_true(has(&k, 1, 1));     /* 2 is now the least recently used */
	put(&k, 4, 4);
	assert_false(has(&k, 2, 2));
	assert_true(has(&k, 1, 1) && has(&k, 3, 3) && has(&k, 4, 4));
}

/* The kept EK hash is the hash of that EK: the same SPKI digest as
 * computed afresh, and another EK never gets it. */
static void test_ek_hash(void **state)
{
	struct keycert ca;
	struct simhost *a, *b;
	uint8_t ha[32], ha2[32], hb[32], spki[32];
	uint8_t *der = NULL;
	EVP_PKEY *k = NULL;
	int n;

	(void)state;
	keycert_ca(&ca, "kept test EK CA");
	a = host_new(SIMHOST_EK_P256, &ca);
	b = host_new(SIMHOST_EK_P384, &ca);
	assert_int_equal(verifier_ek_hash(&simhost_public(a, SIMHOST_EK)->publicArea, ha), A11_OK);
	assert_int_equal(verifier_ek_hash(&simhost_public(b, SIMHOST_EK)->publicArea, hb), A11_OK);
	assert_int_equal(verifier_ek_hash(&simhost_public(a, SIMHOST_EK)->publicArea, ha2), A11_OK);
	assert_memory_equal(ha, ha2, 32);
	assert_memory_not_equal(ha, hb, 32);
	assert_int_equal(wire_pub_to_evp(&simhost_public(b, SIMHOST_EK)->publicArea, &k), A11_OK);
	assert_true((n = i2d_PUBKEY(k, &der)) > 0);
	assert_int_equal(EVP_Digest(der, (size_t)n, spki, NULL, EVP_sha256(), NULL), 1);
	assert_memory_equal(hb, spki, 32);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	simhost_free(a);
	simhost_free(b);
	keycert_free(&ca);
}

/* Private keys through kept decoder contexts: each decode is its own key,
 * whatever the one before was (another type, a failure), in PKCS#8 and in
 * the key type's own DER. */
static void test_private_decoders(void **state)
{
	static const char *const kinds[] = { "p256", "rsa2048", "p384" };
	const uint8_t junk[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	EVP_PKEY *got = NULL;

	(void)state;
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			EVP_PKEY *k = t_keygen(kinds[i]);
			uint8_t *der = NULL;
			PKCS8_PRIV_KEY_INFO *p8 = round ? NULL : EVP_PKEY2PKCS8(k);
			int n = round ? i2d_PrivateKey(k, &der) : i2d_PKCS8_PRIV_KEY_INFO(p8, &der);


			assert_true(n > 0);
			assert_int_equal(wire_private_from_der(der, (size_t)n, &got), A11_OK);
			assert_int_equal(EVP_PKEY_eq(k, got), 1);
			EVP_PKEY_free(got);
			got = NULL;
			assert_int_not_equal(wire_private_from_der(der, (size_t)n - 1, &got), A11_OK);
			assert_null(got);
			assert_int_not_equal(wire_private_from_der(junk, sizeof(junk), &got), A11_OK);
			OPENSSL_free(der);
			PKCS8_PRIV_KEY_INFO_free(p8);
			EVP_PKEY_free(k);
		}
}

static void tpm_pub_of(EVP_PKEY *k, TPMT_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	assert_int_equal(wire_pub_from_evp(k, pub), A11_OK);
	pub->nameAlg = TPM2_ALG_SHA256;
	pub->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	pub->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	pub->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

/* Keys made from TPM public areas are kept by their public area: each is
 * its own key; a point off the curve is refused every time; a key the map
 * let go of stays its holder's. */
static void test_keys_made(void **state)
{
	EVP_PKEY *a = t_keygen("p256"), *b = t_keygen("p256"), *ga = NULL, *ga2 = NULL, *gb = NULL;
	TPMT_PUBLIC pa, pb;

	(void)state;
	tpm_pub_of(a, &pa);
	tpm_pub_of(b, &pb);
	assert_int_equal(wire_pub_to_evp(&pa, &ga), A11_OK);
	assert_int_equal(wire_pub_to_evp(&pb, &gb), A11_OK);
	assert_int_equal(wire_pub_to_evp(&pa, &ga2), A11_OK);
	assert_int_equal(EVP_PKEY_eq(a, ga), 1);
	assert_int_equal(EVP_PKEY_eq(a, ga2), 1);
	assert_int_equal(EVP_PKEY_eq(b, gb), 1);
	EVP_PKEY_free(ga2);
	EVP_PKEY_free(gb);
	gb = NULL;
	pb.unique.ecc.y.buffer[31] ^= 1;  /* off the curve */
	for (int i = 0; i < 2; i++) {
		assert_int_not_equal(wire_pub_to_evp(&pb, &gb), A11_OK);
		assert_null(gb);
	}
	/* A thousand other keys later, a's entry is gone; ga is still a. */
	for (int i = 0; i < 1100; i++) {
		EVP_PKEY *k = t_keygen("p256"), *g = NULL;

		tpm_pub_of(k, &pb);
		assert_int_equal(wire_pub_to_evp(&pb, &g), A11_OK);
		EVP_PKEY_free(g);
		EVP_PKEY_free(k);
	}
	assert_int_equal(EVP_PKEY_eq(a, ga), 1);
	EVP_PKEY_free(ga);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

/* The release's chain (DER) as the credential's PEM says, now. */
static void released_chain_is(struct flow_fixture *f, const char *pem)
{
	struct flow_exchange x = { .credential = "web" };
	struct flow_outcome *o = calloc(1, sizeof(*o));
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *want = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	uint8_t *der = NULL;
	int n;

	assert_true(o != NULL && want != NULL);
	assert_true((n = i2d_X509(want, &der)) > 0);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	assert_int_equal(o->rel.cert_count, 1);
	assert_int_equal(o->rel.cert_len[0], (size_t)n);
	assert_memory_equal(o->rel.certs[0], der, (size_t)n);
	OPENSSL_free(der);
	X509_free(want);
	BIO_free(b);
	flow_outcome_clear(o);
	free(o);
}

static char *chain_of(struct flow_fixture *f)
{
	struct store_cred c;
	char *pem;

	assert_int_equal(store_cred_get(f->b.store, "web", &c), A11_OK);
	pem = strdup(c.chain_pem);
	assert_non_null(pem);
	store_cred_clear(&c);
	return pem;
}

/* A credential replaced under the same name: its next release carries the
 * new chain, not the one kept for the old. */
static void test_chain_follows_credential(void **state)
{
	struct flow_fixture *f = *state;
	char *first, *second;

	flow_fixture_add(f, "web", CRED_REPOSITORY, NULL, NULL);
	first = chain_of(f);
	released_chain_is(f, first);
	released_chain_is(f, first);    /* the kept DER */
	flow_fixture_add(f, "web", CRED_REPOSITORY, NULL, NULL);
	second = chain_of(f);
	assert_string_not_equal(first, second);
	released_chain_is(f, second);
	free(first);
	free(second);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_miss_replace),
		cmocka_unit_test(test_lru_bound),
		cmocka_unit_test(test_ek_hash),
		cmocka_unit_test(test_private_decoders),
		cmocka_unit_test(test_keys_made),
		cmocka_unit_test_setup_teardown(test_chain_follows_credential, flow_fixture_setup,
						flow_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
