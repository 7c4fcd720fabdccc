#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aead.h"

#define IV_LEN 12
#define TAG_LEN 16

/* One pass of AES-256-GCM; enc selects direction. tag is written when
 * encrypting and checked when decrypting. */
static a11_err gcm(int enc, const uint8_t *key, const uint8_t *iv, const char *aad,
		   const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	ok = c != NULL && len <= INT32_MAX &&
	     EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
	     EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
	     EVP_CipherFinal_ex(c, out + n, &n) == 1 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? A11_OK : A11_ERR_CRYPTO;
}

a11_err wire_aead_seal(const uint8_t key[WIRE_AEAD_KEY], const char *aad, const uint8_t *in,
		       size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = malloc(len + WIRE_AEAD_OVERHEAD);
	a11_err r;

	*out = NULL;
	if (buf == NULL)
		return A11_ERR_NOMEM;
	if (RAND_bytes(buf, IV_LEN) != 1) {
		free(buf);
		return A11_ERR_CRYPTO;
	}
	r = gcm(1, key, buf, aad, in, len, buf + IV_LEN, buf + IV_LEN + len);
	if (r != A11_OK) {
		OPENSSL_cleanse(buf, len + WIRE_AEAD_OVERHEAD);
		free(buf);
		return r;
	}
	*out = buf;
	*out_len = len + WIRE_AEAD_OVERHEAD;
	return A11_OK;
}

a11_err wire_aead_open(const uint8_t key[WIRE_AEAD_KEY], const char *aad, const uint8_t *in,
		       size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t tag[TAG_LEN], *buf;
	size_t n;
	a11_err r;

	*out = NULL;
	if (len < WIRE_AEAD_OVERHEAD)
		return A11_ERR_PARSE;
	n = len - WIRE_AEAD_OVERHEAD;
	if ((buf = malloc(n ? n : 1)) == NULL)
		return A11_ERR_NOMEM;
	memcpy(tag, in + IV_LEN + n, TAG_LEN);
	r = gcm(0, key, in, aad, in + IV_LEN, n, buf, tag);
	if (r != A11_OK) {
		OPENSSL_cleanse(buf, n ? n : 1);
		free(buf);
		return r;
	}
	*out = buf;
	*out_len = n;
	return A11_OK;
}
