/* PINs: the key authValue both sides derive from a PIN (src/wire/pin.c)
 * and the broker's record of it, sealed under the master key
 * (src/broker/pin.c): what a record accepts, what it refuses, and that it
 * is bound to its credential and its master key. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "tmpdir_fixture.h"
#include "../../src/broker/pin.h"
#include "../../src/wire/pin.h"
#include "../testlib.h"

#define ITER 1000
#define PREFIX "$a11auth$1$"
static const uint8_t cred_salt[16] = "salt of cred web";

struct fx {
	struct tmpdir dir;
	struct secrets *s, *other;
};

static struct secrets *new_key(struct tmpdir *d, const char *name)
{
	char path[PATH_MAX];
	struct secrets *s = NULL;

	tmpdir_file(d, name, path);
	assert_int_equal(secrets_create(path), A11_OK);
	assert_int_equal(secrets_load(path, &s), A11_OK);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(&f->dir);
	f->s = new_key(&f->dir, "master.key");
	f->other = new_key(&f->dir, "other.key");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	secrets_free(f->s);
	secrets_free(f->other);
	tmpdir_remove(&f->dir);
	free(f);
	return 0;
}

static char *record(struct fx *f, const char *cred, const char *pin, size_t len)
{
	char *r = NULL;

	assert_int_equal(pin_record_new(f->s, cred, pin, len, cred_salt, sizeof(cred_salt), ITER, &r),
			 A11_OK);
	assert_non_null(r);
	return r;
}

/* The authValue the module derives and presents for a PIN. */
static TPM2B_AUTH proof(const char *pin, size_t len, uint32_t iterations)
{
	TPM2B_AUTH a;

	assert_int_equal(wire_pin_auth(pin, len, cred_salt, sizeof(cred_salt), iterations, &a), A11_OK);
	return a;
}

static a11_err check(struct fx *f, const char *stored, const char *pin, size_t len)
{
	TPM2B_AUTH offered = proof(pin, len, ITER), got = { 0 };
	a11_err r = pin_record_check(f->s, "web", stored, &offered, &got);

	if (r == A11_OK) {
		assert_int_equal(got.size, offered.size);
		assert_memory_equal(got.buffer, offered.buffer, got.size);
	} else {
		assert_int_equal(got.size, 0);
	}
	return r;
}

static void test_check(void **state)
{
	struct fx *f = *state;
	char *r = record(f, "web", "1234", 4);
	TPM2B_AUTH a = proof("1234", 4, ITER), got;

	assert_int_equal(check(f, r, "1234", 4), A11_OK);
	assert_int_equal(check(f, r, "1235", 4), A11_ERR_TPM_AUTH);
	assert_int_equal(check(f, r, "123", 3), A11_ERR_TPM_AUTH);
	assert_int_equal(check(f, r, "12345", 5), A11_ERR_TPM_AUTH);
	assert_int_equal(check(f, r, "", 0), A11_ERR_TPM_AUTH);
	/* The right PIN derived with another count is another authValue. */
	a = proof("1234", 4, ITER + 1);
	assert_int_equal(pin_record_check(f->s, "web", r, &a, &got), A11_ERR_TPM_AUTH);
	/* Only 32 bytes are a proof: a prefix of the right one is not. */
	a = proof("1234", 4, ITER);
	a.size = 31;
	assert_int_equal(pin_record_check(f->s, "web", r, &a, &got), A11_ERR_TPM_AUTH);
	a.size = 0;
	assert_int_equal(pin_record_check(f->s, "web", r, &a, &got), A11_ERR_TPM_AUTH);
	free(r);
	/* PINs with NUL bytes are PINs too: the length is the PIN. */
	r = record(f, "web", "a\0b", 3);
	assert_int_equal(check(f, r, "a\0b", 3), A11_OK);
	assert_int_equal(check(f, r, "a\0c", 3), A11_ERR_TPM_AUTH);
	assert_int_equal(check(f, r, "a", 1), A11_ERR_TPM_AUTH);
	free(r);
}

/* "$a11auth$1$<iterations>$<base64 of 65 sealed bytes>"; the PIN and its
 * authValue appear nowhere in it, and two records of one PIN differ. */
static void test_format(void **state)
{
	struct fx *f = *state;
	char *a = record(f, "web", "1234", 4), *b = record(f, "web", "1234", 4), b64[100];
	TPM2B_AUTH auth = proof("1234", 4, ITER);
	uint8_t raw[100];
	unsigned it;
	uint32_t got;

	assert_int_equal(sscanf(a, PREFIX "%u$%99s", &it, b64), 2);
	assert_int_equal(it, ITER);
	assert_int_equal(strlen(b64), 88);
	assert_int_equal(EVP_DecodeBlock(raw, (unsigned char *)b64, 88), 66); /* 65 + padding */
	assert_null(memmem(raw, 65, auth.buffer, auth.size));
	assert_string_not_equal(a, b);
	assert_int_equal(pin_record_iterations("web", a, &got), A11_OK);
	assert_int_equal(got, ITER);
	free(a);
	free(b);
}

/* Bound to its credential and its master key, which it names: a broker
 * without that key refuses it by name. Re-sealing with a ring whose
 * current key is another moves it there and keeps the PIN. */
static void test_binding(void **state)
{
	struct fx *f = *state;
	char *r = record(f, "web", "1234", 4), *moved = NULL, path[PATH_MAX];
	TPM2B_AUTH a = proof("1234", 4, ITER), got;
	struct secrets *ring = NULL;
	uint32_t id;

	assert_int_equal(pin_record_check(f->s, "mail", r, &a, &got), A11_ERR_CRYPTO);
	assert_int_equal(pin_record_check(f->other, "web", r, &a, &got), A11_ERR_NOT_FOUND);
	assert_int_equal(pin_record_key("web", r, &id), A11_OK);
	assert_int_equal(id, secrets_current_id(f->s));
	assert_int_equal(pin_record_reseal(f->other, "web", r, &moved), A11_ERR_NOT_FOUND);
	assert_null(moved);
	tmpdir_file(&f->dir, "other.key", path);
	assert_int_equal(secrets_load(path, &ring), A11_OK);
	tmpdir_file(&f->dir, "master.key", path);
	assert_int_equal(secrets_add(ring, path), A11_OK);
	assert_int_equal(pin_record_reseal(ring, "web", r, &moved), A11_OK);
	assert_string_not_equal(moved, r);
	assert_int_equal(pin_record_key("web", moved, &id), A11_OK);
	assert_int_equal(id, secrets_current_id(f->other));
	assert_int_equal(pin_record_check(f->other, "web", moved, &a, &got), A11_OK);
	assert_int_equal(pin_record_check(f->s, "web", moved, &a, &got), A11_ERR_NOT_FOUND);
	/* The ring opens both: the rotation's overlap. */
	assert_int_equal(pin_record_check(ring, "web", r, &a, &got), A11_OK);
	assert_int_equal(pin_record_check(ring, "web", moved, &a, &got), A11_OK);
	secrets_free(ring);
	free(moved);
	free(r);
}

/* Anything but exactly what pin_record_new writes is refused as
 * malformed, before any decryption; a changed byte of the sealed value
 * fails its authentication. An older broker's scrypt hash is refused. */
static void test_malformed(void **state)
{
	struct fx *f = *state;
	char *good = record(f, "web", "1234", 4), s[256], *c;
	const char *b64 = strrchr(good, '$') + 1;
	TPM2B_AUTH a = proof("1234", 4, ITER), got;
	uint32_t it;
	static const char *const shapes[] = {
		"", "$", PREFIX, PREFIX "1000", PREFIX "1000$", "$a11auth$2$1000$%s",
		"$A11AUTH$1$1000$%s", "a11auth$1$1000$%s", PREFIX "0$%s", PREFIX "10000001$%s",
		PREFIX "-1$%s", PREFIX "+1000$%s", PREFIX " 1000$%s", PREFIX "01000$%s",
		PREFIX "4294968296$%s", PREFIX "x$%s", PREFIX "1000$%s$", PREFIX "1000$%s=",
		PREFIX "1000$%sAAAA", PREFIX "1000$%s\n", " " PREFIX "1000$%s",
		"$scrypt$10$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
	};

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		snprintf(s, sizeof(s), shapes[i], b64);
		assert_int_equal(pin_record_iterations("web", s, &it), A11_ERR_PARSE);
		assert_int_equal(pin_record_check(f->s, "web", s, &a, &got), A11_ERR_PARSE);
	}
	/* The base64 cut short, or with '=' inside. */
	snprintf(s, sizeof(s), PREFIX "1000$%.80s", b64);
	assert_int_equal(pin_record_check(f->s, "web", s, &a, &got), A11_ERR_PARSE);
	snprintf(s, sizeof(s), PREFIX "1000$=%s", b64 + 1);
	assert_int_equal(pin_record_check(f->s, "web", s, &a, &got), A11_ERR_PARSE);
	/* Well formed, one sealed byte changed: tampering, not a wrong PIN. */
	snprintf(s, sizeof(s), "%s", good);
	c = &s[strlen(PREFIX "1000$") + 20];
	*c = *c == 'A' ? 'B' : 'A';
	assert_int_equal(pin_record_check(f->s, "web", s, &a, &got), A11_ERR_CRYPTO);
	/* The iteration count is sealed with the value: changing it is
	 * tampering too, even with a proof derived with the new count. */
	snprintf(s, sizeof(s), PREFIX "1001$%s", b64);
	a = proof("1234", 4, 1001);
	assert_int_equal(pin_record_check(f->s, "web", s, &a, &got), A11_ERR_CRYPTO);
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
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test(test_pin_auth_known),
		cmocka_unit_test(test_pin_auth_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
