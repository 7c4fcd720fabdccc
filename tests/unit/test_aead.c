/* wire_aead (AES-256-GCM, iv[12] || ct || tag[16]): round trips, and any
 * change to key, AAD or sealed bytes refused. Sealed buffers are copied to
 * exact-size heap blocks so ASan sees any read past the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../../src/wire/aead.h"

#define AAD "attest11 token v1"

static uint8_t key[WIRE_AEAD_KEY];

static int setup(void **state)
{
	(void)state;
	return RAND_bytes(key, sizeof(key)) == 1 ? 0 : -1;
}

static uint8_t *dup_n(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

/* open(in[0..len)) expecting failure r; out must stay NULL. */
static void open_fails(const uint8_t *k, const char *aad, const uint8_t *in, size_t len,
		       a11_err r)
{
	uint8_t *copy = dup_n(in, len), *out = (uint8_t *)&out;
	size_t out_len = 12345;

	assert_int_equal(wire_aead_open(k, aad, copy, len, &out, &out_len), r);
	assert_null(out);
	free(copy);
}

static void roundtrip(const uint8_t *msg, size_t len)
{
	uint8_t *ct = NULL, *pt = NULL;
	size_t ct_len = 0, pt_len = 99;

	assert_int_equal(wire_aead_seal(key, AAD, msg, len, &ct, &ct_len), A11_OK);
	assert_non_null(ct);
	assert_int_equal(ct_len, len + WIRE_AEAD_OVERHEAD);
	if (len >= 16)  /* the plaintext does not show */
		assert_memory_not_equal(ct + 12, msg, 16);
	assert_int_equal(wire_aead_open(key, AAD, ct, ct_len, &pt, &pt_len), A11_OK);
	assert_non_null(pt);
	assert_int_equal(pt_len, len);
	assert_memory_equal(pt, msg, len);
	OPENSSL_cleanse(pt, len);
	free(pt);
	free(ct);
}

static void test_roundtrip(void **state)
{
	uint8_t big[70000];

	(void)state;
	roundtrip((const uint8_t *)"x", 1);
	roundtrip((const uint8_t *)"eyJhbGciOiJFUzI1NiJ9.bearer-token", 33);
	assert_int_equal(RAND_bytes(big, sizeof(big)), 1);
	roundtrip(big, 15);
	roundtrip(big, 16);
	roundtrip(big, 17);
	roundtrip(big, sizeof(big));
}

/* Empty plaintext: 28 bytes that still authenticate key and AAD. */
static void test_empty(void **state)
{
	static const uint8_t none[1] = { 0 };
	uint8_t *ct = NULL, *pt = NULL, other[WIRE_AEAD_KEY];
	size_t ct_len = 0, pt_len = 99;

	(void)state;
	assert_int_equal(wire_aead_seal(key, AAD, none, 0, &ct, &ct_len), A11_OK);
	assert_int_equal(ct_len, WIRE_AEAD_OVERHEAD);
	assert_int_equal(wire_aead_open(key, AAD, ct, ct_len, &pt, &pt_len), A11_OK);
	assert_non_null(pt);
	assert_int_equal(pt_len, 0);
	free(pt);
	open_fails(key, "", ct, ct_len, A11_ERR_CRYPTO);
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	open_fails(other, AAD, ct, ct_len, A11_ERR_CRYPTO);
	for (size_t i = 0; i < ct_len; i++) {
		ct[i] ^= 0x80;
		open_fails(key, AAD, ct, ct_len, A11_ERR_CRYPTO);
		ct[i] ^= 0x80;
	}
	free(ct);
	/* Empty AAD is an AAD like any other. */
	assert_int_equal(wire_aead_seal(key, "", none, 0, &ct, &ct_len), A11_OK);
	assert_int_equal(wire_aead_open(key, "", ct, ct_len, &pt, &pt_len), A11_OK);
	free(pt);
	open_fails(key, AAD, ct, ct_len, A11_ERR_CRYPTO);
	free(ct);
}

/* A fresh IV every time: sealing the same message twice differs. */
static void test_fresh_iv(void **state)
{
	static const uint8_t msg[] = "same message";
	uint8_t *a = NULL, *b = NULL;
	size_t la, lb;

	(void)state;
	assert_int_equal(wire_aead_seal(key, AAD, msg, sizeof(msg), &a, &la), A11_OK);
	assert_int_equal(wire_aead_seal(key, AAD, msg, sizeof(msg), &b, &lb), A11_OK);
	assert_int_equal(la, lb);
	assert_memory_not_equal(a, b, 12);
	assert_memory_not_equal(a + 12, b + 12, la - 12);
	free(a);
	free(b);
}

static void test_tamper(void **state)
{
	static const uint8_t msg[] = "the bearer token: 0123456789abcdef";
	uint8_t *ct = NULL, other[WIRE_AEAD_KEY];
	size_t len = 0;

	(void)state;
	assert_int_equal(wire_aead_seal(key, AAD, msg, sizeof(msg), &ct, &len), A11_OK);
	/* Wrong AAD: other text, a prefix, one more character, empty. */
	open_fails(key, "attest11 token v2", ct, len, A11_ERR_CRYPTO);
	open_fails(key, "attest11 token v", ct, len, A11_ERR_CRYPTO);
	open_fails(key, AAD " ", ct, len, A11_ERR_CRYPTO);
	open_fails(key, "", ct, len, A11_ERR_CRYPTO);
	/* Wrong key: every bit of the first and last byte. */
	memcpy(other, key, sizeof(other));
	for (int bit = 0; bit < 8; bit++) {
		other[0] ^= (uint8_t)(1u << bit);
		open_fails(other, AAD, ct, len, A11_ERR_CRYPTO);
		other[0] ^= (uint8_t)(1u << bit);
		other[31] ^= (uint8_t)(1u << bit);
		open_fails(other, AAD, ct, len, A11_ERR_CRYPTO);
		other[31] ^= (uint8_t)(1u << bit);
	}
	/* Every byte flipped: IV, ciphertext and tag alike. */
	for (size_t i = 0; i < len; i++) {
		for (unsigned x = 0x01; x <= 0x80; x <<= 7) {
			ct[i] ^= (uint8_t)x;
			open_fails(key, AAD, ct, len, A11_ERR_CRYPTO);
			ct[i] ^= (uint8_t)x;
		}
	}
	/* Truncated: too short to hold IV and tag is malformed, longer is
	 * a failed tag; one byte more is refused too. */
	for (size_t n = 0; n < len; n++)
		open_fails(key, AAD, ct, n, n < WIRE_AEAD_OVERHEAD ? A11_ERR_PARSE : A11_ERR_CRYPTO);
	{
		uint8_t *longer = malloc(len + 1);

		assert_non_null(longer);
		memcpy(longer, ct, len);
		longer[len] = 0;
		open_fails(key, AAD, longer, len + 1, A11_ERR_CRYPTO);
		free(longer);
	}
	/* Untouched, it still opens. */
	{
		uint8_t *pt = NULL;
		size_t pt_len = 0;

		assert_int_equal(wire_aead_open(key, AAD, ct, len, &pt, &pt_len), A11_OK);
		assert_int_equal(pt_len, sizeof(msg));
		assert_memory_equal(pt, msg, sizeof(msg));
		free(pt);
	}
	free(ct);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_fresh_iv),
		cmocka_unit_test(test_tamper),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
