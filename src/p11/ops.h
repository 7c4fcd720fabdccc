/* The cryptographic operations of a session (C_Sign*, C_Verify*,
 * C_Decrypt*, C_Digest*): mechanism tables and parameter checks, hashing,
 * PKCS#1 encodings, the two-call buffer convention, and the mapping of
 * each mechanism onto the TPM. Private-key work goes to token_sign /
 * token_decrypt (the key never leaves the TPM); verification and digests
 * run in software on public data. */
#ifndef A11_P11_OPS_H
#define A11_P11_OPS_H

#include "p11.h"

/* Mechanisms a token of this key type offers (including digests). */
void ops_mechanisms(CK_KEY_TYPE type, const CK_MECHANISM_TYPE **list, size_t *n);
/* CKR_MECHANISM_INVALID if the token does not offer m. */
CK_RV ops_mechanism_info(CK_KEY_TYPE type, CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info);
/* CKA_ALLOWED_MECHANISMS of a key of this type (no digests). */
void ops_key_mechanisms(CK_KEY_TYPE type, const CK_MECHANISM_TYPE **list, size_t *n);

/* Start an operation. key is NULL for OP_DIGEST. Checks the mechanism
 * against the key (type, CKA_ALLOWED_MECHANISMS, class: private keys sign
 * and decrypt, public keys verify) and its parameters. Takes its own
 * reference on key->pub. On error op stays OP_NONE. */
CK_RV ops_init(struct p11_op *op, enum p11_op_kind kind, const CK_MECHANISM *m,
	       const struct p11_key *key);
/* Multi-part data (C_SignUpdate, C_VerifyUpdate, C_DigestUpdate).
 * Any error ends the operation. */
CK_RV ops_update(struct p11_op *op, const CK_BYTE *data, CK_ULONG len);

/* Producing calls follow PKCS#11 §5.2: out == NULL -> *out_len = the size
 * needed, CKR_OK, operation continues; *out_len too small ->
 * CKR_BUFFER_TOO_SMALL with *out_len = needed, operation continues; else
 * the result, and the operation ends, as it does on any other error.
 * single: the one-shot call (C_Sign, C_Decrypt, C_Digest) with data;
 * otherwise the Final call (data ignored). */
CK_RV ops_sign(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
	       CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV ops_decrypt(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		  CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV ops_digest(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		 CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* Always ends the operation. CKR_SIGNATURE_INVALID / _LEN_RANGE. */
CK_RV ops_verify(struct p11_op *op, bool single, const CK_BYTE *data, CK_ULONG len,
		 const CK_BYTE *sig, CK_ULONG sig_len);

/* End the operation, free and cleanse its state (op becomes OP_NONE). */
void ops_clear(struct p11_op *op);

#endif
