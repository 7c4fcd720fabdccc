#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../common/log.h"
#include "../wire/pin.h"
#include "pin.h"
#include "store.h"

#define AUTH_LEN 32                    /* SHA-256, as src/wire/pin.c derives it */
#define SEALED_LEN (SECRETS_OVERHEAD + AUTH_LEN)       /* src/broker/secrets.h's format 2 */
#define SEALED_LEN_V1 (SECRETS_OVERHEAD_V1 + AUTH_LEN) /* format 1, still read */
#define B64_LEN(n) (4 * (((n) + 2) / 3))
#define B64_DATA(n) (((n) * 4 + 2) / 3) /* characters before the '=' padding */
#define B64_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#define PREFIX "$a11auth$1$"
#define MAX_ITERATIONS 10000000u       /* src/wire/pin.c's bound */

/* What a record is sealed for: its credential and its iteration count,
 * so it can be neither moved to another credential nor made cheaper. */
static void aad_of(const char *cred, uint32_t iterations, char *aad, size_t cap)
{
	snprintf(aad, cap, "pin:%s:%u", cred, iterations);
}

static a11_err encode(uint32_t iterations, const uint8_t *sealed, char **out)
{
	char b64[B64_LEN(SEALED_LEN) + 1];
	size_t cap = sizeof(PREFIX) + 12 + sizeof(b64);

	EVP_EncodeBlock((unsigned char *)b64, sealed, SEALED_LEN);
	if ((*out = malloc(cap)) == NULL)
		return A11_ERR_NOMEM;
	snprintf(*out, cap, PREFIX "%u$%s", iterations, b64);
	return A11_OK;
}

static a11_err seal(struct secrets *s, const char *cred, const TPM2B_AUTH *auth,
		    uint32_t iterations, char **out)
{
	char aad[STORE_NAME_MAX + 32];
	uint8_t *sealed = NULL;
	size_t len = 0;
	a11_err r;

	aad_of(cred, iterations, aad, sizeof(aad));
	if ((r = secrets_seal(s, aad, auth->buffer, auth->size, &sealed, &len)) != A11_OK)
		return r;
	r = len == SEALED_LEN ? encode(iterations, sealed, out) : A11_ERR_CRYPTO;
	free(sealed);
	return r;
}

a11_err pin_record_new(struct secrets *s, const char *cred, const char *pin, size_t pin_len,
		       const uint8_t *salt, size_t salt_len, uint32_t iterations, char **out)
{
	TPM2B_AUTH auth;
	a11_err r;

	*out = NULL;
	if ((r = wire_pin_auth(pin, pin_len, salt, salt_len, iterations, &auth)) == A11_OK)
		r = auth.size == AUTH_LEN ? seal(s, cred, &auth, iterations, out) : A11_ERR_CRYPTO;
	OPENSSL_cleanse(&auth, sizeof(auth));
	return r;
}

/* The sealed value's length its base64 length says: either format. */
static size_t sealed_len_of(const char *b64)
{
	size_t n = strlen(b64);

	if (n == B64_LEN(SEALED_LEN) && strspn(b64, B64_CHARS) == B64_DATA(SEALED_LEN))
		return SEALED_LEN;
	if (n == B64_LEN(SEALED_LEN_V1) && strspn(b64, B64_CHARS) == B64_DATA(SEALED_LEN_V1))
		return SEALED_LEN_V1;
	return 0;
}

/* Exactly what encode writes: the canonical re-rendering refuses what
 * sscanf alone lets through ("+10", " 10", "010", numbers that wrap,
 * trailing bytes), and '=' only as padding. */
static a11_err parse(const char *cred, const char *stored, uint32_t *iterations,
		     uint8_t sealed[SEALED_LEN], size_t *sealed_len)
{
	char b64[B64_LEN(SEALED_LEN) + 2], canon[sizeof(PREFIX) + 12 + sizeof(b64)];
	uint8_t buf[B64_LEN(SEALED_LEN)];
	unsigned it;
	size_t n = 0;

	if (strncmp(stored, "$scrypt$", 8) == 0) {
		log_error("credential %s: its PIN record is an older broker's; set the PIN again "
			  "(attest11-broker credential pin %s --pin-file FILE)", cred, cred);
		return A11_ERR_PARSE;
	}
	_Static_assert(B64_LEN(SEALED_LEN) == 88, "the sscanf width below");
	if (sscanf(stored, PREFIX "%u$%89[A-Za-z0-9+/=]", &it, b64) != 2 || it == 0 ||
	    it > MAX_ITERATIONS || (n = sealed_len_of(b64)) == 0 ||
	    snprintf(canon, sizeof(canon), PREFIX "%u$%s", it, b64) >= (int)sizeof(canon) ||
	    strcmp(canon, stored) != 0 ||
	    EVP_DecodeBlock(buf, (unsigned char *)b64, (int)strlen(b64)) < (int)n) {
		log_error("credential %s: its PIN record is malformed", cred);
		return A11_ERR_PARSE;
	}
	memcpy(sealed, buf, n);
	*sealed_len = n;
	*iterations = it;
	return A11_OK;
}

a11_err pin_record_iterations(const char *cred, const char *stored, uint32_t *iterations)
{
	uint8_t sealed[SEALED_LEN];
	size_t n;

	return parse(cred, stored, iterations, sealed, &n);
}

a11_err pin_record_key(const char *cred, const char *stored, uint32_t *id)
{
	uint8_t sealed[SEALED_LEN];
	uint32_t it;
	size_t n;
	a11_err r = parse(cred, stored, &it, sealed, &n);

	return r == A11_OK ? secrets_sealed_id(sealed, n, id) : r;
}

/* The record's authValue, for exactly this credential. */
static a11_err open_record(struct secrets *s, const char *cred, const char *stored,
			   uint32_t *iterations, TPM2B_AUTH *auth)
{
	uint8_t sealed[SEALED_LEN], *plain = NULL;
	size_t len = 0, n;
	char aad[STORE_NAME_MAX + 32];
	a11_err r;

	if ((r = parse(cred, stored, iterations, sealed, &n)) != A11_OK)
		return r;
	aad_of(cred, *iterations, aad, sizeof(aad));
	if ((r = secrets_open(s, aad, sealed, n, &plain, &len)) != A11_OK)
		return r;
	if (len == AUTH_LEN) {
		auth->size = AUTH_LEN;
		memcpy(auth->buffer, plain, AUTH_LEN);
	} else {
		r = A11_ERR_CRYPTO;
	}
	OPENSSL_cleanse(plain, len);
	free(plain);
	return r;
}

a11_err pin_record_check(struct secrets *s, const char *cred, const char *stored,
			 const TPM2B_AUTH *offered, TPM2B_AUTH *auth)
{
	uint32_t iterations;
	TPM2B_AUTH want;
	a11_err r = open_record(s, cred, stored, &iterations, &want);

	if (r == A11_OK && (offered->size != AUTH_LEN ||
			    CRYPTO_memcmp(offered->buffer, want.buffer, AUTH_LEN) != 0))
		r = A11_ERR_TPM_AUTH;
	if (r == A11_OK)
		*auth = want;
	OPENSSL_cleanse(&want, sizeof(want));
	return r;
}

a11_err pin_record_reseal(struct secrets *s, const char *cred, const char *stored, char **out)
{
	uint32_t iterations;
	TPM2B_AUTH auth;
	a11_err r = open_record(s, cred, stored, &iterations, &auth);

	*out = NULL;
	if (r == A11_OK)
		r = seal(s, cred, &auth, iterations, out);
	OPENSSL_cleanse(&auth, sizeof(auth));
	return r;
}
