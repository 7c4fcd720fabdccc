/* Authorization sessions: a password for plain keys, a policy session
 * rebuilt before every use for policy keys (the TPM resets a policy
 * digest after each successful use). */
#include "../common/log.h"
#include "internal.h"

static a11_err run_policy(struct tpm *t, const struct tpm_policy *p, ESYS_TR s)
{
	a11_err r = A11_OK;

	if (p->secret_endorsement) {
		TPM2B_TIMEOUT *timeout = NULL;
		TPMT_TK_AUTH *ticket = NULL;

		r = tpm_rc(Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, s, ESYS_TR_PASSWORD,
					     ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0,
					     &timeout, &ticket), "PolicySecret(endorsement)");
		Esys_Free(timeout);
		Esys_Free(ticket);
	}
	if (r == A11_OK && p->pcr)
		r = tpm_rc(Esys_PolicyPCR(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  NULL, &p->pcrs), "PolicyPCR");
	if (r == A11_OK && p->auth_value)
		r = tpm_rc(Esys_PolicyAuthValue(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE,
						ESYS_TR_NONE), "PolicyAuthValue");
	return r;
}

static a11_err start(struct tpm *t, TPM2_SE type, TPMI_ALG_HASH alg, ESYS_TR *sess)
{
	const TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	a11_err r = tpm_rc(Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						 ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &none, alg,
						 sess), "StartAuthSession");

	if (r != A11_OK) {
		*sess = ESYS_TR_NONE;
		return r;
	}
	/* Keep the session after the command so the caller owns its end
	 * whether the command succeeded or not. */
	r = tpm_rc(Esys_TRSess_SetAttributes(t->esys, *sess, TPMA_SESSION_CONTINUESESSION,
					     0xff), "TRSess_SetAttributes");
	if (r != A11_OK) {
		tpm_session_end(t, *sess);
		*sess = ESYS_TR_NONE;
	}
	return r;
}

a11_err tpm_policy_trial(struct tpm *t, const struct tpm_policy *p, TPMI_ALG_HASH alg,
			 TPM2B_DIGEST *out)
{
	TPM2B_DIGEST *d = NULL;
	ESYS_TR sess;
	a11_err r = start(t, TPM2_SE_TRIAL, alg, &sess);

	if (r != A11_OK)
		return r;
	r = run_policy(t, p, sess);
	if (r == A11_OK)
		r = tpm_rc(Esys_PolicyGetDigest(t->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE,
						ESYS_TR_NONE, &d), "PolicyGetDigest");
	if (r == A11_OK)
		*out = *d;
	Esys_Free(d);
	tpm_session_end(t, sess);
	return r;
}

a11_err tpm_session_begin(struct tpm *t, const struct tpm_key *k, ESYS_TR *sess)
{
	a11_err r;

	*sess = ESYS_TR_PASSWORD;
	if (!k->use_policy)
		return A11_OK;
	if ((r = start(t, TPM2_SE_POLICY, k->pub.publicArea.nameAlg, sess)) != A11_OK)
		return r;
	r = run_policy(t, &k->policy, *sess);
	if (r != A11_OK) {
		tpm_session_end(t, *sess);
		*sess = ESYS_TR_NONE;
	}
	return r;
}

void tpm_session_end(struct tpm *t, ESYS_TR sess)
{
	if (sess != ESYS_TR_PASSWORD && sess != ESYS_TR_NONE)
		tpm_rc(Esys_FlushContext(t->esys, sess), "FlushContext(session)");
}
