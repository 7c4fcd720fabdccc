#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../common/log.h"
#include "pin.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define B64_LEN(n) (4 * (((n) + 2) / 3))
#define B64_DATA(n) (((n) * 4 + 2) / 3) /* characters before the '=' padding */
#define B64_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

static a11_err derive(const char *pin, size_t pin_len, const uint8_t *salt, unsigned log2n,
		      unsigned r, unsigned p, uint8_t *out)
{
	uint64_t n = 1ull << log2n;
	/* scrypt needs 128 * r * N bytes; allow that plus slack. */
	uint64_t maxmem = 128ull * r * n + (1u << 20);

	if (EVP_PBE_scrypt(pin, pin_len, salt, SALT_LEN, n, r, p, maxmem, out, HASH_LEN) != 1)
		return A11_ERR_CRYPTO;
	return A11_OK;
}

a11_err pin_hash_new(const char *pin, size_t pin_len, unsigned log2n, char **out)
{
	uint8_t salt[SALT_LEN], hash[HASH_LEN];
	char s64[B64_LEN(SALT_LEN) + 1], h64[B64_LEN(HASH_LEN) + 1];
	char *buf = NULL;
	size_t cap = 32 + sizeof(s64) + sizeof(h64);
	a11_err r;

	*out = NULL;
	if (log2n < 10 || log2n > 20)
		return A11_ERR_ARG;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return A11_ERR_CRYPTO;
	if ((r = derive(pin, pin_len, salt, log2n, 8, 1, hash)) != A11_OK)
		goto out;
	EVP_EncodeBlock((unsigned char *)s64, salt, SALT_LEN);
	EVP_EncodeBlock((unsigned char *)h64, hash, HASH_LEN);
	if ((buf = malloc(cap)) == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	snprintf(buf, cap, "$scrypt$%u$8$1$%s$%s", log2n, s64, h64);
	*out = buf;
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	return r;
}

/* s is base64 of exactly n bytes, '=' only as its padding. */
static bool b64_exact(const char *s, size_t n)
{
	return strlen(s) == B64_LEN(n) && strspn(s, B64_CHARS) == B64_DATA(n) &&
	       strspn(s + B64_DATA(n), "=") == B64_LEN(n) - B64_DATA(n);
}

a11_err pin_verify(const char *pin, size_t pin_len, const char *stored)
{
	char s64[B64_LEN(SALT_LEN) + 1], h64[B64_LEN(HASH_LEN) + 1];
	char canon[sizeof(s64) + sizeof(h64) + 48];
	uint8_t salt[B64_LEN(SALT_LEN)], want[B64_LEN(HASH_LEN)], got[HASH_LEN];
	unsigned log2n, r, p;
	a11_err rc = A11_ERR_PARSE;

	/* Exactly the string pin_hash_new writes: the canonical re-rendering
	 * refuses what sscanf alone lets through (trailing fields, "+10",
	 * " 10", "010", numbers that wrap), and '=' only as padding. */
	if (sscanf(stored, "$scrypt$%u$%u$%u$%24[A-Za-z0-9+/=]$%44[A-Za-z0-9+/=]", &log2n, &r, &p,
		   s64, h64) != 5 || log2n < 10 || log2n > 20 || r < 1 || r > 32 || p != 1 ||
	    !b64_exact(s64, SALT_LEN) || !b64_exact(h64, HASH_LEN) ||
	    snprintf(canon, sizeof(canon), "$scrypt$%u$%u$%u$%s$%s", log2n, r, p, s64, h64) >=
		    (int)sizeof(canon) || strcmp(canon, stored) != 0 ||
	    EVP_DecodeBlock(salt, (unsigned char *)s64, (int)strlen(s64)) < SALT_LEN ||
	    EVP_DecodeBlock(want, (unsigned char *)h64, (int)strlen(h64)) < HASH_LEN) {
		log_error("stored PIN hash is malformed");
		return A11_ERR_PARSE;
	}
	if ((rc = derive(pin, pin_len, salt, log2n, r, p, got)) == A11_OK)
		rc = CRYPTO_memcmp(got, want, HASH_LEN) == 0 ? A11_OK : A11_ERR_TPM_AUTH;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}
