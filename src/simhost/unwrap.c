/* What the TPM does with a secret wrapped to one of its keys (Part 1
 * §22-24, Annex B.10.3, C.6.1): recover the seed with the private key,
 * derive the HMAC and AES keys with KDFa, check the outer HMAC over
 * encrypted data ‖ Name, decrypt. The inverse of src/wire/seed.c and
 * dup.c, kept apart from them: the broker must never be able to unwrap. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "../common/log.h"
#include "../wire/hash.h"
#include "../wire/kdf.h"
#include "../wire/key.h"
#include "internal.h"

/* RSA-OAEP(nameAlg for OAEP and MGF1, label with its NUL). */
static a11_err rsa_seed(const struct simhost_key *k, const char *label,
			const TPM2B_ENCRYPTED_SECRET *enc, TPM2B_DIGEST *seed)
{
	const EVP_MD *md = wire_md(k->pub.publicArea.nameAlg);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(wire_libctx(), k->key, NULL);
	unsigned char *l = OPENSSL_memdup(label, strlen(label) + 1);
	uint8_t buf[512];
	size_t n = sizeof(buf);
	a11_err r = A11_ERR_TPM_INTEGRITY;

	if (ctx == NULL || l == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)strlen(label) + 1) <= 0)
		goto out;
	l = NULL; /* the context owns it */
	/* A seed longer than the digest is refused, as by the TPM. */
	if (EVP_PKEY_decrypt(ctx, buf, &n, enc->secret, enc->size) != 1 || n == 0 ||
	    n > wire_digest_size(k->pub.publicArea.nameAlg))
		goto out;
	memcpy(seed->buffer, buf, n);
	seed->size = (UINT16)n;
	r = A11_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_free(l);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Z = x(d_P · Q_e), padded to the field: OpenSSL's ECDH derive output. */
static a11_err ecdh_z(const struct simhost_key *k, const TPMS_ECC_POINT *qe, uint8_t *z,
		      size_t *z_len)
{
	TPMT_PUBLIC peer = k->pub.publicArea;
	EVP_PKEY *pe = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	a11_err r;

	peer.unique.ecc = *qe;
	/* An off-curve point fails here: the TPM answers TPM_RC_ECC_POINT. */
	if ((r = wire_pub_to_evp(&peer, &pe)) != A11_OK) {
		r = A11_ERR_TPM_INTEGRITY;
		goto out;
	}
	r = A11_ERR_CRYPTO;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(wire_libctx(), k->key, NULL)) != NULL &&
	    EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, pe) == 1 &&
	    EVP_PKEY_derive(ctx, z, z_len) == 1)
		r = A11_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pe);
	return r;
}

/* seed = KDFe(nameAlg, Z, label, Q_e.x, Q_P.x, digest bits). */
static a11_err ecc_seed(const struct simhost_key *k, const char *label,
			const TPM2B_ENCRYPTED_SECRET *enc, TPM2B_DIGEST *seed)
{
	const TPMT_PUBLIC *p = &k->pub.publicArea;
	size_t ds = wire_digest_size(p->nameAlg), off = 0, zlen;
	uint8_t z[TPM2_MAX_ECC_KEY_BYTES];
	TPMS_ECC_POINT qe;
	a11_err r;

	memset(&qe, 0, sizeof(qe));
	if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc->secret, enc->size, &off, &qe) !=
	    TSS2_RC_SUCCESS || off != enc->size)
		return A11_ERR_TPM_INTEGRITY;
	zlen = sizeof(z);
	r = ecdh_z(k, &qe, z, &zlen);
	if (r == A11_OK)
		r = wire_kdfe(p->nameAlg, z, zlen, label, qe.x.buffer, qe.x.size,
			      p->unique.ecc.x.buffer, p->unique.ecc.x.size, seed->buffer, ds * 8);
	seed->size = (UINT16)ds;
	OPENSSL_cleanse(z, sizeof(z));
	return r;
}

static a11_err seed_recover(const struct simhost_key *k, const char *label,
			    const TPM2B_ENCRYPTED_SECRET *enc, TPM2B_DIGEST *seed)
{
	memset(seed, 0, sizeof(*seed));
	if (wire_digest_size(k->pub.publicArea.nameAlg) == 0)
		return A11_ERR_UNSUPPORTED;
	return k->pub.publicArea.type == TPM2_ALG_RSA ? rsa_seed(k, label, enc, seed)
						       : ecc_seed(k, label, enc, seed);
}

/* The parent's AES key size in bytes (every template here is AES-CFB). */
static size_t sym_bytes(const TPMT_PUBLIC *p)
{
	const TPMT_SYM_DEF_OBJECT *s = p->type == TPM2_ALG_RSA ? &p->parameters.rsaDetail.symmetric
							       : &p->parameters.eccDetail.symmetric;

	return s->algorithm == TPM2_ALG_AES && s->mode.aes == TPM2_ALG_CFB ? s->keyBits.aes / 8u : 0;
}

static a11_err aes_cfb_decrypt(const uint8_t *key, size_t key_len, const uint8_t *in, size_t len,
			       uint8_t *out)
{
	static const uint8_t zero[16];
	const EVP_CIPHER *c = key_len == 16 ? EVP_aes_128_cfb128() :
			      key_len == 32 ? EVP_aes_256_cfb128() : NULL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	a11_err r = A11_ERR_CRYPTO;

	if (c != NULL && ctx != NULL && EVP_DecryptInit_ex(ctx, c, NULL, key, zero) == 1 &&
	    (len == 0 || EVP_DecryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
	    EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1 && (size_t)(n + fin) == len)
		r = A11_OK;
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* HMAC(hmacKey, encrypted ‖ Name) against the blob's, in constant time. */
static a11_err hmac_check(TPMI_ALG_HASH alg, const TPM2B_DIGEST *seed, const TPM2B_NAME *name,
			  const uint8_t *mac, const uint8_t *enc, size_t enc_len)
{
	uint8_t hkey[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	uint8_t msg[sizeof(TPM2B_PRIVATE) + sizeof(TPM2B_NAME)];
	size_t ds = wire_digest_size(alg), n = 0;
	a11_err r = wire_kdfa(alg, seed->buffer, seed->size, "INTEGRITY", NULL, 0, NULL, 0, hkey,
			      ds * 8);

	if (r != A11_OK)
		goto out;
	memcpy(msg, enc, enc_len);
	memcpy(msg + enc_len, name->name, name->size);
	r = A11_ERR_CRYPTO;
	if (EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(wire_md(alg)), NULL, hkey, ds, msg,
		      enc_len + name->size, got, sizeof(got), &n) == NULL || n != ds)
		goto out;
	r = CRYPTO_memcmp(got, mac, ds) == 0 ? A11_OK : A11_ERR_TPM_INTEGRITY;
out:
	OPENSSL_cleanse(hkey, sizeof(hkey));
	return r;
}

/* blob = TPM2B(outerHMAC) ‖ AES-CFB(symKey, IV 0, plain). */
static a11_err outer_unwrap(const struct simhost_key *k, const TPM2B_DIGEST *seed,
			    const TPM2B_NAME *name, const uint8_t *blob, size_t len, uint8_t *out,
			    size_t *out_len)
{
	TPMI_ALG_HASH alg = k->pub.publicArea.nameAlg;
	size_t ds = wire_digest_size(alg), kb = sym_bytes(&k->pub.publicArea);
	uint8_t sym[32];
	a11_err r = A11_ERR_TPM_INTEGRITY;

	if (kb == 0 || kb > sizeof(sym))
		return A11_ERR_UNSUPPORTED;
	if (len < 2 + ds || (size_t)(blob[0] << 8 | blob[1]) != ds || len - 2 - ds > *out_len ||
	    len - 2 - ds > sizeof(TPM2B_PRIVATE))
		return r;
	*out_len = len - 2 - ds;
	if ((r = hmac_check(alg, seed, name, blob + 2, blob + 2 + ds, *out_len)) == A11_OK &&
	    (r = wire_kdfa(alg, seed->buffer, seed->size, "STORAGE", name->name, name->size, NULL,
			   0, sym, kb * 8)) == A11_OK)
		r = aes_cfb_decrypt(sym, kb, blob + 2 + ds, *out_len, out);
	OPENSSL_cleanse(sym, sizeof(sym));
	return r;
}

a11_err simhost_activate(const struct simhost *h, const TPM2B_ID_OBJECT *cred,
			 const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST *out)
{
	uint8_t plain[sizeof(TPM2B_ID_OBJECT)];
	size_t len = sizeof(plain), off = 0;
	TPM2B_DIGEST seed;
	a11_err r;

	if (h == NULL || cred == NULL || secret == NULL || out == NULL ||
	    cred->size > sizeof(cred->credential))
		return A11_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if ((r = seed_recover(&h->ek, "IDENTITY", secret, &seed)) == A11_OK &&
	    (r = outer_unwrap(&h->ek, &seed, &h->ak.name, cred->credential, cred->size, plain,
			      &len)) == A11_OK &&
	    (Tss2_MU_TPM2B_DIGEST_Unmarshal(plain, len, &off, out) != TSS2_RC_SUCCESS || off != len))
		r = A11_ERR_TPM_INTEGRITY;
	if (r != A11_OK)
		log_warn("credential activation failed: %s", a11_strerror(r));
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(&seed, sizeof(seed));
	return r;
}

a11_err simhost_unwrap(const struct simhost *h, enum simhost_obj parent,
		       const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *dup,
		       const TPM2B_ENCRYPTED_SECRET *seed_enc, TPM2B_SENSITIVE *out)
{
	const struct simhost_key *k = parent == SIMHOST_BORN ? NULL : simhost_key(h, parent);
	uint8_t plain[sizeof(TPM2B_PRIVATE)];
	size_t len = sizeof(plain), off = 0;
	TPM2B_DIGEST seed;
	TPM2B_NAME name;
	a11_err r;

	if (k == NULL || pub == NULL || dup == NULL || seed_enc == NULL || out == NULL ||
	    dup->size > sizeof(dup->buffer))
		return A11_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if ((r = wire_name(&pub->publicArea, &name)) == A11_OK &&
	    (r = seed_recover(k, "DUPLICATE", seed_enc, &seed)) == A11_OK &&
	    (r = outer_unwrap(k, &seed, &name, dup->buffer, dup->size, plain, &len)) == A11_OK &&
	    (Tss2_MU_TPM2B_SENSITIVE_Unmarshal(plain, len, &off, out) != TSS2_RC_SUCCESS ||
	     off != len))
		r = A11_ERR_TPM_INTEGRITY;
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(&seed, sizeof(seed));
	return r;
}
