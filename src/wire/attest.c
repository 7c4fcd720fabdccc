/* Verification of TPM signatures, quotes and certifications (TPM 2.0 Part 1
 * §16 and Part 2 §10.12). Every input comes from the network: sizes inside
 * structures are checked against their buffers even when tss2-mu already
 * bounded them, because callers may also build these structures by hand. */
#include <stdbool.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "hash.h"
#include "key.h"

/* The digest a signature was computed over; TPM2_ALG_NULL for schemes we
 * do not verify (ECDAA, SM2, Schnorr, HMAC), which wire_md() rejects. */
static TPMI_ALG_HASH sig_hash(const TPMT_SIGNATURE *sig)
{
	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA: return sig->signature.rsassa.hash;
	case TPM2_ALG_RSAPSS: return sig->signature.rsapss.hash;
	case TPM2_ALG_ECDSA: return sig->signature.ecdsa.hash;
	default: return TPM2_ALG_NULL;
	}
}

static bool sig_fits_key(const TPMT_PUBLIC *key, const TPMT_SIGNATURE *sig)
{
	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS: return key->type == TPM2_ALG_RSA;
	case TPM2_ALG_ECDSA: return key->type == TPM2_ALG_ECC;
	default: return false;
	}
}

/* The TPM sends r and s as two big-endian integers; OpenSSL verifies the
 * DER ECDSA-Sig-Value. Each must fit the curve's field (field bytes). */
static a11_err ecdsa_to_der(const TPMS_SIGNATURE_ECDSA *s, size_t field,
			    uint8_t **der, size_t *der_len)
{
	const TPM2B_ECC_PARAMETER *pr = &s->signatureR, *ps = &s->signatureS;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *sv = NULL;
	a11_err ret = A11_ERR_SIGNATURE;
	int n;

	if (pr->size == 0 || ps->size == 0 || pr->size > field || ps->size > field ||
	    pr->size > sizeof(pr->buffer) || ps->size > sizeof(ps->buffer))
		goto out;
	ret = A11_ERR_NOMEM;
	r = BN_bin2bn(pr->buffer, pr->size, NULL);
	sv = BN_bin2bn(ps->buffer, ps->size, NULL);
	if (r == NULL || sv == NULL || (es = ECDSA_SIG_new()) == NULL ||
	    ECDSA_SIG_set0(es, r, sv) != 1)
		goto out;
	r = sv = NULL; /* now owned by es */
	n = i2d_ECDSA_SIG(es, der);
	if (n <= 0) {
		ret = A11_ERR_CRYPTO;
		goto out;
	}
	*der_len = (size_t)n;
	ret = A11_OK;
out:
	BN_free(r);
	BN_free(sv);
	ECDSA_SIG_free(es);
	return ret;
}

/* Verify sig (in OpenSSL's encoding) over the digest dig with the padding
 * the TPM scheme implies. PSS salt is AUTO: the TPM spec lets the signer
 * pick it (swtpm uses the digest length), the verifier recovers it. */
static a11_err pkey_verify(EVP_PKEY *pkey, TPM2_ALG_ID scheme, const EVP_MD *md,
			   const uint8_t *dig, size_t dig_len,
			   const uint8_t *s, size_t s_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(wire_libctx(), pkey, NULL);
	a11_err r = A11_ERR_CRYPTO;

	if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) != 1)
		goto out;
	if (scheme == TPM2_ALG_RSASSA &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (scheme == TPM2_ALG_RSAPSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_AUTO) != 1))
		goto out;
	r = EVP_PKEY_verify(ctx, s, s_len, dig, dig_len) == 1 ? A11_OK : A11_ERR_SIGNATURE;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static a11_err ecdsa_verify(EVP_PKEY *pkey, const TPMT_SIGNATURE *sig,
			    const uint8_t *dig, size_t dig_len)
{
	size_t field = ((size_t)EVP_PKEY_get_bits(pkey) + 7) / 8, der_len = 0;
	uint8_t *der = NULL;
	a11_err r;

	r = ecdsa_to_der(&sig->signature.ecdsa, field, &der, &der_len);
	if (r == A11_OK)
		r = pkey_verify(pkey, sig->sigAlg, wire_md(sig_hash(sig)), dig, dig_len,
				der, der_len);
	OPENSSL_free(der);
	return r;
}

static a11_err rsa_verify(EVP_PKEY *pkey, const TPMT_SIGNATURE *sig,
			  const uint8_t *dig, size_t dig_len)
{
	const TPM2B_PUBLIC_KEY_RSA *s = &sig->signature.rsassa.sig; /* = rsapss.sig */

	if (s->size == 0 || s->size > sizeof(s->buffer))
		return A11_ERR_SIGNATURE;
	return pkey_verify(pkey, sig->sigAlg, wire_md(sig_hash(sig)), dig, dig_len,
			   s->buffer, s->size);
}

a11_err wire_sig_verify(const TPMT_PUBLIC *key, const uint8_t *msg, size_t len,
			const TPMT_SIGNATURE *sig)
{
	uint8_t dig[EVP_MAX_MD_SIZE];
	EVP_PKEY *pkey = NULL;
	size_t ds;
	a11_err r;

	if (key == NULL || sig == NULL || (msg == NULL && len != 0))
		return A11_ERR_ARG;
	/* A mismatch is a bad signature, not an unsupported one: the attacker
	 * chooses sigAlg, the verifier chose the key. */
	if (!sig_fits_key(key, sig))
		return A11_ERR_SIGNATURE;
	ds = wire_digest_size(sig_hash(sig));
	if (ds == 0)
		return A11_ERR_UNSUPPORTED;
	if ((r = wire_pub_to_evp(key, &pkey)) != A11_OK ||
	    (r = wire_hash(sig_hash(sig), msg, len, dig)) != A11_OK)
		goto out;
	if (sig->sigAlg == TPM2_ALG_ECDSA)
		r = ecdsa_verify(pkey, sig, dig, ds);
	else
		r = rsa_verify(pkey, sig, dig, ds);
out:
	/* A failed verification leaves OpenSSL errors queued; they describe
	 * attacker input, not a fault a later caller should trip over. */
	if (r != A11_OK)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	return r;
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static bool name_eq(const TPM2B_NAME *got, const TPM2B_NAME *want)
{
	return got->size <= sizeof(got->name) &&
	       bytes_eq(got->name, got->size, want->name, want->size);
}

static bool data_eq(const TPM2B_DATA *got, const TPM2B_DATA *want)
{
	return got->size <= sizeof(got->buffer) &&
	       bytes_eq(got->buffer, got->size, want->buffer, want->size);
}

/* The checks shared by every attestation, in the order the header gives:
 * nothing in the structure is looked at before its signature verifies. */
static a11_err attest_open(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t len,
			   const TPMT_SIGNATURE *sig, TPM2_ST type,
			   const TPM2B_DATA *nonce, const TPM2B_NAME *signer_qn,
			   TPMS_ATTEST *a)
{
	size_t off = 0;
	a11_err r;

	if (ak == NULL || attest == NULL || sig == NULL || nonce == NULL || signer_qn == NULL)
		return A11_ERR_ARG;
	if ((r = wire_sig_verify(ak, attest, len, sig)) != A11_OK)
		return r;
	memset(a, 0, sizeof(*a));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest, len, &off, a) != TSS2_RC_SUCCESS || off != len)
		return A11_ERR_PARSE;
	if (a->magic != TPM2_GENERATED_VALUE)
		return A11_ERR_ATTEST_MAGIC;
	if (a->type != type)
		return A11_ERR_ATTEST_TYPE;
	if (!name_eq(&a->qualifiedSigner, signer_qn))
		return A11_ERR_SIGNER;
	if (!data_eq(&a->extraData, nonce))
		return A11_ERR_NONCE;
	return A11_OK;
}

static bool bank_valid(const TPMS_PCR_SELECTION *s)
{
	return s->sizeofSelect <= sizeof(s->pcrSelect);
}

/* The TPM drops PCRs it does not have from a quote without failing, so the
 * selection it signed must be exactly the one we asked for. */
bool wire_pcr_selection_eq(const TPML_PCR_SELECTION *got, const TPML_PCR_SELECTION *want)
{
	if (got->count != want->count || got->count > TPM2_NUM_PCR_BANKS)
		return false;
	for (uint32_t i = 0; i < got->count; i++) {
		const TPMS_PCR_SELECTION *g = &got->pcrSelections[i], *w = &want->pcrSelections[i];

		if (!bank_valid(g) || g->hash != w->hash ||
		    !bytes_eq(g->pcrSelect, g->sizeofSelect, w->pcrSelect, w->sizeofSelect))
			return false;
	}
	return true;
}

static uint32_t bank_bits(const TPMS_PCR_SELECTION *s)
{
	uint32_t n = 0;

	for (size_t i = 0; i < s->sizeofSelect && i < sizeof(s->pcrSelect); i++)
		for (uint8_t b = s->pcrSelect[i]; b != 0; b &= (uint8_t)(b - 1))
			n++;
	return n;
}

/* Feed the next `count` values (from *next on) of one bank into ctx. */
static a11_err hash_bank(EVP_MD_CTX *ctx, const TPMS_PCR_SELECTION *bank,
			 const struct a11_pcr_values *pcrs, uint32_t *next)
{
	uint32_t count = bank_bits(bank);
	size_t ds = wire_digest_size(bank->hash);

	if (count != 0 && ds == 0)
		return A11_ERR_UNSUPPORTED;
	for (uint32_t j = 0; j < count; j++, (*next)++) {
		const TPM2B_DIGEST *v = &pcrs->v[*next];

		if (v->size != ds)
			return A11_ERR_PCR_DIGEST;
		if (EVP_DigestUpdate(ctx, v->buffer, v->size) != 1)
			return A11_ERR_CRYPTO;
	}
	return A11_OK;
}

/* pcrDigest = H_sig(values in selection order); H is the signing scheme's
 * hash, not the banks' (Part 3 §18.4). sel has already passed bank_valid. */
static a11_err pcr_digest_check(const TPML_PCR_SELECTION *sel,
				const struct a11_pcr_values *pcrs, TPMI_ALG_HASH h,
				const TPM2B_DIGEST *quoted)
{
	uint8_t dig[EVP_MAX_MD_SIZE];
	unsigned int dig_len = 0;
	EVP_MD_CTX *ctx = NULL;
	uint32_t total = 0, next = 0;
	a11_err r = A11_ERR_PCR_DIGEST;

	for (uint32_t i = 0; i < sel->count; i++)
		total += bank_bits(&sel->pcrSelections[i]);
	/* Bounds pcrs->v: hash_bank reads exactly `total` values. */
	if (pcrs->count != total || total > A11_PCR_MAX_VALUES)
		goto out;
	r = A11_ERR_NOMEM;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	r = A11_ERR_CRYPTO;
	if (EVP_DigestInit_ex(ctx, wire_md(h), NULL) != 1)
		goto out;
	for (uint32_t i = 0; i < sel->count; i++)
		if ((r = hash_bank(ctx, &sel->pcrSelections[i], pcrs, &next)) != A11_OK)
			goto out;
	r = A11_ERR_CRYPTO;
	if (EVP_DigestFinal_ex(ctx, dig, &dig_len) != 1)
		goto out;
	r = quoted->size <= sizeof(quoted->buffer) &&
	    bytes_eq(quoted->buffer, quoted->size, dig, dig_len) ? A11_OK : A11_ERR_PCR_DIGEST;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

a11_err wire_quote_verify(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t len,
			  const TPMT_SIGNATURE *sig,
			  const struct wire_quote_expect *exp, TPMS_ATTEST *out)
{
	TPMS_ATTEST a;
	const TPMS_QUOTE_INFO *q = &a.attested.quote;
	a11_err r;

	if (exp == NULL || exp->sel == NULL || exp->pcrs == NULL)
		return A11_ERR_ARG;
	r = attest_open(ak, attest, len, sig, TPM2_ST_ATTEST_QUOTE, exp->nonce,
			exp->signer_qn, &a);
	if (r != A11_OK)
		return r;
	if (!wire_pcr_selection_eq(&q->pcrSelect, exp->sel))
		return A11_ERR_PCR_SELECTION;
	r = pcr_digest_check(&q->pcrSelect, exp->pcrs, sig_hash(sig), &q->pcrDigest);
	if (r == A11_OK && out != NULL)
		*out = a;
	return r;
}

a11_err wire_certify_verify(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t len,
			    const TPMT_SIGNATURE *sig, const TPM2B_DATA *nonce,
			    const TPM2B_NAME *signer_qn, const TPMT_PUBLIC *object,
			    TPMS_ATTEST *out)
{
	TPMS_ATTEST a;
	TPM2B_NAME name;
	a11_err r;

	if (object == NULL)
		return A11_ERR_ARG;
	r = attest_open(ak, attest, len, sig, TPM2_ST_ATTEST_CERTIFY, nonce, signer_qn, &a);
	if (r != A11_OK)
		return r;
	if ((r = wire_name(object, &name)) != A11_OK)
		return r;
	if (!name_eq(&a.attested.certify.name, &name))
		return A11_ERR_NAME;
	if (out != NULL)
		*out = a;
	return A11_OK;
}
