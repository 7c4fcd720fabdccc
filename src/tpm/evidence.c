/* Evidence the TPM produces: PCR values, quotes, certifications, and the
 * activation of a credential that binds the AK to the EK. */
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "internal.h"

static uint32_t selected_count(const TPML_PCR_SELECTION *sel)
{
	uint32_t n = 0;

	for (uint32_t b = 0; b < sel->count; b++)
		for (uint32_t i = 0; i < sel->pcrSelections[b].sizeofSelect; i++)
			n += (uint32_t)__builtin_popcount(sel->pcrSelections[b].pcrSelect[i]);
	return n;
}

/* Remove from *left the PCRs the TPM just returned. */
static void subtract(TPML_PCR_SELECTION *left, const TPML_PCR_SELECTION *done)
{
	for (uint32_t d = 0; d < done->count; d++)
		for (uint32_t b = 0; b < left->count; b++) {
			TPMS_PCR_SELECTION *l = &left->pcrSelections[b];
			const TPMS_PCR_SELECTION *o = &done->pcrSelections[d];

			if (l->hash != o->hash)
				continue;
			for (uint32_t i = 0; i < l->sizeofSelect && i < o->sizeofSelect; i++)
				l->pcrSelect[i] &= (BYTE)~o->pcrSelect[i];
		}
}

a11_err tpm_pcr_read(struct tpm *t, const TPML_PCR_SELECTION *sel, struct a11_pcr_values *out)
{
	TPML_PCR_SELECTION left = *sel;
	uint32_t want = selected_count(sel);
	a11_err r = A11_OK;

	out->count = 0;
	if (sel->count > TPM2_NUM_PCR_BANKS || want > A11_PCR_MAX_VALUES)
		return A11_ERR_ARG;
	/* TPM2_PCR_Read returns at most 8 digests a call, in selection order. */
	while (r == A11_OK && selected_count(&left) > 0) {
		TPML_PCR_SELECTION *got = NULL;
		TPML_DIGEST *vals = NULL;
		UINT32 counter;

		r = tpm_rc(Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &left,
					 &counter, &got, &vals), "PCR_Read");
		if (r == A11_OK && (vals->count == 0 || out->count + vals->count > want)) {
			/* An unallocated bank or PCR: the TPM returns nothing for it. */
			log_error("PCR_Read returned %u values for a selection of %u",
				  out->count + vals->count, want);
			r = A11_ERR_TPM;
		}
		if (r == A11_OK) {
			memcpy(&out->v[out->count], vals->digests, vals->count * sizeof(vals->digests[0]));
			out->count += vals->count;
			subtract(&left, got);
		}
		Esys_Free(got);
		Esys_Free(vals);
	}
	return r;
}

a11_err tpm_quote(struct tpm *t, struct tpm_key *ak, const TPM2B_DATA *nonce,
		  const TPML_PCR_SELECTION *sel, TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig)
{
	const TPMT_SIG_SCHEME by_key = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *a = NULL;
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR sess;
	a11_err r;

	if ((r = tpm_session_begin(t, ak, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_Quote(t->esys, ak->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, nonce, &by_key,
			      sel, &a, &s), "Quote");
	tpm_session_done(t, ak, r);
	if (r == A11_OK) {
		*attest = *a;
		*sig = *s;
	}
	Esys_Free(a);
	Esys_Free(s);
	return r;
}

a11_err tpm_certify(struct tpm *t, struct tpm_key *ak, struct tpm_key *obj,
		    const TPM2B_DATA *nonce, TPM2B_ATTEST *attest, TPMT_SIGNATURE *sig)
{
	const TPMT_SIG_SCHEME by_key = { .scheme = TPM2_ALG_NULL };
	TPM2B_ATTEST *a = NULL;
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR sess, admin;
	a11_err r;

	/* Certify needs the object's ADMIN role: its authValue for keys that
	 * do not set adminWithPolicy (SRKs, keys born here). One that comes
	 * from the PIN is proved with an HMAC rather than sent as a password;
	 * an empty one (the SRK's) has nothing to hide, and a session would
	 * cost a command and Esys's crypto (src/tpm/sapi.c) at every login. */
	admin = ESYS_TR_PASSWORD;
	if (obj->auth.size > 0 && (r = tpm_hmac_session(t, &admin)) != A11_OK)
		return r;
	if ((r = tpm_session_begin(t, ak, &sess)) != A11_OK) {
		if (admin != ESYS_TR_PASSWORD)
			tpm_session_end(t, admin);
		return r;
	}
	r = tpm_rc(Esys_Certify(t->esys, obj->tr, ak->tr, admin, sess, ESYS_TR_NONE, nonce,
				&by_key, &a, &s), "Certify");
	tpm_session_done(t, ak, r);
	if (admin != ESYS_TR_PASSWORD)
		tpm_hmac_session_done(t, admin, r);
	if (r == A11_OK) {
		*attest = *a;
		*sig = *s;
	}
	Esys_Free(a);
	Esys_Free(s);
	return r;
}

/* As src/tpm/sapi.c sends it when the EK has a policy session. */
struct activate_cmd {
	TPM2_HANDLE ak, ek;
	const TPM2B_ID_OBJECT *cred;
	const TPM2B_ENCRYPTED_SECRET *secret;
};

static TSS2_RC activate_prepare(TSS2_SYS_CONTEXT *sys, const void *arg)
{
	const struct activate_cmd *c = arg;

	return Tss2_Sys_ActivateCredential_Prepare(sys, c->ak, c->ek, c->cred, c->secret);
}

a11_err tpm_activate_credential(struct tpm *t, struct tpm_key *ak, struct tpm_key *ek,
				const TPM2B_ID_OBJECT *cred,
				const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST *out)
{
	TPM2B_DIGEST *info = NULL;
	ESYS_TR sess;
	a11_err r;

	/* The AK acts in its ADMIN role (authValue), the EK in its USER role. */
	if (ek->use_policy) {
		struct activate_cmd c = { .cred = cred, .secret = secret };
		TSS2_SYS_CONTEXT *sys;

		if ((r = tpm_policy_begin(t, ek)) != A11_OK)
			return r;
		r = tpm_sys(t, ek, &sys, &c.ek);
		if (r == A11_OK)
			r = tpm_rc(Esys_TR_GetTpmHandle(t->esys, ak->tr, &c.ak), "TR_GetTpmHandle");
		if (r == A11_OK)
			r = tpm_policy_execute(t, ek, ak, sys, TPM2_CC_ActivateCredential,
					       "ActivateCredential", activate_prepare, &c);
		if (r == A11_OK)
			r = tpm_rc(Tss2_Sys_ActivateCredential_Complete(sys, out),
				   "ActivateCredential");
		tpm_session_done(t, ek, r);
		return r;
	}
	if ((r = tpm_session_begin(t, ek, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_ActivateCredential(t->esys, ak->tr, ek->tr, ESYS_TR_PASSWORD, sess,
					   ESYS_TR_NONE, cred, secret, &info),
		   "ActivateCredential");
	tpm_session_done(t, ek, r);
	if (r == A11_OK)
		*out = *info;
	if (info != NULL)
		OPENSSL_cleanse(info, sizeof(*info));
	Esys_Free(info);
	return r;
}
