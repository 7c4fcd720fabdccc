/* A software stand-in for the TPM behind src/p11/ops*.c, and helpers,
 * for test_p11_ops.c and test_p11_ops_checks.c. Each includes it once: it
 * defines token_sign and token_decrypt, so the linker never pulls
 * src/p11/token_tpm.c out of libp11.a.
 *
 * It does what TPM2_Sign and TPM2_RSA_Decrypt do with a key of scheme
 * NULL, with a software private key:
 *   RSASSA  PKCS#1 v1.5 over DigestInfo(hash, digest)
 *   RSAPSS  PSS with MGF1(hash), salt = hash length (or the largest salt,
 *           as TPMs before spec 1.59 do, when fake_tpm.max_salt is set)
 *   ECDSA   ECDSA over the digest, r and s in minimal big-endian form
 *   RSAES   PKCS#1 v1.5 decryption; OAEP(hash) with MGF1(hash) and the
 *           TPM's NUL-terminated label; NULL: the raw private operation
 * and it enforces the TPM's input rules (a digest is exactly the size of
 * the hash it names; ciphertext is exactly the modulus size) with
 * assertions, and records which command each operation became. The real
 * TPM path (token_tpm.c, policy sessions, swtpm) is covered by the
 * integration tests. */
#ifndef A11_TEST_P11_OPS_FIXTURE_H
#define A11_TEST_P11_OPS_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../../src/p11/ops.h"
#include "../../src/p11/token_tpm.h"
#include "../testlib.h"

static struct {
	EVP_PKEY *priv;          /* the key "in the TPM" */
	unsigned n_sign, n_decrypt;
	TPM2_ALG_ID scheme;      /* of the last call */
	TPMI_ALG_HASH hash;
	bool max_salt;
	CK_RV fail;              /* returned by the next calls when set */
} fake_tpm;

static inline const EVP_MD *fx_md(TPMI_ALG_HASH h)
{
	switch (h) {
	case TPM2_ALG_SHA1: return EVP_sha1();
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	case TPM2_ALG_SHA512: return EVP_sha512();
	default: fail_msg("hash %#x", h); return NULL;
	}
}

static inline void fx_ecdsa(EVP_PKEY_CTX *ctx, const TPM2B_DIGEST *d, TPMT_SIGNATURE *sig)
{
	unsigned char der[160];
	const unsigned char *p = der;
	size_t len = sizeof(der);
	const BIGNUM *r, *s;
	ECDSA_SIG *es;

	assert_int_equal(EVP_PKEY_sign(ctx, der, &len, d->buffer, d->size), 1);
	es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);
	/* Minimal encodings: ops_ec.c must pad r and s itself. */
	sig->signature.ecdsa.signatureR.size =
		(UINT16)BN_bn2bin(r, sig->signature.ecdsa.signatureR.buffer);
	sig->signature.ecdsa.signatureS.size =
		(UINT16)BN_bn2bin(s, sig->signature.ecdsa.signatureS.buffer);
	ECDSA_SIG_free(es);
}

static inline void fx_rsa(EVP_PKEY_CTX *ctx, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		   const TPM2B_DIGEST *d, TPMT_SIGNATURE *sig)
{
	size_t len = sizeof(sig->signature.rsassa.sig.buffer);
	int pss = scheme == TPM2_ALG_RSAPSS;

	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING
								: RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, fx_md(hash)), 1);
	if (pss)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, fake_tpm.max_salt
				 ? RSA_PSS_SALTLEN_MAX : RSA_PSS_SALTLEN_DIGEST), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, sig->signature.rsassa.sig.buffer, &len, d->buffer,
				       d->size), 1);
	sig->signature.rsassa.sig.size = (UINT16)len;
	sig->signature.rsassa.hash = hash;
}

CK_RV token_sign(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		 const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig)
{
	EVP_PKEY_CTX *ctx;

	assert_non_null(key);
	fake_tpm.n_sign++;
	fake_tpm.scheme = scheme;
	fake_tpm.hash = hash;
	if (fake_tpm.fail != CKR_OK)
		return fake_tpm.fail;
	/* TPM2_Sign without a ticket: TPM_RC_SIZE unless this holds. */
	assert_int_equal(digest->size, EVP_MD_get_size(fx_md(hash)));
	assert_int_equal(EVP_PKEY_get_base_id(fake_tpm.priv),
			 scheme == TPM2_ALG_ECDSA ? EVP_PKEY_EC : EVP_PKEY_RSA);
	ctx = EVP_PKEY_CTX_new(fake_tpm.priv, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	memset(sig, 0, sizeof(*sig));
	sig->sigAlg = scheme;
	if (scheme == TPM2_ALG_ECDSA)
		fx_ecdsa(ctx, digest, sig);
	else
		fx_rsa(ctx, scheme, hash, digest, sig);
	EVP_PKEY_CTX_free(ctx);
	return CKR_OK;
}

static inline void fx_oaep(EVP_PKEY_CTX *ctx, TPMI_ALG_HASH hash, const uint8_t *label,
			   size_t len)
{
	unsigned char *l;

	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, fx_md(hash)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, fx_md(hash)), 1);
	if (len == 0)
		return;
	/* Part 1 B.4: the TPM appends a NUL to a label that lacks one. */
	l = OPENSSL_zalloc(len + 1);
	assert_non_null(l);
	memcpy(l, label, len);
	assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, (int)(len + (label[len - 1] != 0))), 1);
}

CK_RV token_decrypt(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		    const uint8_t *label, size_t label_len, const TPM2B_PUBLIC_KEY_RSA *in,
		    TPM2B_PUBLIC_KEY_RSA *out)
{
	EVP_PKEY_CTX *ctx;
	size_t len = sizeof(out->buffer);
	int ok;

	assert_non_null(key);
	fake_tpm.n_decrypt++;
	fake_tpm.scheme = scheme;
	fake_tpm.hash = hash;
	if (fake_tpm.fail != CKR_OK)
		return fake_tpm.fail;
	assert_int_equal(in->size, EVP_PKEY_get_size(fake_tpm.priv));
	ctx = EVP_PKEY_CTX_new(fake_tpm.priv, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	if (scheme == TPM2_ALG_OAEP)
		fx_oaep(ctx, hash, label, label_len);
	else
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, scheme == TPM2_ALG_RSAES
				 ? RSA_PKCS1_PADDING : RSA_NO_PADDING), 1);
	ok = EVP_PKEY_decrypt(ctx, out->buffer, &len, in->buffer, in->size) == 1;
	EVP_PKEY_CTX_free(ctx);
	out->size = (UINT16)(ok ? len : 0);
	/* What token_tpm.c makes of TPM_RC_VALUE (bad padding, value >= n). */
	return ok ? CKR_OK : CKR_ENCRYPTED_DATA_INVALID;
}

/* A test key: the private half for the fake TPM, a public-only copy for
 * the operation (ops must never need more). */
struct fx_key {
	EVP_PKEY *priv, *pub;
	CK_KEY_TYPE type;
};

static inline void fx_key_init(struct fx_key *k, EVP_PKEY *priv)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_PUBKEY(priv, &der);

	assert_true(len > 0);
	p = der;
	k->priv = priv;
	k->pub = d2i_PUBKEY(NULL, &p, len);
	assert_non_null(k->pub);
	k->type = EVP_PKEY_get_base_id(priv) == EVP_PKEY_RSA ? CKK_RSA : CKK_EC;
	OPENSSL_free(der);
}

static inline void fx_key_free(struct fx_key *k)
{
	EVP_PKEY_free(k->priv);
	EVP_PKEY_free(k->pub);
}

/* The p11_key ops_entry.c would build for the object; selects k in the TPM. */
static inline struct p11_key fx_p11(const struct fx_key *k, CK_OBJECT_CLASS cls)
{
	fake_tpm.priv = k->priv;
	return (struct p11_key){ .handle = 1, .type = k->type, .cls = cls,
				 .bits = (size_t)EVP_PKEY_get_bits(k->pub), .pub = k->pub };
}

static inline void fx_reset_counts(void)
{
	fake_tpm.n_sign = fake_tpm.n_decrypt = 0;
	fake_tpm.scheme = fake_tpm.hash = 0;
}

/* Shared by test_p11_ops.c and test_p11_ops_checks.c. */
static struct fx_key rsa, p256, p384, p521, bp320, rsa1024;
static const uint8_t msg[] = "attest11 signs this, and only in the TPM";
#define MSG_LEN (sizeof(msg) - 1)

static const TPMI_ALG_HASH hashes[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384,
					TPM2_ALG_SHA512 };

static inline CK_MECHANISM_TYPE ckm_of(TPMI_ALG_HASH h)
{
	return h == TPM2_ALG_SHA1 ? CKM_SHA_1 : h == TPM2_ALG_SHA256 ? CKM_SHA256 :
	       h == TPM2_ALG_SHA384 ? CKM_SHA384 : CKM_SHA512;
}

static inline CK_RSA_PKCS_MGF_TYPE mgf_of(TPMI_ALG_HASH h)
{
	return h == TPM2_ALG_SHA1 ? CKG_MGF1_SHA1 : h == TPM2_ALG_SHA256 ? CKG_MGF1_SHA256 :
	       h == TPM2_ALG_SHA384 ? CKG_MGF1_SHA384 : CKG_MGF1_SHA512;
}

static inline size_t hlen(TPMI_ALG_HASH h)
{
	return (size_t)EVP_MD_get_size(fx_md(h));
}

static inline size_t dgst(TPMI_ALG_HASH h, const void *data, size_t len, uint8_t *out)
{
	unsigned int n;

	assert_int_equal(EVP_Digest(data, len, out, &n, fx_md(h), NULL), 1);
	return n;
}

static inline int setup(void **state)
{
	(void)state;
	fx_key_init(&rsa, t_keygen("rsa2048"));
	fx_key_init(&p256, t_keygen("p256"));
	fx_key_init(&p384, t_keygen("p384"));
	fx_key_init(&p521, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"));
	fx_key_init(&bp320, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "brainpoolP320r1"));
	fx_key_init(&rsa1024, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024));
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	fx_key_free(&rsa);
	fx_key_free(&p256);
	fx_key_free(&p384);
	fx_key_free(&p521);
	fx_key_free(&bp320);
	fx_key_free(&rsa1024);
	return 0;
}

/* One-shot C_Sign into a 1 KiB buffer; the operation must be over. */
static inline CK_RV sign1(const struct fx_key *k, const CK_MECHANISM *m, const void *data,
			  size_t len, uint8_t *sig, CK_ULONG *sig_len)
{
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(k, CKO_PRIVATE_KEY);
	CK_RV rv = ops_init(&op, OP_SIGN, m, &key);

	*sig_len = 1024;
	if (rv == CKR_OK)
		rv = ops_sign(&op, true, data, len, sig, sig_len);
	assert_int_equal(op.kind, OP_NONE);
	return rv;
}

static inline CK_RV verify1(const struct fx_key *k, const CK_MECHANISM *m, const void *data,
			    size_t len, const uint8_t *sig, size_t sig_len)
{
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(k, CKO_PUBLIC_KEY);
	CK_RV rv = ops_init(&op, OP_VERIFY, m, &key);

	if (rv == CKR_OK)
		rv = ops_verify(&op, true, data, len, sig, sig_len);
	assert_int_equal(op.kind, OP_NONE);
	return rv;
}

/* Plain OpenSSL RSA verification. dmd: hash-and-sign (DigestVerify over
 * data); else smd: data is already a digest of smd; neither: PKCS#1 v1.5
 * over raw data, checked by recovering the block. */
static inline void ossl_rsa(const EVP_MD *dmd, const EVP_MD *smd, int pad, int salt,
			    const EVP_MD *mgf, const uint8_t *data, size_t len, const uint8_t *sig,
			    size_t slen)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t rec[512];
	size_t rlen = sizeof(rec);

	assert_non_null(mctx);
	if (dmd != NULL)
		assert_int_equal(EVP_DigestVerifyInit(mctx, &ctx, dmd, NULL, rsa.pub), 1);
	else
		assert_non_null(ctx = EVP_PKEY_CTX_new(rsa.pub, NULL));
	if (dmd == NULL && smd == NULL) {
		assert_int_equal(EVP_PKEY_verify_recover_init(ctx), 1);
		assert_int_equal(EVP_PKEY_verify_recover(ctx, rec, &rlen, sig, slen), 1);
		assert_int_equal(rlen, len);
		assert_memory_equal(rec, data, len);
		goto out;
	}
	if (dmd == NULL)
		assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	if (smd != NULL)
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, smd), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, pad), 1);
	if (pad == RSA_PKCS1_PSS_PADDING) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt), 1);
	}
	if (dmd != NULL)
		assert_int_equal(EVP_DigestVerify(mctx, sig, slen, data, len), 1);
	else
		assert_int_equal(EVP_PKEY_verify(ctx, sig, slen, data, len), 1);
out:
	if (dmd == NULL)
		EVP_PKEY_CTX_free(ctx);
	EVP_MD_CTX_free(mctx);
}

/* Plain OpenSSL ECDSA verification of r || s over data (hashed with dmd,
 * or raw: OpenSSL then truncates as ECDSA prescribes). */
static inline void ossl_ec(const struct fx_key *k, const EVP_MD *dmd, const uint8_t *data,
			   size_t len, const uint8_t *sig, size_t slen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *ctx;
	int dlen;

	assert_int_equal(slen % 2, 0);
	assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)slen / 2, NULL),
					BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL)), 1);
	dlen = i2d_ECDSA_SIG(es, &der);
	assert_true(dlen > 0);
	if (dmd != NULL) {
		assert_int_equal(EVP_DigestVerifyInit(mctx, NULL, dmd, NULL, k->pub), 1);
		assert_int_equal(EVP_DigestVerify(mctx, der, (size_t)dlen, data, len), 1);
	} else {
		ctx = EVP_PKEY_CTX_new(k->pub, NULL);
		assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
		assert_int_equal(EVP_PKEY_verify(ctx, der, (size_t)dlen, data, len), 1);
		EVP_PKEY_CTX_free(ctx);
	}
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
}

#endif
