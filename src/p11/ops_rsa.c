/* RSA mechanisms onto the TPM key (scheme NULL, sign and decrypt):
 *
 *  sign  CKM_SHAx_RSA_PKCS             TPM2_Sign RSASSA(x, H(data))
 *        CKM_RSA_PKCS, DigestInfo of   TPM2_Sign RSASSA(x, digest)
 *          SHA-1/256/384/512
 *        CKM_RSA_PKCS, anything else   EMSA-PKCS1-v1_5 type 1 here, then the
 *          (TLS 1.0 MD5+SHA1, ...)     raw private operation (RSA_Decrypt NULL)
 *        PSS, sLen = hLen, MGF1 = hash TPM2_Sign RSAPSS (checked, see pss_sign)
 *        PSS, other parameters         EMSA-PSS here, then the raw operation
 *  decrypt CKM_RSA_PKCS                TPM2_RSA_Decrypt RSAES
 *        OAEP, MGF1 = hash, no label   TPM2_RSA_Decrypt OAEP(hash)
 *        OAEP, other parameters        raw operation, then EME-OAEP decoding here
 *  verify                              OpenSSL with the public key
 *
 * The raw operation needs no trust in the padding we add: the TPM applies
 * its private exponent to whatever block it is given, exactly as a
 * signature would. Labels go to software because the TPM appends a NUL
 * to labels that lack one (Part 1 B.4), which would change lHash. */

/* RSA_padding_add_PKCS1_PSS_mgf1 and RSA_padding_check_PKCS1_OAEP_mgf1
 * are deprecated in OpenSSL 3.0 but have no replacement that works
 * without the private key; the OAEP check is OpenSSL's constant-time one,
 * which a hand-written decoder would have to match. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdatomic.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "../common/log.h"
#include "ops_int.h"

/* DER DigestInfo prefixes (RFC 8017 9.2 note 1): prefix || digest. */
struct digest_info {
	TPMI_ALG_HASH hash;
	size_t len;
	uint8_t prefix[19];
};

static const struct digest_info infos[] = {
	{ TPM2_ALG_SHA1, 15, { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02,
			       0x1a, 0x05, 0x00, 0x04, 0x14 } },
	{ TPM2_ALG_SHA256, 19, { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 } },
	{ TPM2_ALG_SHA384, 19, { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 } },
	{ TPM2_ALG_SHA512, 19, { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
				 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 } },
};

/* Set once a TPM answered RSAPSS with a salt other than hLen (TPM 2.0
 * Part 1 before 1.59 asks for the largest salt; Infineon parts do it):
 * from then on PSS goes straight to the raw path instead of signing
 * twice. Only the route changes, never the result. */
static atomic_bool pss_salt_not_hlen;

static CK_RV sign_tpm(const struct p11_op *op, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		      const uint8_t *digest, size_t len, uint8_t *sig)
{
	TPM2B_DIGEST d = { .size = (UINT16)len };
	TPMT_SIGNATURE ts;
	CK_RV rv;

	memcpy(d.buffer, digest, len);
	memset(&ts, 0, sizeof(ts));
	rv = token_sign(&op->key, scheme, hash, &d, &ts);
	OPENSSL_cleanse(&d, sizeof(d));
	if (rv != CKR_OK)
		return rv;
	/* rsassa and rsapss share one layout (TPMS_SIGNATURE_RSA). */
	if (ts.sigAlg != scheme ||
	    !ops_put_padded(sig, ops_key_bytes(op), ts.signature.rsassa.sig.buffer,
			    ts.signature.rsassa.sig.size))
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

/* The RSA private operation on a k-byte block: RSA_Decrypt, scheme NULL. */
static CK_RV raw_private(const struct p11_op *op, const uint8_t *block, uint8_t *out)
{
	TPM2B_PUBLIC_KEY_RSA in, res;
	size_t k = ops_key_bytes(op);
	CK_RV rv;

	in.size = (UINT16)k;
	memcpy(in.buffer, block, k);
	memset(&res, 0, sizeof(res));
	rv = token_decrypt(&op->key, TPM2_ALG_NULL, TPM2_ALG_NULL, NULL, 0, &in, &res);
	if (rv == CKR_OK && !ops_put_padded(out, k, res.buffer, res.size))
		rv = CKR_DEVICE_ERROR;
	OPENSSL_cleanse(&in, sizeof(in));
	OPENSSL_cleanse(&res, sizeof(res));
	return rv;
}

/* EMSA-PKCS1-v1_5 with the caller's data as T (RFC 8017 9.2 steps 4-5):
 * 00 01 FF..FF 00 data, at least 8 bytes of FF. */
static CK_RV sign_type1(const struct p11_op *op, const uint8_t *data, size_t len,
			uint8_t *sig)
{
	uint8_t em[OPS_RSA_MAX_BYTES];
	size_t k = ops_key_bytes(op);
	CK_RV rv;

	if (len > k - 11)
		return CKR_DATA_LEN_RANGE;
	em[0] = 0x00;
	em[1] = 0x01;
	memset(em + 2, 0xff, k - len - 3);
	em[k - len - 1] = 0x00;
	memcpy(em + k - len, data, len);
	rv = raw_private(op, em, sig);
	OPENSSL_cleanse(em, sizeof(em));
	return rv;
}

static CK_RV sign_pkcs1(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *sig)
{
	if (op->hash != TPM2_ALG_NULL)
		return sign_tpm(op, TPM2_ALG_RSASSA, op->hash, in, len, sig);
	/* A DigestInfo the TPM can build itself goes through TPM2_Sign, which
	 * keys without the decrypt attribute also allow. */
	for (size_t i = 0; i < sizeof(infos) / sizeof(infos[0]); i++) {
		const struct digest_info *di = &infos[i];

		if (len == di->len + ops_hash_size(di->hash) &&
		    memcmp(in, di->prefix, di->len) == 0)
			return sign_tpm(op, TPM2_ALG_RSASSA, di->hash, in + di->len,
					len - di->len, sig);
	}
	return sign_type1(op, in, len, sig);
}

static CK_RV verify_evp(const struct p11_op *op, int pad, const uint8_t *in, size_t len,
			const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->key.pub, NULL);
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (ctx == NULL)
		return CKR_HOST_MEMORY;
	if (EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, pad) != 1)
		goto out;
	/* Raw CKM_RSA_PKCS has no hash: OpenSSL then compares the recovered
	 * block with the data itself. */
	if (op->hash != TPM2_ALG_NULL &&
	    EVP_PKEY_CTX_set_signature_md(ctx, ops_md(op->hash)) != 1)
		goto out;
	if (pad == RSA_PKCS1_PSS_PADDING &&
	    (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, ops_md(op->mgf_hash)) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)op->salt_len) != 1))
		goto out;
	rv = EVP_PKEY_verify(ctx, sig, sig_len, in, len) == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
out:
	EVP_PKEY_CTX_free(ctx);
	return rv;
}

static CK_RV pss_soft(const struct p11_op *op, const uint8_t *digest, uint8_t *sig)
{
	uint8_t em[OPS_RSA_MAX_BYTES] = { 0 };
	RSA *rsa = EVP_PKEY_get1_RSA(op->key.pub);
	CK_RV rv = CKR_FUNCTION_FAILED;

	/* Writes k bytes: a leading zero when modBits - 1 is a multiple of 8. */
	if (rsa != NULL &&
	    RSA_padding_add_PKCS1_PSS_mgf1(rsa, em, digest, ops_md(op->hash),
					   ops_md(op->mgf_hash), (int)op->salt_len) == 1)
		rv = raw_private(op, em, sig);
	RSA_free(rsa);
	OPENSSL_cleanse(em, sizeof(em));
	return rv;
}

/* PSS with the TPM's own RSAPSS when the parameters are the ones TLS 1.3
 * uses (sLen = hLen, MGF1 with the same hash). The TPM takes no salt
 * length and older ones use the largest, which a TLS 1.3 peer rejects;
 * so the result is checked against the requested parameters and, if it
 * does not match, signed again on the raw path. */
static CK_RV pss_sign(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *sig)
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	CK_RV rv;

	if (len != ops_hash_size(op->hash))
		return CKR_DATA_LEN_RANGE;
	/* A copy: the check below reads it after sig, which may be the
	 * caller's data buffer, was written. */
	memcpy(digest, in, len);
	if (op->salt_len != len || op->mgf_hash != op->hash || atomic_load(&pss_salt_not_hlen)) {
		rv = pss_soft(op, digest, sig);
		goto out;
	}
	rv = sign_tpm(op, TPM2_ALG_RSAPSS, op->hash, digest, len, sig);
	if (rv != CKR_OK)
		goto out;
	rv = verify_evp(op, RSA_PKCS1_PSS_PADDING, digest, len, sig, ops_key_bytes(op));
	if (rv != CKR_SIGNATURE_INVALID)
		goto out;
	log_warn("the TPM's RSAPSS salt is not the hash length; signing PSS on the raw path");
	atomic_store(&pss_salt_not_hlen, true);
	rv = pss_soft(op, digest, sig);
out:
	OPENSSL_cleanse(digest, sizeof(digest));
	return rv;
}

CK_RV ops_rsa_sign(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *sig)
{
	const struct ops_mech *d = ops_mech_find(op->mech);

	if (d->fam == FAM_RSA_PSS)
		return pss_sign(op, in, len, sig);
	return sign_pkcs1(op, in, len, sig);
}

CK_RV ops_rsa_verify(const struct p11_op *op, const uint8_t *in, size_t len,
		     const uint8_t *sig, size_t sig_len)
{
	const struct ops_mech *d = ops_mech_find(op->mech);
	size_t k = ops_key_bytes(op);

	if (d->fam == FAM_RSA_PSS && len != ops_hash_size(op->hash))
		return CKR_DATA_LEN_RANGE;
	if (d->fam == FAM_RSA_PKCS && op->hash == TPM2_ALG_NULL && len > k - 11)
		return CKR_DATA_LEN_RANGE;
	if (sig_len != k)
		return CKR_SIGNATURE_LEN_RANGE;
	return verify_evp(op, d->fam == FAM_RSA_PSS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING,
			  in, len, sig, sig_len);
}

static CK_RV decrypt_tpm(const struct p11_op *op, TPM2_ALG_ID scheme, const uint8_t *ct,
			 uint8_t *out, size_t *out_len)
{
	TPM2B_PUBLIC_KEY_RSA in, res;
	size_t k = ops_key_bytes(op);
	CK_RV rv;

	in.size = (UINT16)k;
	memcpy(in.buffer, ct, k);
	memset(&res, 0, sizeof(res));
	rv = token_decrypt(&op->key, scheme, scheme == TPM2_ALG_OAEP ? op->hash : TPM2_ALG_NULL,
			   NULL, 0, &in, &res);
	if (rv == CKR_OK && res.size > k)
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK) {
		memcpy(out, res.buffer, res.size);
		*out_len = res.size;
	}
	OPENSSL_cleanse(&res, sizeof(res));
	return rv;
}

/* EME-OAEP decoding of the raw result, for labels and MGF1 hashes the
 * TPM cannot take. */
static CK_RV oaep_soft(const struct p11_op *op, const uint8_t *ct, uint8_t *out,
		       size_t *out_len)
{
	uint8_t em[OPS_RSA_MAX_BYTES];
	int k = (int)ops_key_bytes(op), n;
	CK_RV rv;

	rv = raw_private(op, ct, em);
	if (rv != CKR_OK)
		goto out;
	n = RSA_padding_check_PKCS1_OAEP_mgf1(out, k, em, k, k, op->label, (int)op->label_len,
					      ops_md(op->hash), ops_md(op->mgf_hash));
	if (n < 0) {
		rv = CKR_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	*out_len = (size_t)n;
out:
	OPENSSL_cleanse(em, sizeof(em));
	return rv;
}

CK_RV ops_rsa_decrypt(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *out,
		      size_t *out_len)
{
	if (len != ops_key_bytes(op))
		return CKR_ENCRYPTED_DATA_LEN_RANGE;
	if (op->mech == CKM_RSA_PKCS)
		return decrypt_tpm(op, TPM2_ALG_RSAES, in, out, out_len);
	if (op->mgf_hash == op->hash && op->label_len == 0)
		return decrypt_tpm(op, TPM2_ALG_OAEP, in, out, out_len);
	return oaep_soft(op, in, out, out_len);
}
