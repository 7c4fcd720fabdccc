/* Private keys without copies left behind (privkey.h).
 *
 * Where the copies came from: OpenSSL's PEM reader decodes base64 line by
 * line into buffers of its own, and its decoders copy the DER again
 * (provider der2key reads the whole input into a fresh buffer); for EC,
 * d2i_ECPrivateKey parses the scalar into an ASN1_OCTET_STRING that it
 * frees without cleansing. The caller cleansing its PEM reaches none of
 * them. So the PEM is decoded here into buffers this file cleanses, and
 * what OpenSSL copies inside the decoder is wiped when it is freed, by
 * allocation functions that clear every block before free() sees it. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <cjose/util.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "../wire/key.h"
#include "privkey.h"

#define PEM_BEGIN "-----BEGIN "
#define PEM_END "-----END "

/* ---- wiping allocation ---------------------------------------------------- */

/* malloc_usable_size: what the block can hold, so all of it is cleared
 * (ASan reports the size asked for, which is what was written). */
static void wipe_free(void *p)
{
	if (p != NULL)
		OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

/* realloc would free the old block uncleared: move by hand instead. */
static void *wipe_realloc(void *p, size_t n)
{
	void *q;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, n < malloc_usable_size(p) ? n : malloc_usable_size(p));
	wipe_free(p);
	return q;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file, (void)line;
	return malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file, (void)line;
	return wipe_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file, (void)line;
	wipe_free(p);
}

int privkey_wipe_heap(void)
{
	/* cjose's setter also installs functions of its own into OpenSSL
	 * and jansson: ours go in after it. */
	cjose_set_alloc_funcs(malloc, wipe_realloc, wipe_free);
	json_set_alloc_funcs(malloc, wipe_free);
	return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1 ? 0 : -1;
}

/* ---- PEM ---------------------------------------------------------------- */

/* The base64 body between the BEGIN and END lines, whitespace dropped,
 * into b64 (len bytes at least); its length, or 0. */
static size_t pem_body(const char *pem, size_t len, char *b64)
{
	const char *p = memmem(pem, len, PEM_BEGIN, strlen(PEM_BEGIN)), *end;
	size_t n = 0;

	if (p == NULL || (p = memchr(p, '\n', len - (size_t)(p - pem))) == NULL ||
	    (end = memmem(p, len - (size_t)(p - pem), PEM_END, strlen(PEM_END))) == NULL)
		return 0;
	for (; p < end; p++)
		if (!isspace((unsigned char)*p))
			b64[n++] = *p;
	return n % 4 == 0 ? n : 0;
}

EVP_PKEY *privkey_from_pem(const uint8_t *pem, size_t len)
{
	char *b64 = malloc(len + 1);
	unsigned char *der = malloc(len + 1);
	EVP_PKEY *k = NULL;
	size_t n = b64 && der ? pem_body((const char *)pem, len, b64) : 0;
	int dlen = n > 0 ? EVP_DecodeBlock(der, (unsigned char *)b64, (int)n) : -1;

	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (dlen > 0) {
		dlen -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
		if (wire_private_from_der(der, (size_t)dlen, &k) != A11_OK)
			k = NULL;
	}
	ERR_clear_error();
	if (b64 != NULL)
		OPENSSL_cleanse(b64, len + 1);
	if (der != NULL)
		OPENSSL_cleanse(der, len + 1);
	free(b64);
	free(der);
	return k;
}
