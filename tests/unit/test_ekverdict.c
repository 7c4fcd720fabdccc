/* Kept EK certificate verdicts (src/wire/ekverdict.c, through
 * wire_ekcert_verify): a kept acceptance answers only for its certificate,
 * its EK and its CA path as it stands, within the validity of its whole
 * chain; refusals are never kept; at most WIRE_EKCERT_VERDICTS, least
 * recently used out first. */
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "../../src/wire/attest.h"
#include "../../src/wire/ekverdict.h"
#include "simhost_fixture.h"
#include "tmpdir_fixture.h"

struct fx {
	struct keycert ca, other_ca;
	struct simhost *h, *h2;
	struct tmpdir d;
	char ca_path[PATH_MAX];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	keycert_ca(&f->ca, "verdict test EK CA");
	keycert_ca(&f->other_ca, "verdict test EK CA");  /* same name, other key */
	f->h = host_new(SIMHOST_EK_P256, &f->ca);
	f->h2 = host_new(SIMHOST_EK_P256, &f->ca);
	tmpdir_make(&f->d);
	tmpdir_file(&f->d, "ekca.pem", f->ca_path);
	cert_write(f->ca.cert, f->ca_path);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tmpdir_remove(&f->d);
	simhost_free(f->h);
	simhost_free(f->h2);
	keycert_free(&f->ca);
	keycert_free(&f->other_ca);
	free(f);
	return 0;
}

static const TPMT_PUBLIC *ek_of(const struct simhost *h)
{
	return &simhost_public(h, SIMHOST_EK)->publicArea;
}

static a11_err check(const struct fx *f, const struct simhost *h, const TPMT_PUBLIC *ek)
{
	size_t len;
	const uint8_t *der = simhost_ek_cert(h, &len);

	return wire_ekcert_verify(der, len, f->ca_path, ek);
}

static void test_hit(void **state)
{
	struct fx *f = *state;
	unsigned long hits;

	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_OK);
	hits = wire_ekcert_kept_hits();
	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_OK);
	assert_int_equal(wire_ekcert_kept_hits(), hits + 1);
	/* Without an EK to compare, nothing is kept or answered. */
	assert_int_equal(check(f, f->h, NULL), A11_OK);
	assert_int_equal(wire_ekcert_kept_hits(), hits + 1);
}

/* A kept acceptance of h's certificate says nothing of another EK. */
static void test_key_has_ek(void **state)
{
	struct fx *f = *state;

	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_OK);
	assert_int_equal(check(f, f->h, ek_of(f->h2)), A11_ERR_EKCERT_KEY);
}

/* ... nor of another certificate for the same EK: here h's own, signed
 * again by a key the CA path does not hold. */
static void test_key_has_cert(void **state)
{
	struct fx *f = *state;
	size_t len;
	const uint8_t *der = simhost_ek_cert(f->h, &len), *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	uint8_t *forged = NULL;
	int n;
	unsigned long hits;

	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_OK);
	assert_non_null(x);
	assert_true(X509_sign(x, f->other_ca.key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509(x, &forged)) > 0);
	hits = wire_ekcert_kept_hits();
	/* Refused twice: a refusal is never kept, nor answered from a kept one. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(wire_ekcert_verify(forged, (size_t)n, f->ca_path, ek_of(f->h)),
				 A11_ERR_EKCERT);
	assert_int_equal(wire_ekcert_kept_hits(), hits);
	OPENSSL_free(forged);
	X509_free(x);
}

/* A CA path that now holds another CA: what was accepted is checked again. */
static void test_ca_change(void **state)
{
	struct fx *f = *state;
	char moved[PATH_MAX];

	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_OK);
	tmpdir_file(&f->d, "ekca.old", moved);
	assert_int_equal(rename(f->ca_path, moved), 0);
	cert_write(f->other_ca.cert, f->ca_path);
	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_ERR_EKCERT);
	assert_int_equal(rename(moved, f->ca_path), 0);
	assert_int_equal(check(f, f->h, ek_of(f->h)), A11_OK);
}

/* A kept acceptance lasts while every certificate of its chain is valid:
 * here the CA's notAfter (an hour from now) comes before the EK
 * certificate's (a year). */
static void test_validity(void **state)
{
	struct fx *f = *state;
	struct keycert short_ca = { .key = t_keygen("p256") };
	struct simhost *h;
	size_t len;
	const uint8_t *der;
	uint8_t print[32], key[32];
	time_t end;
	struct tm tm;

	short_ca.cert = cert_issue(short_ca.key, "short EK CA", NULL, true);
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(short_ca.cert), 3600));
	assert_true(X509_sign(short_ca.cert, short_ca.key, EVP_sha256()) > 0);
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(short_ca.cert), &tm), 1);
	end = timegm(&tm);
	h = host_new(SIMHOST_EK_P256, &short_ca);
	der = simhost_ek_cert(h, &len);
	cert_write(short_ca.cert, f->ca_path);
	assert_int_equal(wire_ekcert_verify(der, len, f->ca_path, ek_of(h)), A11_OK);
	assert_true(ekcert_fingerprint(f->ca_path, print));
	assert_true(ekverdict_key(der, len, print, ek_of(h), key));
	assert_true(ekverdict_find(key, time(NULL)));
	assert_true(ekverdict_find(key, end));
	assert_false(ekverdict_find(key, end + 1));
	/* ... and not before the latest notBefore (the certificates' an hour ago). */
	assert_false(ekverdict_find(key, time(NULL) - 7200));
	simhost_free(h);
	keycert_free(&short_ca);
}

static void key_n(unsigned i, uint8_t key[32])
{
	memset(key, 0xA5, 32);
	memcpy(key, &i, sizeof(i));
}

/* At most WIRE_EKCERT_VERDICTS; the least recently used goes first. */
static void test_lru_bound(void **state)
{
	uint8_t key[32];
	time_t now = time(NULL);

	(void)state;
	for (unsigned i = 0; i < WIRE_EKCERT_VERDICTS; i++) {
		key_n(i, key);
		ekverdict_put(key, now - 10, now + 3600);
	}
	key_n(0, key);
	assert_true(ekverdict_find(key, now));  /* 0 used again: 1 is now the oldest */
	key_n(WIRE_EKCERT_VERDICTS, key);
	ekverdict_put(key, now - 10, now + 3600);
	assert_true(ekverdict_find(key, now));
	key_n(1, key);
	assert_false(ekverdict_find(key, now));
	for (unsigned i = 2; i <= WIRE_EKCERT_VERDICTS; i++) {
		key_n(i, key);
		assert_true(ekverdict_find(key, now));
	}
	key_n(0, key);
	assert_true(ekverdict_find(key, now));
}

/* The certificate's bytes are the host's: a certificate with trailing
 * bytes followed by another CA fingerprint and EK must not hash like an
 * accepted (certificate, CA, EK) whose EK ends in those bytes. ek1's RSA
 * modulus (the last field marshalled) is ca2 || marshal(ek2); the second
 * key's certificate is der || ca1 || ek1's marshalling up to its modulus. */
static void test_key_not_ambiguous(void **state)
{
	uint8_t der[64], ca1[32], ca2[32], p1[sizeof(TPMT_PUBLIC)], p2[sizeof(TPMT_PUBLIC)];
	uint8_t der2[sizeof(der) + 32 + sizeof(TPMT_PUBLIC)], k1[32], k2[32];
	TPMT_PUBLIC ek1 = {
		.type = TPM2_ALG_RSA, .nameAlg = TPM2_ALG_SHA256,
		.parameters.rsaDetail = { .symmetric.algorithm = TPM2_ALG_NULL,
					  .scheme.scheme = TPM2_ALG_NULL, .keyBits = 2048 },
	};
	const TPMT_PUBLIC *ek2 = ek_of(((struct fx *)*state)->h);
	size_t n1 = 0, n2 = 0, head;

	RAND_bytes(der, sizeof(der)), RAND_bytes(ca1, 32), RAND_bytes(ca2, 32);
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(ek2, p2, sizeof(p2), &n2), TSS2_RC_SUCCESS);
	memcpy(ek1.unique.rsa.buffer, ca2, 32);
	memcpy(ek1.unique.rsa.buffer + 32, p2, n2);
	ek1.unique.rsa.size = (UINT16)(32 + n2);
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&ek1, p1, sizeof(p1), &n1), TSS2_RC_SUCCESS);
	head = n1 - 32 - n2; /* ek1's marshalling before ca2 */
	memcpy(der2, der, sizeof(der));
	memcpy(der2 + sizeof(der), ca1, 32);
	memcpy(der2 + sizeof(der) + 32, p1, head);
	assert_true(ekverdict_key(der, sizeof(der), ca1, &ek1, k1));
	assert_true(ekverdict_key(der2, sizeof(der) + 32 + head, ca2, ek2, k2));
	assert_memory_not_equal(k1, k2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_has_ek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_has_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_not_ambiguous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validity, setup, teardown),
		cmocka_unit_test(test_lru_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
