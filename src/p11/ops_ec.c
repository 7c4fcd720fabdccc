/* ECDSA onto TPM2_Sign, and its verification in software.
 *
 * TPM2_Sign insists that a digest be exactly the size of the hash it
 * names (TPM_RC_SIZE otherwise), while CKM_ECDSA takes input of any
 * length. ECDSA itself only uses the integer e formed from the leftmost
 * N bits of the input (N = bit length of the group order; SEC 1 4.1.3
 * step 5, FIPS 186-5 6.4.1), so the input is rewritten into a digest of
 * a size the TPM takes that yields the same e:
 *
 *  1. input longer than N bits: keep its leftmost N/8 bytes (that is the
 *     truncation, exactly, when N is a multiple of 8; for P-521 such
 *     input would exceed the 64-byte TPM digest and is refused);
 *  2. pick the smallest TPM hash size L (20, 32, 48, 64) >= that length;
 *  3. if 8L <= N, left-pad with zeros to L bytes: same integer, and the
 *     TPM does not truncate it; else (e.g. a 320-bit curve and L = 48)
 *     the TPM keeps the leftmost N/8 bytes, so the input is left-padded
 *     to N/8 bytes and zeros fill the rest of L.
 *
 * Hence ECDSA_SHAx on P-256 with SHA-384 sends the leftmost 32 bytes as a
 * SHA-256-sized digest: the signature is the one ECDSA-with-SHA-384
 * prescribes, whatever hash the TPM is told. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>

#include "ops_int.h"

static const struct {
	size_t size;
	TPMI_ALG_HASH alg;
} tpm_hashes[] = {
	{ 20, TPM2_ALG_SHA1 },
	{ 32, TPM2_ALG_SHA256 },
	{ 48, TPM2_ALG_SHA384 },
	{ 64, TPM2_ALG_SHA512 },
};

static CK_RV fit_digest(size_t order_bits, const uint8_t *in, size_t len, TPMI_ALG_HASH *alg,
			TPM2B_DIGEST *d)
{
	size_t n = sizeof(tpm_hashes) / sizeof(tpm_hashes[0]), i, L, field;

	if (len > order_bits / 8) {
		if (order_bits % 8 != 0 && len * 8 > order_bits)
			return CKR_DATA_LEN_RANGE;
		len = order_bits / 8;
	}
	for (i = 0; i < n && tpm_hashes[i].size < len; i++)
		;
	if (i == n)
		return CKR_DATA_LEN_RANGE;
	L = tpm_hashes[i].size;
	/* field: the bytes the TPM reads as the integer. */
	field = L * 8 <= order_bits ? L : order_bits / 8;
	if (order_bits % 8 != 0 && field != L)
		return CKR_DATA_LEN_RANGE;
	memset(d->buffer, 0, L);
	if (len > 0)
		memcpy(d->buffer + field - len, in, len);
	d->size = (UINT16)L;
	*alg = tpm_hashes[i].alg;
	return CKR_OK;
}

CK_RV ops_ec_sign(const struct p11_op *op, const uint8_t *in, size_t len, uint8_t *sig)
{
	size_t cb = ops_key_bytes(op);
	TPMI_ALG_HASH alg;
	TPM2B_DIGEST d;
	TPMT_SIGNATURE ts;
	CK_RV rv;

	rv = fit_digest(op->key.bits, in, len, &alg, &d);
	if (rv != CKR_OK)
		return rv;
	memset(&ts, 0, sizeof(ts));
	rv = token_sign(&op->key, TPM2_ALG_ECDSA, alg, &d, &ts);
	if (rv != CKR_OK)
		goto out;
	if (ts.sigAlg != TPM2_ALG_ECDSA ||
	    !ops_put_padded(sig, cb, ts.signature.ecdsa.signatureR.buffer,
			    ts.signature.ecdsa.signatureR.size) ||
	    !ops_put_padded(sig + cb, cb, ts.signature.ecdsa.signatureS.buffer,
			    ts.signature.ecdsa.signatureS.size))
		rv = CKR_DEVICE_ERROR;
out:
	OPENSSL_cleanse(&d, sizeof(d));
	return rv;
}

/* r || s (PKCS#11's format) as the DER ECDSA-Sig-Value OpenSSL verifies. */
static int to_der(const uint8_t *sig, size_t cb, uint8_t **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)cb, NULL), *s = BN_bin2bn(sig + cb, (int)cb, NULL);
	int n = -1;

	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	n = i2d_ECDSA_SIG(es, der);
out:
	ECDSA_SIG_free(es);
	return n;
}

CK_RV ops_ec_verify(const struct p11_op *op, const uint8_t *in, size_t len,
		    const uint8_t *sig, size_t sig_len)
{
	size_t cb = ops_key_bytes(op);
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t *der = NULL;
	int der_len;
	CK_RV rv = CKR_HOST_MEMORY;

	if (sig_len != 2 * cb)
		return CKR_SIGNATURE_LEN_RANGE;
	der_len = to_der(sig, cb, &der);
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->key.pub, NULL);
	if (der_len <= 0 || ctx == NULL)
		goto out;
	rv = CKR_FUNCTION_FAILED;
	if (EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	/* No signature md: OpenSSL then applies ECDSA's own truncation to
	 * input of any length, independently of fit_digest. */
	rv = EVP_PKEY_verify(ctx, der, (size_t)der_len, in, len) == 1 ? CKR_OK
								    : CKR_SIGNATURE_INVALID;
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	return rv;
}
