/* KDFa and KDFe (TPM 2.0 Part 1 §11.4.10). Both are counter-mode KDFs:
 * block i (from 1) is a MAC or hash over u32(i) and fixed input, and the
 * blocks are concatenated and cut to the requested length. */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kdf.h"

static void put_u32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* The length is hashed as a u32 of bits, so it must fit one; whole bytes
 * only because every TPM use asks for whole bytes. */
static a11_err check_len(const uint8_t *out, size_t bits)
{
	if (out == NULL || bits == 0 || bits % 8 != 0 || bits > UINT32_MAX)
		return A11_ERR_ARG;
	return A11_OK;
}

/* A NULL pointer with a zero length is an empty input; anything else
 * NULL is a caller bug. */
static int bad_opt(const uint8_t *p, size_t len)
{
	return p == NULL && len != 0;
}

/* One KDFa block: HMAC(key, u32(i) || label || 00 || u || v || u32(bits)). */
static a11_err kdfa_block(EVP_MAC_CTX *mac, const OSSL_PARAM *params,
			  const uint8_t *key, size_t key_len, uint32_t i,
			  const char *label, const uint8_t *u, size_t u_len,
			  const uint8_t *v, size_t v_len, uint32_t bits,
			  uint8_t *block, size_t *block_len)
{
	/* OpenSSL's HMAC treats a NULL key as "keep the previous one". */
	static const uint8_t empty_key[1];
	uint8_t ctr[4], len[4];

	put_u32(ctr, i);
	put_u32(len, bits);
	if (EVP_MAC_init(mac, key_len ? key : empty_key, key_len, params) != 1 ||
	    EVP_MAC_update(mac, ctr, sizeof(ctr)) != 1 ||
	    EVP_MAC_update(mac, (const uint8_t *)label, strlen(label) + 1) != 1 ||
	    (u_len && EVP_MAC_update(mac, u, u_len) != 1) ||
	    (v_len && EVP_MAC_update(mac, v, v_len) != 1) ||
	    EVP_MAC_update(mac, len, sizeof(len)) != 1 ||
	    EVP_MAC_final(mac, block, block_len, EVP_MAX_MD_SIZE) != 1)
		return A11_ERR_CRYPTO;
	return A11_OK;
}

a11_err wire_kdfa(TPMI_ALG_HASH alg, const uint8_t *key, size_t key_len,
		  const char *label, const uint8_t *u, size_t u_len,
		  const uint8_t *v, size_t v_len, uint8_t *out, size_t bits)
{
	const EVP_MD *md = wire_md(alg);
	EVP_MAC *hmac = NULL;
	EVP_MAC_CTX *mac = NULL;
	OSSL_PARAM params[2];
	uint8_t block[EVP_MAX_MD_SIZE];
	size_t done = 0, want = bits / 8, blen = 0;
	a11_err r;

	if ((r = check_len(out, bits)) != A11_OK)
		goto out;
	if (label == NULL || bad_opt(key, key_len) || bad_opt(u, u_len) || bad_opt(v, v_len)) {
		r = A11_ERR_ARG;
		goto out;
	}
	if (md == NULL) {
		r = A11_ERR_UNSUPPORTED;
		goto out;
	}
	r = A11_ERR_CRYPTO;
	if ((hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (mac = EVP_MAC_CTX_new(hmac)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(md), 0);
	params[1] = OSSL_PARAM_construct_end();
	for (uint32_t i = 1; done < want; i++) {
		r = kdfa_block(mac, params, key, key_len, i, label, u, u_len, v, v_len,
			       (uint32_t)bits, block, &blen);
		if (r != A11_OK)
			goto out;
		/* The last block is cut: only the leading bytes are output. */
		size_t n = want - done < blen ? want - done : blen;
		memcpy(out + done, block, n);
		done += n;
	}
	r = A11_OK;
out:
	OPENSSL_cleanse(block, sizeof(block));
	EVP_MAC_CTX_free(mac);
	EVP_MAC_free(hmac);
	if (r != A11_OK && done != 0)
		OPENSSL_cleanse(out, done); /* no partial key for a caller to misuse */
	return r;
}

/* One KDFe block: H(u32(i) || z || use || 00 || pu || pv). */
static a11_err kdfe_block(EVP_MD_CTX *ctx, const EVP_MD *md, uint32_t i,
			  const uint8_t *z, size_t z_len, const char *use,
			  const uint8_t *pu, size_t pu_len, const uint8_t *pv,
			  size_t pv_len, uint8_t *block, unsigned int *block_len)
{
	uint8_t ctr[4];

	put_u32(ctr, i);
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, ctr, sizeof(ctr)) != 1 ||
	    (z_len && EVP_DigestUpdate(ctx, z, z_len) != 1) ||
	    EVP_DigestUpdate(ctx, use, strlen(use) + 1) != 1 ||
	    (pu_len && EVP_DigestUpdate(ctx, pu, pu_len) != 1) ||
	    (pv_len && EVP_DigestUpdate(ctx, pv, pv_len) != 1) ||
	    EVP_DigestFinal_ex(ctx, block, block_len) != 1)
		return A11_ERR_CRYPTO;
	return A11_OK;
}

a11_err wire_kdfe(TPMI_ALG_HASH alg, const uint8_t *z, size_t z_len,
		  const char *use, const uint8_t *pu, size_t pu_len,
		  const uint8_t *pv, size_t pv_len, uint8_t *out, size_t bits)
{
	const EVP_MD *md = wire_md(alg);
	EVP_MD_CTX *ctx = NULL;
	uint8_t block[EVP_MAX_MD_SIZE];
	size_t done = 0, want = bits / 8;
	unsigned int blen = 0;
	a11_err r;

	if ((r = check_len(out, bits)) != A11_OK)
		goto out;
	if (use == NULL || bad_opt(z, z_len) || bad_opt(pu, pu_len) || bad_opt(pv, pv_len)) {
		r = A11_ERR_ARG;
		goto out;
	}
	if (md == NULL) {
		r = A11_ERR_UNSUPPORTED;
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	for (uint32_t i = 1; done < want; i++) {
		r = kdfe_block(ctx, md, i, z, z_len, use, pu, pu_len, pv, pv_len, block, &blen);
		if (r != A11_OK)
			goto out;
		size_t n = want - done < blen ? want - done : blen;
		memcpy(out + done, block, n);
		done += n;
	}
	r = A11_OK;
out:
	OPENSSL_cleanse(block, sizeof(block));
	EVP_MD_CTX_free(ctx);
	if (r != A11_OK && done != 0)
		OPENSSL_cleanse(out, done); /* no partial key for a caller to misuse */
	return r;
}
