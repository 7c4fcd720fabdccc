#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "../common/kept.h"
#include "../common/log.h"
#include "../wire/attest.h"
#include "../wire/key.h"
#include "verifier.h"

/* EK hashes by the digest of the marshalled EK: an EK's SPKI encoding
 * (a decode and an encode, each with an OpenSSL context set up for it) was
 * made three times per attestation, for the same few EKs. */
static struct kept ek_hashes = KEPT_INIT(1024);

static a11_err spki_hash(const TPMT_PUBLIC *ek, uint8_t out[32])
{
	EVP_PKEY *k = NULL;
	uint8_t *der = NULL;
	int n;
	a11_err r = wire_pub_to_evp(ek, &k);

	if (r != A11_OK)
		return r;
	n = i2d_PUBKEY(k, &der);
	r = n > 0 && EVP_Digest(der, (size_t)n, out, NULL, EVP_sha256(), NULL) == 1 ? A11_OK
										   : A11_ERR_CRYPTO;
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	return r;
}

a11_err verifier_ek_hash(const TPMT_PUBLIC *ek, uint8_t out[32])
{
	uint8_t pub[sizeof(TPMT_PUBLIC)], key[32], *v;
	size_t off = 0, len = 0;
	a11_err r;

	/* A public area tss2-mu cannot marshal is hashed, not kept. */
	if (Tss2_MU_TPMT_PUBLIC_Marshal(ek, pub, sizeof(pub), &off) != TSS2_RC_SUCCESS ||
	    EVP_Digest(pub, off, key, NULL, EVP_sha256(), NULL) != 1)
		return spki_hash(ek, out);
	if ((v = kept_get(&ek_hashes, key, &len)) != NULL && len == 32) {
		memcpy(out, v, 32);
		free(v);
		return A11_OK;
	}
	free(v);
	if ((r = spki_hash(ek, out)) == A11_OK)
		kept_put(&ek_hashes, key, out, 32);
	return r;
}

/* An AK is a restricted signing key the TPM made and keeps: anything else
 * could sign a forged TPMS_ATTEST. */
static bool ak_acceptable(const TPMT_PUBLIC *ak)
{
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;

	if ((ak->objectAttributes & need) != need || (ak->objectAttributes & TPMA_OBJECT_DECRYPT) ||
	    ak->nameAlg != TPM2_ALG_SHA256)
		return false;
	if (ak->type == TPM2_ALG_ECC)
		return ak->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256;
	return ak->type == TPM2_ALG_RSA && ak->parameters.rsaDetail.keyBits == 2048;
}

enum refusal verifier_check_identity(const struct policy *p, const uint8_t *ek_cert,
				     size_t ek_cert_len, const TPM2B_PUBLIC *ek,
				     const TPM2B_PUBLIC *ak, uint8_t ek_hash[32])
{
	a11_err r = wire_ekcert_verify(ek_cert, ek_cert_len, p->ek_ca, &ek->publicArea);

	if (r != A11_OK) {
		log_warn("EK certificate refused: %s", a11_strerror(r));
		return r == A11_ERR_PARSE ? REF_BAD_REQUEST : REF_EKCERT_UNTRUSTED;
	}
	if (verifier_ek_hash(&ek->publicArea, ek_hash) != A11_OK)
		return REF_INTERNAL;
	if (p->ek_allow_count > 0) {
		size_t i;
		for (i = 0; i < p->ek_allow_count; i++)
			if (memcmp(p->ek_allow[i], ek_hash, 32) == 0)
				break;
		if (i == p->ek_allow_count)
			return REF_EK_NOT_ALLOWED;
	}
	return ak_acceptable(&ak->publicArea) ? REF_NONE : REF_AK_INVALID;
}

static enum refusal quote_refusal(a11_err r, struct ear *e)
{
	switch (r) {
	case A11_OK:
		e->tv[AR_CONFIGURATION] = AR_AFFIRMING;
		return REF_NONE;
	case A11_ERR_PCR_SELECTION:
		e->tv[AR_CONFIGURATION] = AR_CONTRAINDICATED;
		return REF_PCR_SELECTION;
	case A11_ERR_PCR_DIGEST:
		e->tv[AR_EXECUTABLES] = AR_CRYPTO_FAILED;
		return REF_PCR_DIGEST;
	default:
		e->tv[AR_INSTANCE_IDENTITY] = AR_CRYPTO_FAILED;
		return REF_QUOTE_INVALID;
	}
}

static bool values_eq(const struct a11_pcr_values *a, const struct a11_pcr_values *b)
{
	if (a->count != b->count)
		return false;
	for (uint32_t i = 0; i < a->count; i++)
		if (a->v[i].size != b->v[i].size || memcmp(a->v[i].buffer, b->v[i].buffer, a->v[i].size))
			return false;
	return true;
}

static enum refusal appraise_values(const struct policy *p, const struct a11_pcr_values *v,
				    struct ear *e)
{
	if (p->ref_count == 0)
		return REF_NONE; /* nothing to compare with: no claim */
	for (size_t i = 0; i < p->ref_count; i++)
		if (values_eq(&p->refs[i], v)) {
			e->tv[AR_EXECUTABLES] = AR_AFFIRMING;
			return REF_NONE;
		}
	e->tv[AR_EXECUTABLES] = AR_CONTRAINDICATED;
	return REF_PCR_VALUES;
}

void verifier_appraise(const struct policy *p, const struct verifier_session *s,
		       const struct evidence_req *ev, struct appraisal *out)
{
	uint8_t proof[32];
	TPM2B_NAME ak_name, endorsement;
	TPM2B_DATA nonce = { .size = (UINT16)s->nonce_len };
	struct wire_quote_expect exp = { &nonce, &p->pcr_selection, &ev->pcrs, &out->ak_qn };
	a11_err r;

	memset(out, 0, sizeof(*out));
	memcpy(out->ear.nonce, s->nonce, s->nonce_len);
	out->ear.nonce_len = s->nonce_len;
	memcpy(nonce.buffer, s->nonce, s->nonce_len);
	/* The session exists only for an EK its CA vouches for (challenge). */
	out->ear.tv[AR_HARDWARE] = AR_AFFIRMING;
	/* Only the TPM holding the EK could decrypt the secret for this AK. */
	if (EVP_Digest(ev->activated.buffer, ev->activated.size, proof, NULL, EVP_sha256(),
		       NULL) != 1 || CRYPTO_memcmp(proof, s->secret_hash, 32) != 0) {
		out->ear.tv[AR_INSTANCE_IDENTITY] = AR_CONTRAINDICATED;
		out->refusal = REF_AK_NOT_ACTIVATED;
		return;
	}
	out->ear.tv[AR_INSTANCE_IDENTITY] = AR_AFFIRMING;
	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &endorsement);
	if (wire_name(&s->ak->publicArea, &ak_name) != A11_OK ||
	    wire_qualified_name(&endorsement, &ak_name, &out->ak_qn) != A11_OK) {
		out->refusal = REF_INTERNAL;
		return;
	}
	r = wire_quote_verify(&s->ak->publicArea, ev->quote.data, ev->quote.len, &ev->quote.sig,
			      &exp, &out->quote);
	if ((out->refusal = quote_refusal(r, &out->ear)) != REF_NONE) {
		log_warn("quote refused: %s", a11_strerror(r));
		return;
	}
	if ((out->refusal = appraise_values(p, &ev->pcrs, &out->ear)) != REF_NONE || !p->ev.present)
		return;
	out->refusal = evpolicy_appraise(&p->ev, &p->pcr_selection, &ev->pcrs, ev->eventlog,
					 ev->eventlog_len, &out->ear, out->detail,
					 sizeof(out->detail));
	if (out->refusal != REF_NONE)
		log_warn("event log refused: %s: %s; EAR executables=%d configuration=%d "
			 "hardware=%d", refusal_code(out->refusal), out->detail,
			 out->ear.tv[AR_EXECUTABLES], out->ear.tv[AR_CONFIGURATION],
			 out->ear.tv[AR_HARDWARE]);
}
