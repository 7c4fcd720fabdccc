/* Secrets at rest: the sealed format is checked against a decryption done
 * here with raw OpenSSL (not secrets_open), then every way a sealed value
 * or a key file can be wrong, then the key ring of a rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tmpdir_fixture.h"
#include "../../src/broker/secrets.h"

#define AAD "credential:web"
static const uint8_t msg[] = "-----BEGIN PRIVATE KEY-----\nnot really\n";

struct fx {
	struct tmpdir dir;
	char key_path[PATH_MAX];
	struct secrets *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(&f->dir);
	tmpdir_file(&f->dir, "master.key", f->key_path);
	assert_int_equal(secrets_create(f->key_path), A11_OK);
	assert_int_equal(secrets_load(f->key_path, &f->s), A11_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	secrets_free(f->s);
	tmpdir_remove(&f->dir);
	free(f);
	return 0;
}

static void seal(struct fx *f, const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	assert_int_equal(secrets_seal(f->s, AAD, in, len, out, out_len), A11_OK);
	assert_int_equal(*out_len, 1 + 4 + 12 + len + 16);
}

/* secrets_open must refuse (in, len) with want and hand back nothing. */
static void open_fails(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		       a11_err want)
{
	uint8_t *out = (uint8_t *)"x";
	size_t out_len = 7;

	assert_int_equal(secrets_open(s, aad, in, len, &out, &out_len), want);
	assert_null(out);
	assert_int_equal(out_len, 0);
}

static void read_key(const char *key_path, uint8_t key[32])
{
	int fd = open(key_path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, key, 32), 32);
	close(fd);
}

/* Independent reference: the format from secrets.h, undone with EVP:
 * version 2, the key's id (SHA-256 of the label, its NUL and the key),
 * iv, ct, tag. */
static void ref_open(const char *key_path, const uint8_t *in, size_t len, uint8_t *pt)
{
	static const char label[] = "attest11 master key id";
	uint8_t key[32], buf[sizeof(label) + 32], md[32];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t ct_len = len - 33;
	int n;

	read_key(key_path, key);
	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), key, 32);
	SHA256(buf, sizeof(buf), md);
	assert_int_equal(in[0], 2);
	assert_memory_equal(in + 1, md, 4);
	assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in + 5), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)AAD, strlen(AAD)), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, pt, &n, in + 17, (int)ct_len), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + 17 + ct_len)),
			 1);
	assert_int_equal(EVP_DecryptFinal_ex(ctx, pt + n, &n), 1);
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(buf, sizeof(buf));
}

/* What a broker before key rings wrote: version 1, no key id. */
static size_t ref_seal_v1(const char *key_path, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t key[32];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n;

	read_key(key_path, key);
	out[0] = 1;
	assert_int_equal(RAND_bytes(out + 1, 12), 1);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out + 1), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)AAD, strlen(AAD)), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, out + 13, &n, in, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, out + 13 + len, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 13 + len), 1);
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	return 1 + 12 + len + 16;
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	uint8_t *a = NULL, *b = NULL, *pt = NULL, ref[sizeof(msg)];
	size_t alen, blen, ptlen;

	seal(f, msg, sizeof(msg), &a, &alen);
	seal(f, msg, sizeof(msg), &b, &blen);
	/* A fresh IV each time: equal secrets do not look equal at rest. */
	assert_memory_not_equal(a + 5, b + 5, 12);
	ref_open(f->key_path, a, alen, ref);
	assert_memory_equal(ref, msg, sizeof(msg));
	assert_int_equal(secrets_open(f->s, AAD, a, alen, &pt, &ptlen), A11_OK);
	assert_int_equal(ptlen, sizeof(msg));
	assert_memory_equal(pt, msg, sizeof(msg));
	OPENSSL_cleanse(pt, ptlen);
	free(pt);
	free(a);
	free(b);
}

static void test_empty_secret(void **state)
{
	struct fx *f = *state;
	uint8_t *a = NULL, *pt = NULL;
	size_t alen, ptlen = 99;

	seal(f, NULL, 0, &a, &alen);
	assert_int_equal(secrets_open(f->s, AAD, a, alen, &pt, &ptlen), A11_OK);
	assert_non_null(pt);
	assert_int_equal(ptlen, 0);
	free(pt);
	free(a);
}

static void test_wrong_aad(void **state)
{
	struct fx *f = *state;
	uint8_t *a = NULL;
	size_t alen;

	seal(f, msg, sizeof(msg), &a, &alen);
	open_fails(f->s, "credential:db", a, alen, A11_ERR_CRYPTO);
	open_fails(f->s, "credential:we", a, alen, A11_ERR_CRYPTO);
	open_fails(f->s, "", a, alen, A11_ERR_ARG);
	open_fails(f->s, NULL, a, alen, A11_ERR_ARG);
	free(a);
}

/* Every byte matters: the version byte is a format error, the key id
 * names a key this ring does not hold, any other byte (IV, ciphertext,
 * tag) fails authentication. */
static void test_flipped_byte(void **state)
{
	struct fx *f = *state;
	uint8_t *a = NULL;
	size_t alen;

	seal(f, msg, sizeof(msg), &a, &alen);
	for (size_t i = 0; i < alen; i++) {
		a[i] ^= 0x01;
		open_fails(f->s, AAD, a, alen, i == 0 ? A11_ERR_PARSE
					       : i < 5 ? A11_ERR_NOT_FOUND : A11_ERR_CRYPTO);
		a[i] ^= 0x01;
	}
	free(a);
}

static void test_truncated(void **state)
{
	struct fx *f = *state;
	static const uint8_t garbage[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
	uint8_t *a = NULL, *longer;
	size_t alen;

	seal(f, msg, sizeof(msg), &a, &alen);
	/* Shorter than version + key id + IV + tag cannot be parsed; longer
	 * but cut moves the tag, which then fails. */
	for (size_t len = 0; len < alen; len++)
		open_fails(f->s, AAD, a, len, len < 33 ? A11_ERR_PARSE : A11_ERR_CRYPTO);
	open_fails(f->s, AAD, garbage, sizeof(garbage), A11_ERR_PARSE);
	longer = calloc(1, alen + 1);
	assert_non_null(longer);
	memcpy(longer, a, alen);
	open_fails(f->s, AAD, longer, alen + 1, A11_ERR_CRYPTO);
	free(longer);
	free(a);
}

static void test_wrong_key(void **state)
{
	struct fx *f = *state;
	struct secrets *other = NULL;
	char path[PATH_MAX];
	uint8_t *a = NULL;
	size_t alen;

	tmpdir_file(&f->dir, "other.key", path);
	assert_int_equal(secrets_create(path), A11_OK);
	assert_int_equal(secrets_load(path, &other), A11_OK);
	seal(f, msg, sizeof(msg), &a, &alen);
	/* Named by its id, so refused by name, never tried with this key. */
	open_fails(other, AAD, a, alen, A11_ERR_NOT_FOUND);
	secrets_free(other);
	free(a);
}

/* A ring of a new current key and the old one (the rotation's overlap):
 * it opens what either sealed, seals under the new one only; a broker
 * with only the old key refuses the new values by name. */
static void test_ring(void **state)
{
	struct fx *f = *state;
	struct secrets *ring = NULL, *fresh = NULL;
	char path[PATH_MAX], more[PATH_MAX + 8];
	uint8_t *old = NULL, *new = NULL, *pt = NULL;
	size_t olen, nlen, ptlen;
	uint32_t id;

	tmpdir_file(&f->dir, "new.key", path);
	assert_int_equal(secrets_create(path), A11_OK);
	assert_int_equal(secrets_load(path, &ring), A11_OK);
	assert_int_equal(secrets_load(path, &fresh), A11_OK);
	assert_int_equal(secrets_add(ring, f->key_path), A11_OK);
	assert_int_equal(secrets_current_id(ring), secrets_current_id(fresh));
	assert_int_not_equal(secrets_current_id(ring), secrets_current_id(f->s));
	seal(f, msg, sizeof(msg), &old, &olen);
	assert_int_equal(secrets_seal(ring, AAD, msg, sizeof(msg), &new, &nlen), A11_OK);
	assert_int_equal(secrets_sealed_id(new, nlen, &id), A11_OK);
	assert_int_equal(id, secrets_current_id(fresh));
	assert_int_equal(secrets_sealed_id(old, olen, &id), A11_OK);
	assert_int_equal(id, secrets_current_id(f->s));
	assert_int_equal(secrets_open(ring, AAD, old, olen, &pt, &ptlen), A11_OK);
	assert_memory_equal(pt, msg, sizeof(msg));
	free(pt);
	assert_int_equal(secrets_open(ring, AAD, new, nlen, &pt, &ptlen), A11_OK);
	free(pt);
	open_fails(f->s, AAD, new, nlen, A11_ERR_NOT_FOUND);
	open_fails(fresh, AAD, old, olen, A11_ERR_NOT_FOUND);
	/* One key once; at most SECRETS_KEYS_MAX. */
	assert_int_equal(secrets_add(ring, f->key_path), A11_ERR_EXISTS);
	assert_int_equal(secrets_add(ring, path), A11_ERR_EXISTS);
	for (int i = 2; i < SECRETS_KEYS_MAX; i++) {
		snprintf(more, sizeof(more), "%s.%d", path, i);
		assert_int_equal(secrets_create(more), A11_OK);
		assert_int_equal(secrets_add(ring, more), A11_OK);
	}
	snprintf(more, sizeof(more), "%s.x", path);
	assert_int_equal(secrets_create(more), A11_OK);
	assert_int_equal(secrets_add(ring, more), A11_ERR_ARG);
	secrets_free(ring);
	secrets_free(fresh);
	free(old);
	free(new);
}

/* A value of format 1 (no key id) opens with whichever ring key its tag
 * verifies, and names no key. */
static void test_format_1(void **state)
{
	struct fx *f = *state;
	struct secrets *ring = NULL, *other = NULL;
	uint8_t v1[sizeof(msg) + 29], *pt = NULL;
	char path[PATH_MAX];
	size_t len = ref_seal_v1(f->key_path, msg, sizeof(msg), v1), ptlen;
	uint32_t id;

	tmpdir_file(&f->dir, "new.key", path);
	assert_int_equal(secrets_create(path), A11_OK);
	assert_int_equal(secrets_load(path, &ring), A11_OK);
	assert_int_equal(secrets_load(path, &other), A11_OK);
	assert_int_equal(secrets_add(ring, f->key_path), A11_OK);
	assert_int_equal(secrets_sealed_id(v1, len, &id), A11_ERR_NOT_FOUND);
	assert_int_equal(secrets_open(ring, AAD, v1, len, &pt, &ptlen), A11_OK);
	assert_int_equal(ptlen, sizeof(msg));
	assert_memory_equal(pt, msg, sizeof(msg));
	free(pt);
	open_fails(other, AAD, v1, len, A11_ERR_CRYPTO);
	v1[len - 1] ^= 1;
	open_fails(ring, AAD, v1, len, A11_ERR_CRYPTO);
	secrets_free(ring);
	secrets_free(other);
}

static void test_created_file(void **state)
{
	struct fx *f = *state;
	struct stat sb;

	assert_int_equal(stat(f->key_path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 32);
}

static void test_mode_refused(void **state)
{
	struct fx *f = *state;
	static const mode_t bad[] = { 0644, 0640, 0604, 0620, 0602, 0610 };
	struct secrets *s = (struct secrets *)f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(f->key_path, bad[i]), 0);
		assert_int_equal(secrets_load(f->key_path, &s), A11_ERR_IO);
		assert_null(s);
	}
	assert_int_equal(chmod(f->key_path, 0400), 0);
	assert_int_equal(secrets_load(f->key_path, &s), A11_OK);
	secrets_free(s);
}

static void write_file(const char *path, size_t len, mode_t mode)
{
	uint8_t buf[64] = { 0 };
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, mode);

	assert_true(fd >= 0 && len <= sizeof(buf));
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_size_refused(void **state)
{
	struct fx *f = *state;
	static const size_t sizes[] = { 0, 16, 31, 33, 64 };
	struct secrets *s = NULL;
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "size%zu.key", sizes[i]);
		tmpdir_file(&f->dir, name, path);
		write_file(path, sizes[i], 0600);
		assert_int_equal(secrets_load(path, &s), A11_ERR_IO);
		assert_null(s);
	}
	/* Not a file at all, and no file. */
	assert_int_equal(secrets_load(f->dir.path, &s), A11_ERR_IO);
	tmpdir_file(&f->dir, "absent.key", path);
	assert_int_equal(secrets_load(path, &s), A11_ERR_IO);
	assert_null(s);
}

/* create never replaces a key: what was sealed under it still opens. A
 * symlink at the path is refused too, not followed. */
static void test_create_refuses_existing(void **state)
{
	struct fx *f = *state;
	struct secrets *again = NULL;
	char link_path[PATH_MAX], target[PATH_MAX];
	uint8_t *a = NULL, *pt = NULL;
	size_t alen, ptlen;
	struct stat sb;

	seal(f, msg, sizeof(msg), &a, &alen);
	assert_int_equal(secrets_create(f->key_path), A11_ERR_EXISTS);
	assert_int_equal(secrets_load(f->key_path, &again), A11_OK);
	assert_int_equal(secrets_open(again, AAD, a, alen, &pt, &ptlen), A11_OK);
	OPENSSL_cleanse(pt, ptlen);
	free(pt);
	tmpdir_file(&f->dir, "link.key", link_path);
	tmpdir_file(&f->dir, "target.key", target);
	assert_int_equal(symlink(target, link_path), 0);
	assert_int_equal(secrets_create(link_path), A11_ERR_EXISTS);
	assert_int_equal(lstat(target, &sb), -1);
	secrets_free(again);
	free(a);
}

static void test_args(void **state)
{
	struct fx *f = *state;
	uint8_t *out = NULL;
	size_t len = 0;

	assert_int_equal(secrets_seal(f->s, "", msg, sizeof(msg), &out, &len), A11_ERR_ARG);
	assert_int_equal(secrets_seal(f->s, NULL, msg, sizeof(msg), &out, &len), A11_ERR_ARG);
	assert_int_equal(secrets_seal(f->s, AAD, NULL, 3, &out, &len), A11_ERR_ARG);
	assert_int_equal(secrets_seal(NULL, AAD, msg, sizeof(msg), &out, &len), A11_ERR_ARG);
	assert_int_equal(secrets_load(NULL, NULL), A11_ERR_ARG);
	assert_int_equal(secrets_create(NULL), A11_ERR_ARG);
	assert_null(out);
	secrets_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_aad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
