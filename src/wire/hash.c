#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "hash.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *libctx;

static void make_libctx(void)
{
	OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

	if (c != NULL && OSSL_PROVIDER_load(c, "default") != NULL)
		libctx = c;
	else
		OSSL_LIB_CTX_free(c);
}

/* NULL (the default context) if a private one cannot be made. */
OSSL_LIB_CTX *wire_libctx(void)
{
	pthread_once(&once, make_libctx);
	return libctx;
}

const EVP_MD *wire_md(TPMI_ALG_HASH alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1: return EVP_sha1();
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	case TPM2_ALG_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

size_t wire_digest_size(TPMI_ALG_HASH alg)
{
	const EVP_MD *md = wire_md(alg);

	return md ? (size_t)EVP_MD_get_size(md) : 0;
}

a11_err wire_hash(TPMI_ALG_HASH alg, const uint8_t *in, size_t len, uint8_t *out)
{
	const EVP_MD *md = wire_md(alg);

	if (md == NULL)
		return A11_ERR_UNSUPPORTED;
	return EVP_Digest(in, len, out, NULL, md, NULL) == 1 ? A11_OK : A11_ERR_CRYPTO;
}
