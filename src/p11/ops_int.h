/* Private to src/p11/ops*.c: the mechanism table and the per-family
 * signing, verification and decryption helpers that ops.c dispatches to.
 * Nothing outside those files includes this header. */
#ifndef A11_P11_OPS_INT_H
#define A11_P11_OPS_INT_H

#include "ops.h"
#include "token_tpm.h"

/* Data a raw mechanism (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA) may
 * collect through *Update: its input is a digest or a DigestInfo, so
 * anything larger is a caller error, not a reason to grow a buffer. */
#define OPS_RAW_MAX 1024
/* Largest RSA modulus in bytes (4096 bits; TPM2B_PUBLIC_KEY_RSA). */
#define OPS_RSA_MAX_BYTES 512
/* OAEP labels beyond this are refused: no protocol uses them and the
 * label is copied into the operation. */
#define OPS_LABEL_MAX 4096

enum ops_family { FAM_RSA_PKCS, FAM_RSA_PSS, FAM_RSA_OAEP, FAM_ECDSA, FAM_DIGEST };

struct ops_mech {
	CK_MECHANISM_TYPE type;
	CK_KEY_TYPE key;          /* CKK_RSA or CKK_EC; unused for digests */
	enum ops_family fam;
	TPMI_ALG_HASH hash;       /* hash-and-sign and digests; TPM2_ALG_NULL if raw */
	CK_FLAGS flags;           /* CKF_SIGN, CKF_VERIFY, CKF_DECRYPT, CKF_DIGEST, EC flags */
};

/* ops_mech.c */
const struct ops_mech *ops_mech_find(CK_MECHANISM_TYPE m);
const EVP_MD *ops_md(TPMI_ALG_HASH h);
size_t ops_hash_size(TPMI_ALG_HASH h);
/* Within the key sizes ops_mechanism_info advertises. */
bool ops_key_size_ok(CK_KEY_TYPE type, size_t bits);
/* Parse and check m's parameters into op (hash, mgf_hash, salt_len,
 * label); op->key is already set for key mechanisms. */
CK_RV ops_mech_params(struct p11_op *op, const struct ops_mech *d, const CK_MECHANISM *m);

/* The key size in bytes: RSA modulus, or EC order (each of r and s). */
static inline size_t ops_key_bytes(const struct p11_op *op)
{
	return (op->key.bits + 7) / 8;
}

/* Copy a big-endian integer into exactly dlen bytes, left-padded with
 * zeros; leading zeros of src beyond dlen are dropped. false if the value
 * does not fit. */
bool ops_put_padded(uint8_t *dst, size_t dlen, const uint8_t *src, size_t slen);

/* ops_rsa.c. in is the digest (hash-and-sign, PSS) or the raw data
 * (CKM_RSA_PKCS); sig receives exactly the modulus length. */
CK_RV ops_rsa_sign(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *sig);
CK_RV ops_rsa_verify(const struct p11_op *op, const uint8_t *in, size_t len,
		     const uint8_t *sig, size_t sig_len);
/* in is exactly the modulus length; out holds OPS_RSA_MAX_BYTES. */
CK_RV ops_rsa_decrypt(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *out,
		      size_t *out_len);

/* ops_ec.c. in is the digest or CKM_ECDSA's data; sig receives r || s. */
CK_RV ops_ec_sign(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *sig);
CK_RV ops_ec_verify(const struct p11_op *op, const uint8_t *in, size_t len,
		    const uint8_t *sig, size_t sig_len);

#endif
