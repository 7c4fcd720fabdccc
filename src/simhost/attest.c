/* TPM2_Quote and TPM2_Certify in software: a TPMS_ATTEST marshalled with
 * tss2-mu and signed by the AK as the TPM signs it (ECDSA-SHA256 over the
 * marshalled bytes, r and s padded to the field size). */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <tss2/tss2_mu.h>

#include "../wire/hash.h"
#include "internal.h"

static a11_err ecdsa_split(const uint8_t *der, size_t len, TPMS_SIGNATURE_ECDSA *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	a11_err r = A11_ERR_CRYPTO;

	out->hash = TPM2_ALG_SHA256;
	out->signatureR.size = out->signatureS.size = 32;
	if (es != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(es), out->signatureR.buffer, 32) == 32 &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), out->signatureS.buffer, 32) == 32)
		r = A11_OK;
	ECDSA_SIG_free(es);
	return r;
}

/* Marshal at into out and sign it with the AK. */
static a11_err seal(const struct simhost *h, const TPMS_ATTEST *at, struct proto_attest *out)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t der[128];
	size_t off = 0, n = sizeof(der);
	a11_err r = A11_ERR_CRYPTO;

	memset(out, 0, sizeof(*out));
	if (m == NULL)
		return A11_ERR_NOMEM;
	if (Tss2_MU_TPMS_ATTEST_Marshal(at, out->data, sizeof(out->data), &off) != TSS2_RC_SUCCESS) {
		r = A11_ERR_PARSE;
		goto out;
	}
	out->len = off;
	if (EVP_DigestSignInit_ex(m, NULL, "SHA256", wire_libctx(), NULL, h->ak.key, NULL) != 1 ||
	    EVP_DigestSign(m, der, &n, out->data, out->len) != 1)
		goto out;
	out->sig.sigAlg = TPM2_ALG_ECDSA;
	r = ecdsa_split(der, n, &out->sig.signature.ecdsa);
out:
	EVP_MD_CTX_free(m);
	return r;
}

/* The header every attestation shares: signer, nonce, clock, firmware. */
static a11_err header(const struct simhost *h, TPM2_ST type, const TPM2B_DATA *nonce,
		      TPMS_ATTEST *at)
{
	if (nonce == NULL || nonce->size > sizeof(at->extraData.buffer))
		return A11_ERR_ARG;
	memset(at, 0, sizeof(*at));
	at->magic = TPM2_GENERATED_VALUE;
	at->type = type;
	at->qualifiedSigner = h->ak.qn;
	at->extraData = *nonce;
	at->clockInfo = h->clock;
	at->firmwareVersion = h->firmware;
	return A11_OK;
}

/* What the TPM quotes of sel: the SHA-256 bank as asked, any other bank
 * with nothing selected (allocated banks only), PCRs beyond 23 dropped. */
static void effective(const TPML_PCR_SELECTION *sel, TPML_PCR_SELECTION *out)
{
	*out = *sel;
	for (uint32_t b = 0; b < out->count && b < TPM2_NUM_PCR_BANKS; b++) {
		TPMS_PCR_SELECTION *s = &out->pcrSelections[b];

		for (unsigned i = 0; i < s->sizeofSelect && i < sizeof(s->pcrSelect); i++)
			if (s->hash != TPM2_ALG_SHA256 || i >= SIMHOST_PCRS / 8)
				s->pcrSelect[i] = 0;
	}
}

/* PCR values in quote order (banks as listed, PCRs ascending) and their
 * SHA-256 digest, the pcrDigest of an ECDSA-SHA256 AK's quote. */
static a11_err read_values(const struct simhost *h, const TPML_PCR_SELECTION *sel,
			   struct a11_pcr_values *v, TPM2B_DIGEST *digest)
{
	uint8_t cat[SIMHOST_PCRS * 32];
	size_t n = 0;

	v->count = 0;
	for (uint32_t b = 0; b < sel->count && b < TPM2_NUM_PCR_BANKS; b++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];

		for (unsigned pcr = 0; pcr < SIMHOST_PCRS && pcr / 8 < s->sizeofSelect; pcr++) {
			if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
				continue;
			if (v->count == A11_PCR_MAX_VALUES || n + 32 > sizeof(cat))
				return A11_ERR_ARG;
			v->v[v->count++] = h->pcr[pcr];
			memcpy(cat + n, h->pcr[pcr].buffer, 32);
			n += 32;
		}
	}
	digest->size = 32;
	return wire_hash(TPM2_ALG_SHA256, cat, n, digest->buffer);
}

a11_err simhost_quote(const struct simhost *h, const TPM2B_DATA *nonce,
		      const TPML_PCR_SELECTION *sel, struct proto_attest *out,
		      struct a11_pcr_values *values)
{
	TPMS_ATTEST at;
	TPMS_QUOTE_INFO *q = &at.attested.quote;
	a11_err r;

	if (h == NULL || sel == NULL || out == NULL || values == NULL ||
	    sel->count > TPM2_NUM_PCR_BANKS)
		return A11_ERR_ARG;
	if ((r = header(h, TPM2_ST_ATTEST_QUOTE, nonce, &at)) != A11_OK)
		return r;
	effective(sel, &q->pcrSelect);
	if ((r = read_values(h, &q->pcrSelect, values, &q->pcrDigest)) != A11_OK)
		return r;
	return seal(h, &at, out);
}

a11_err simhost_certify(const struct simhost *h, enum simhost_obj which,
			const TPM2B_DATA *nonce, struct proto_attest *out)
{
	const struct simhost_key *k = h != NULL ? simhost_key(h, which) : NULL;
	TPMS_ATTEST at;
	a11_err r;

	if (k == NULL || out == NULL)
		return A11_ERR_ARG;
	if ((r = header(h, TPM2_ST_ATTEST_CERTIFY, nonce, &at)) != A11_OK)
		return r;
	at.attested.certify.name = k->name;
	at.attested.certify.qualifiedName = k->qn;
	return seal(h, &at, out);
}
