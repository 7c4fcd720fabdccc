/* Seed sharing with a TPM parent and the outer wrapper (Part 1 §22-23,
 * Annex B.10.3 and C.6.1). The parent's private key never leaves the TPM:
 * the seed is encrypted to its public key, and every wrapping key is
 * derived from the seed with KDFa so the TPM can recompute it. */
#include <limits.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "hash.h"
#include "kdf.h"
#include "key.h"
#include "wrap.h"

/* RSA parent: seed = random digest-size bytes, sent as
 * RSA-OAEP(nameAlg for both OAEP and MGF1, label with its NUL). */
static a11_err rsa_seed(const TPMT_PUBLIC *parent, EVP_PKEY *pk, const char *label,
			TPM2B_DIGEST *seed, TPM2B_ENCRYPTED_SECRET *enc)
{
	const EVP_MD *md = wire_md(parent->nameAlg);
	EVP_PKEY_CTX *ctx = NULL;
	size_t llen = strlen(label) + 1, olen = sizeof(enc->secret);
	unsigned char *l = NULL;
	a11_err r = A11_ERR_CRYPTO;

	if (EVP_PKEY_get_size(pk) <= 0 || (size_t)EVP_PKEY_get_size(pk) > olen) {
		r = A11_ERR_UNSUPPORTED;
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(wire_libctx(), pk, NULL)) == NULL ||
	    (l = OPENSSL_memdup(label, llen)) == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)llen) <= 0)
		goto out;
	l = NULL; /* the context owns the label now */
	seed->size = (UINT16)wire_digest_size(parent->nameAlg);
	if (RAND_bytes(seed->buffer, seed->size) != 1 ||
	    EVP_PKEY_encrypt(ctx, enc->secret, &olen, seed->buffer, seed->size) != 1)
		goto out;
	enc->size = (UINT16)olen;
	r = A11_OK;
out:
	OPENSSL_free(l);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* bn as len bytes, left-padded: the form of TPM coordinates and of Z. */
static bool pad(const BIGNUM *bn, uint8_t *out, size_t len)
{
	return BN_bn2binpad(bn, out, (int)len) == (int)len;
}

/* A fresh d_e on the parent's curve, Q_e = d_e·G and Z = x(d_e·Q_P), by
 * EC_POINT arithmetic in wire_libctx(): no EVP_PKEY_CTX, which would hand
 * an EC operation to an ENGINE the application registered (the pkcs11
 * engine of nginx or curl routes EC keys back into attest11.so) when the
 * module salts a session. A one-scalar EC_POINT_mul is OpenSSL's
 * constant-time ladder (P-256: its own constant-time code). Q_P is on the
 * curve, which is the whole check on the NIST curves (cofactor 1):
 * EC_POINT_set_affine_coordinates refuses any other point. */
static a11_err ecdh_ephemeral(const TPMT_PUBLIC *parent, TPMS_ECC_POINT *qe, uint8_t *z,
			      size_t *z_len)
{
	TPMI_ECC_CURVE curve = parent->parameters.eccDetail.curveID;
	int nid = curve == TPM2_ECC_NIST_P256 ? NID_X9_62_prime256v1 :
		  curve == TPM2_ECC_NIST_P384 ? NID_secp384r1 : NID_undef;
	const TPMS_ECC_POINT *pp = &parent->unique.ecc;
	BN_CTX *bn = BN_CTX_secure_new_ex(wire_libctx());
	EC_GROUP *g = nid != NID_undef ? EC_GROUP_new_by_curve_name_ex(wire_libctx(), NULL, nid) : NULL;
	EC_POINT *q = g ? EC_POINT_new(g) : NULL, *e = g ? EC_POINT_new(g) : NULL;
	EC_POINT *sh = g ? EC_POINT_new(g) : NULL;
	BIGNUM *d = BN_secure_new(), *x = BN_new(), *y = BN_new();
	BIGNUM *px = BN_bin2bn(pp->x.buffer, pp->x.size, NULL);
	BIGNUM *py = BN_bin2bn(pp->y.buffer, pp->y.size, NULL);
	size_t flen = g ? ((size_t)EC_GROUP_get_degree(g) + 7) / 8 : 0;
	a11_err r = nid == NID_undef ? A11_ERR_UNSUPPORTED : A11_ERR_CRYPTO;

	if (bn == NULL || g == NULL || q == NULL || e == NULL || sh == NULL || d == NULL ||
	    x == NULL || y == NULL || px == NULL || py == NULL)
		goto out;
	if (flen > *z_len || flen > sizeof(qe->x.buffer)) {
		r = A11_ERR_UNSUPPORTED;
		goto out;
	}
	if (EC_POINT_set_affine_coordinates(g, q, px, py, bn) != 1) {
		r = A11_ERR_PARSE;
		goto out;
	}
	do {
		if (BN_priv_rand_range_ex(d, EC_GROUP_get0_order(g), 0, bn) != 1)
			goto out;
	} while (BN_is_zero(d));
	if (EC_POINT_mul(g, e, d, NULL, NULL, bn) != 1 || EC_POINT_mul(g, sh, NULL, q, d, bn) != 1 ||
	    EC_POINT_is_at_infinity(g, sh) ||
	    EC_POINT_get_affine_coordinates(g, sh, x, NULL, bn) != 1 || !pad(x, z, flen) ||
	    EC_POINT_get_affine_coordinates(g, e, x, y, bn) != 1 || !pad(x, qe->x.buffer, flen) ||
	    !pad(y, qe->y.buffer, flen))
		goto out;
	qe->x.size = qe->y.size = (UINT16)flen;
	*z_len = flen;
	r = A11_OK;
out:
	BN_clear_free(d);
	BN_clear_free(x); /* held x(Z) before Q_e.x */
	BN_free(y);
	BN_free(px);
	BN_free(py);
	EC_POINT_clear_free(sh);
	EC_POINT_free(e);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	BN_CTX_free(bn);
	return r;
}

/* ECC parent: seed = KDFe(nameAlg, Z, label, Q_e.x, Q_P.x, digest bits),
 * sent as the marshalled ephemeral point Q_e. Q_P.x is used exactly as
 * the parent presented it, leading zeros included, as the TPM does. */
static a11_err ecc_seed(const TPMT_PUBLIC *parent, const char *label, TPM2B_DIGEST *seed,
			TPM2B_ENCRYPTED_SECRET *enc)
{
	const TPM2B_ECC_PARAMETER *px = &parent->unique.ecc.x;
	size_t ds = wire_digest_size(parent->nameAlg), zlen, off = 0;
	uint8_t z[TPM2_MAX_ECC_KEY_BYTES];
	TPMS_ECC_POINT qe;
	a11_err r;

	memset(&qe, 0, sizeof(qe));
	zlen = sizeof(z);
	if ((r = ecdh_ephemeral(parent, &qe, z, &zlen)) != A11_OK)
		goto out;
	r = wire_kdfe(parent->nameAlg, z, zlen, label, qe.x.buffer, qe.x.size,
		      px->buffer, px->size, seed->buffer, ds * 8);
	if (r != A11_OK)
		goto out;
	seed->size = (UINT16)ds;
	if (Tss2_MU_TPMS_ECC_POINT_Marshal(&qe, enc->secret, sizeof(enc->secret), &off) !=
	    TSS2_RC_SUCCESS) {
		r = A11_ERR_PARSE;
		goto out;
	}
	enc->size = (UINT16)off;
out:
	OPENSSL_cleanse(z, sizeof(z));
	return r;
}

a11_err wire_seed_make(const TPMT_PUBLIC *parent, const char *label,
		       TPM2B_DIGEST *seed, TPM2B_ENCRYPTED_SECRET *enc)
{
	EVP_PKEY *pk = NULL;
	a11_err r = A11_ERR_ARG;

	if (parent == NULL || label == NULL || seed == NULL || enc == NULL)
		return A11_ERR_ARG;
	memset(enc, 0, sizeof(*enc));
	memset(seed, 0, sizeof(*seed));
	if (wire_digest_size(parent->nameAlg) == 0 ||
	    (parent->type != TPM2_ALG_RSA && parent->type != TPM2_ALG_ECC)) {
		r = A11_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = wire_pub_to_evp(parent, &pk)) != A11_OK)
		goto out;
	if (parent->type == TPM2_ALG_RSA)
		r = rsa_seed(parent, pk, label, seed, enc);
	else
		r = ecc_seed(parent, label, seed, enc);
out:
	if (r != A11_OK) {
		OPENSSL_cleanse(seed, sizeof(*seed));
		memset(enc, 0, sizeof(*enc));
	}
	EVP_PKEY_free(pk);
	return r;
}

a11_err wire_aes_cfb_encrypt(const uint8_t *key, size_t key_len, const uint8_t *iv,
			     const uint8_t *in, size_t len, uint8_t *out)
{
	static const uint8_t zero[16];
	const EVP_CIPHER *c = key_len == 16 ? EVP_aes_128_cfb128() :
			      key_len == 24 ? EVP_aes_192_cfb128() :
			      key_len == 32 ? EVP_aes_256_cfb128() : NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, fin = 0;
	a11_err r = A11_ERR_CRYPTO;

	if (c == NULL || key == NULL || len > INT_MAX || (len && (in == NULL || out == NULL)))
		return A11_ERR_ARG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return A11_ERR_NOMEM;
	/* CFB is a stream mode: Final adds nothing, but completes the API. */
	if (EVP_EncryptInit_ex(ctx, c, NULL, key, iv ? iv : zero) == 1 &&
	    (len == 0 || EVP_EncryptUpdate(ctx, out, &n, in, (int)len) == 1) &&
	    EVP_EncryptFinal_ex(ctx, out + n, &fin) == 1 && (size_t)n + (size_t)fin == len)
		r = A11_OK;
	EVP_CIPHER_CTX_free(ctx); /* clears the expanded key */
	return r;
}

/* The parent's symmetric key size in bytes. A storage parent's symmetric
 * definition is what the TPM uses for the outer wrapper; we handle the
 * AES-CFB that every TCG template specifies. */
static a11_err parent_sym(const TPMT_PUBLIC *parent, size_t *key_bytes)
{
	const TPMT_SYM_DEF_OBJECT *s;

	if (parent->type == TPM2_ALG_RSA)
		s = &parent->parameters.rsaDetail.symmetric;
	else if (parent->type == TPM2_ALG_ECC)
		s = &parent->parameters.eccDetail.symmetric;
	else
		return A11_ERR_UNSUPPORTED;
	if (s->algorithm != TPM2_ALG_AES || s->mode.aes != TPM2_ALG_CFB ||
	    (s->keyBits.aes != 128 && s->keyBits.aes != 256))
		return A11_ERR_UNSUPPORTED;
	*key_bytes = s->keyBits.aes / 8;
	return A11_OK;
}

/* out = HMAC_alg(key, a || b). */
static a11_err hmac2(TPMI_ALG_HASH alg, const uint8_t *key, size_t key_len,
		     const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
		     uint8_t *out, size_t out_cap)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	size_t n = 0;
	a11_err r = A11_ERR_CRYPTO;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(wire_md(alg)), 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1 &&
	    (a_len == 0 || EVP_MAC_update(ctx, a, a_len) == 1) &&
	    (b_len == 0 || EVP_MAC_update(ctx, b, b_len) == 1) &&
	    EVP_MAC_final(ctx, out, &n, out_cap) == 1 && n == wire_digest_size(alg))
		r = A11_OK;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

/* Arguments of wire_outer_wrap that cannot be used as given. */
static a11_err outer_args(const TPMT_PUBLIC *parent, const TPM2B_DIGEST *seed,
			  const TPM2B_NAME *name, const uint8_t *plain, size_t plain_len,
			  const uint8_t *out, const size_t *out_len)
{
	if (parent == NULL || seed == NULL || name == NULL || out == NULL || out_len == NULL ||
	    (plain == NULL && plain_len != 0))
		return A11_ERR_ARG;
	if (wire_digest_size(parent->nameAlg) == 0)
		return A11_ERR_UNSUPPORTED;
	/* An empty seed or Name would make keys anyone can derive. */
	if (seed->size == 0 || seed->size > sizeof(seed->buffer) ||
	    name->size == 0 || name->size > sizeof(name->name))
		return A11_ERR_ARG;
	return A11_OK;
}

a11_err wire_outer_wrap(const TPMT_PUBLIC *parent, const TPM2B_DIGEST *seed,
			const TPM2B_NAME *name, const uint8_t *plain,
			size_t plain_len, uint8_t *out, size_t *out_len)
{
	uint8_t sym[32], hkey[EVP_MAX_MD_SIZE];
	size_t kb = 0, ds = 0;
	a11_err r;

	if ((r = outer_args(parent, seed, name, plain, plain_len, out, out_len)) != A11_OK ||
	    (r = parent_sym(parent, &kb)) != A11_OK)
		goto out;
	ds = wire_digest_size(parent->nameAlg);
	if (plain_len > *out_len || *out_len - plain_len < 2 + ds) {
		r = A11_ERR_ARG;
		goto out;
	}
	/* symKey binds the object's Name; hmacKey depends on the seed only. */
	if ((r = wire_kdfa(parent->nameAlg, seed->buffer, seed->size, "STORAGE",
			   name->name, name->size, NULL, 0, sym, kb * 8)) != A11_OK ||
	    (r = wire_kdfa(parent->nameAlg, seed->buffer, seed->size, "INTEGRITY",
			   NULL, 0, NULL, 0, hkey, ds * 8)) != A11_OK ||
	    (r = wire_aes_cfb_encrypt(sym, kb, NULL, plain, plain_len, out + 2 + ds)) != A11_OK ||
	    (r = hmac2(parent->nameAlg, hkey, ds, out + 2 + ds, plain_len, name->name,
		       name->size, out + 2, ds)) != A11_OK)
		goto out;
	out[0] = (uint8_t)(ds >> 8);
	out[1] = (uint8_t)ds;
	*out_len = 2 + ds + plain_len;
out:
	OPENSSL_cleanse(sym, sizeof(sym));
	OPENSSL_cleanse(hkey, sizeof(hkey));
	return r;
}
