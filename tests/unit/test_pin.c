/* PINs: the broker's stored scrypt hash (src/broker/pin.c) and the key
 * authValue both sides derive from a PIN (src/wire/pin.c). scrypt runs at
 * log2 N = 10 here for speed; the format and the checks are the same. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "../../src/broker/pin.h"
#include "../../src/wire/pin.h"
#include "../testlib.h"

#define FAST 10

static char *hash_of(const char *pin)
{
	char *h = NULL;

	assert_int_equal(pin_hash_new(pin, strlen(pin), FAST, &h), A11_OK);
	assert_non_null(h);
	return h;
}

static void test_hash_verify(void **state)
{
	char *h = hash_of("1234");

	(void)state;
	assert_int_equal(pin_verify("1234", 4, h), A11_OK);
	assert_int_equal(pin_verify("1235", 4, h), A11_ERR_TPM_AUTH);
	assert_int_equal(pin_verify("123", 3, h), A11_ERR_TPM_AUTH);
	assert_int_equal(pin_verify("12345", 5, h), A11_ERR_TPM_AUTH);
	assert_int_equal(pin_verify("", 0, h), A11_ERR_TPM_AUTH);
	/* The length is the PIN: bytes past it do not count. */
	assert_int_equal(pin_verify("12349999", 4, h), A11_OK);
	free(h);
	/* Empty PINs and PINs with NUL bytes are PINs too. */
	assert_int_equal(pin_hash_new("", 0, FAST, &h), A11_OK);
	assert_int_equal(pin_verify("", 0, h), A11_OK);
	assert_int_equal(pin_verify("0", 1, h), A11_ERR_TPM_AUTH);
	free(h);
	assert_int_equal(pin_hash_new("a\0b", 3, FAST, &h), A11_OK);
	assert_int_equal(pin_verify("a\0b", 3, h), A11_OK);
	assert_int_equal(pin_verify("a\0c", 3, h), A11_ERR_TPM_AUTH);
	assert_int_equal(pin_verify("a", 1, h), A11_ERR_TPM_AUTH);
	free(h);
}

/* "$scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>". */
static void test_hash_format(void **state)
{
	char *a = hash_of("1234"), *b = hash_of("1234");
	unsigned n, r, p;
	char salt[64], hash[64];

	(void)state;
	assert_int_equal(sscanf(a, "$scrypt$%u$%u$%u$%63[^$]$%63s", &n, &r, &p, salt, hash), 5);
	assert_int_equal(n, FAST);
	assert_int_equal(r, 8);
	assert_int_equal(p, 1);
	assert_int_equal(strlen(salt), 24); /* 16 bytes */
	assert_int_equal(strlen(hash), 44); /* 32 bytes */
	/* A fresh salt each time, so equal PINs hash differently. */
	assert_string_not_equal(a, b);
	assert_int_equal(pin_verify("1234", 4, b), A11_OK);
	free(a);
	free(b);
	/* The cost is bounded both ways. */
	a = (char *)"sentinel";
	assert_int_equal(pin_hash_new("1", 1, 9, &a), A11_ERR_ARG);
	assert_null(a);
	assert_int_equal(pin_hash_new("1", 1, 21, &a), A11_ERR_ARG);
	assert_null(a);
}

/* A stored string that is not one we wrote: A11_ERR_PARSE, never a
 * verdict about the PIN. */
static void test_malformed(void **state)
{
	char *good = hash_of("1234");
	char s[256], salt[32], hash[64];
	const char *fields;
	size_t i;

	(void)state;
	/* salt and hash of the good string, to rebuild variants around them. */
	fields = strchr(good + strlen("$scrypt$10$8$1"), '$') + 1;
	memcpy(salt, fields, 24);
	salt[24] = '\0';
	memcpy(hash, fields + 25, 44);
	hash[44] = '\0';
	snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salt, hash);
	assert_string_equal(s, good);
	assert_int_equal(pin_verify("1234", 4, s), A11_OK);
	{
		const char *bad[] = {
			"", "$", "$scrypt$", "scrypt$10$8$1$%s$%s", "$bcrypt$10$8$1$%s$%s",
			"$SCRYPT$10$8$1$%s$%s", "$scrypt$10$8$%s$%s", "$scrypt$10$8$1$%s",
			"$scrypt$10$8$1$1$%s$%s", "$scrypt$10$8$1$%s$%s$", "$scrypt$10$8$1$%s$%s$x",
			"$scrypt$10$8$1$%s$%sAAAA", "$scrypt$10$8$1$%s$%s\n",
			"$scrypt$9$8$1$%s$%s", "$scrypt$21$8$1$%s$%s", "$scrypt$-1$8$1$%s$%s",
			"$scrypt$4294967306$8$1$%s$%s", "$scrypt$10$0$1$%s$%s",
			"$scrypt$10$33$1$%s$%s", "$scrypt$10$8$0$%s$%s", "$scrypt$10$8$2$%s$%s",
			"$scrypt$x$8$1$%s$%s", "$scrypt$$8$1$%s$%s", "$scrypt$ 10$8$1$%s$%s",
			"$scrypt$+10$8$1$%s$%s", "$scrypt$010$8$1$%s$%s", " $scrypt$10$8$1$%s$%s",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(s, sizeof(s), bad[i], salt, hash);
			if (pin_verify("1234", 4, s) != A11_ERR_PARSE)
				fail_msg("accepted: %s", s);
		}
	}
	/* Bad base64: wrong length, characters, padding in the wrong place. */
	{
		static const char *const salts[] = {
			"AAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAA===",
			"AAAAAAAAAAAAAAAAAAAAAA*=", "AAAAAAAAAAAAAAAAAAAAAA-=",
			"AAAAAAAAAAA=AAAAAAAAAA==", "========================", "",
			"AAAAAAAAAAAAAAAAAAAAAA=A", "AAAAAAAAAAAAAAAAAAAAAAA=",
		};

		for (i = 0; i < sizeof(salts) / sizeof(salts[0]); i++) {
			snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salts[i], hash);
			if (pin_verify("1234", 4, s) != A11_ERR_PARSE)
				fail_msg("accepted salt: %s", s);
		}
	}
	{
		char h2[64];

		memcpy(h2, hash, sizeof(h2));
		h2[43] = '\0'; /* 43 characters */
		snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salt, h2);
		assert_int_equal(pin_verify("1234", 4, s), A11_ERR_PARSE);
		memcpy(h2, hash, sizeof(h2));
		h2[5] = '.';
		snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salt, h2);
		assert_int_equal(pin_verify("1234", 4, s), A11_ERR_PARSE);
		memset(h2, '=', 44);
		h2[44] = '\0';
		snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salt, h2);
		assert_int_equal(pin_verify("1234", 4, s), A11_ERR_PARSE);
		memcpy(h2, hash, sizeof(h2));
		h2[10] = '=';
		snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salt, h2);
		assert_int_equal(pin_verify("1234", 4, s), A11_ERR_PARSE);
	}
	/* Well formed but another hash: a wrong PIN, not a parse error. */
	memcpy(hash, "AAAA", 4);
	snprintf(s, sizeof(s), "$scrypt$10$8$1$%s$%s", salt, hash);
	assert_int_equal(pin_verify("1234", 4, s), A11_ERR_TPM_AUTH);
	free(good);
}

/* wire_pin_auth is PBKDF2-HMAC-SHA256(PIN, salt, iterations, 32). */
static void test_pin_auth_known(void **state)
{
	static const uint8_t salt[16] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
					  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10 };
	uint8_t want[32];
	TPM2B_AUTH out;

	(void)state;
	/* RFC 7914 §11: PBKDF2-HMAC-SHA-256("passwd", "salt", 1), first 32 bytes. */
	memset(&out, 0, sizeof(out));
	assert_int_equal(wire_pin_auth("passwd", 6, (const uint8_t *)"salt", 4, 1, &out), A11_OK);
	assert_int_equal(out.size, 32);
	t_unhex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc", want, 32);
	assert_memory_equal(out.buffer, want, 32);
	/* The production shape, against OpenSSL called directly. */
	assert_int_equal(wire_pin_auth("1234", 4, salt, sizeof(salt), 10000, &out), A11_OK);
	assert_int_equal(PKCS5_PBKDF2_HMAC("1234", 4, salt, sizeof(salt), 10000, EVP_sha256(),
					   32, want), 1);
	assert_int_equal(out.size, 32);
	assert_memory_equal(out.buffer, want, 32);
	/* Each input matters. */
	assert_int_equal(wire_pin_auth("1235", 4, salt, sizeof(salt), 10000, &out), A11_OK);
	assert_memory_not_equal(out.buffer, want, 32);
	assert_int_equal(wire_pin_auth("1234", 4, salt, sizeof(salt) - 1, 10000, &out), A11_OK);
	assert_memory_not_equal(out.buffer, want, 32);
	assert_int_equal(wire_pin_auth("1234", 4, salt, sizeof(salt), 10001, &out), A11_OK);
	assert_memory_not_equal(out.buffer, want, 32);
	/* An empty PIN is allowed and still salted. */
	assert_int_equal(wire_pin_auth("", 0, salt, sizeof(salt), 1000, &out), A11_OK);
	assert_int_equal(PKCS5_PBKDF2_HMAC("", 0, salt, sizeof(salt), 1000, EVP_sha256(), 32,
					   want), 1);
	assert_memory_equal(out.buffer, want, 32);
}

static void test_pin_auth_args(void **state)
{
	static const uint8_t salt[16] = { 1 };
	char pin[1025];
	TPM2B_AUTH out;

	(void)state;
	memset(pin, 'p', sizeof(pin));
	assert_int_equal(wire_pin_auth(pin, 1024, salt, sizeof(salt), 1, &out), A11_OK);
	assert_int_equal(wire_pin_auth(pin, 1025, salt, sizeof(salt), 1, &out), A11_ERR_ARG);
	assert_int_equal(wire_pin_auth(pin, (size_t)-1, salt, sizeof(salt), 1, &out), A11_ERR_ARG);
	assert_int_equal(wire_pin_auth(pin, 4, salt, 0, 1, &out), A11_ERR_ARG);
	assert_int_equal(wire_pin_auth(pin, 4, salt, sizeof(salt), 0, &out), A11_ERR_ARG);
	assert_int_equal(wire_pin_auth(pin, 4, salt, sizeof(salt), 10000001, &out), A11_ERR_ARG);
	assert_int_equal(wire_pin_auth(pin, 4, salt, sizeof(salt), UINT32_MAX, &out), A11_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_hash_format),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_pin_auth_known),
		cmocka_unit_test(test_pin_auth_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
