/* Secrets wrapped to a TPM key: seed sharing, the outer wrapper,
 * duplication (import) blobs and MakeCredential (Part 1 §22-24). */
#ifndef A11_WIRE_WRAP_H
#define A11_WIRE_WRAP_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

/* Fresh seed encrypted to parent: RSA-OAEP(nameAlg, label) or ECDH + KDFe.
 * label is "DUPLICATE" or "IDENTITY" (the NUL is appended as required). */
a11_err wire_seed_make(const TPMT_PUBLIC *parent, const char *label,
		       TPM2B_DIGEST *seed, TPM2B_ENCRYPTED_SECRET *enc);

/* Outer wrapper: TPM2B(HMAC) || AES-CFB(symKey, IV 0, plain), keys from
 * KDFa(parent nameAlg, seed, "STORAGE"/"INTEGRITY"), symmetric algorithm
 * and key size from the parent. *out_len is in: capacity, out: length. */
a11_err wire_outer_wrap(const TPMT_PUBLIC *parent, const TPM2B_DIGEST *seed,
			const TPM2B_NAME *name, const uint8_t *plain,
			size_t plain_len, uint8_t *out, size_t *out_len);

/* AES-CFB (128-bit feedback) encryption, the mode of both the outer and
 * the inner wrapper (iv NULL: zero) and of session parameter encryption
 * (iv from KDFa); key_len is 16, 24 or 32, the IV 16 bytes. in and out
 * may be the same buffer but must not otherwise overlap. */
a11_err wire_aes_cfb_encrypt(const uint8_t *key, size_t key_len, const uint8_t *iv,
			     const uint8_t *in, size_t len, uint8_t *out);

/* Largest sealed data object: MAX_SYM_DATA of the TPM reference code
 * (libtpms), smaller than tss2's TPM2_MAX_SYM_DATA (256). */
#define WIRE_SEALED_MAX 128

struct wire_dup_opts {
	TPMI_ALG_HASH name_alg;          /* the new object's nameAlg */
	const TPM2B_DIGEST *auth_policy; /* NULL or empty: none, userWithAuth */
	const TPM2B_AUTH *auth_value;    /* NULL: empty */
	bool inner;                      /* add the inner (AES-128-CFB) wrapper */
};

/* Everything TPM2_Import needs. */
struct wire_dup {
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE duplicate;
	TPM2B_ENCRYPTED_SECRET seed;
	TPM2B_DATA enc_key;           /* inner wrapper key, size 0 if none */
	TPMT_SYM_DEF_OBJECT sym;      /* AES-128-CFB or TPM2_ALG_NULL */
};

/* An RSA or ECC private key for import under parent. RSA keys may sign
 * and decrypt, ECC keys sign; schemes are NULL so any scheme works. */
a11_err wire_dup_key(EVP_PKEY *key, const TPMT_PUBLIC *parent,
		     const struct wire_dup_opts *opts, struct wire_dup *out);
/* A sealed data object (keyedhash, TPM2_Unseal returns data). */
a11_err wire_dup_sealed(const uint8_t *data, size_t len, const TPMT_PUBLIC *parent,
			const struct wire_dup_opts *opts, struct wire_dup *out);
/* Wipe the secret parts (enc_key). */
void wire_dup_clear(struct wire_dup *d);

/* TPM2_MakeCredential in software: protector is the EK, name the AK's. */
a11_err wire_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *name,
			     const TPM2B_DIGEST *secret, TPM2B_ID_OBJECT *cred,
			     TPM2B_ENCRYPTED_SECRET *enc_secret);

#endif
