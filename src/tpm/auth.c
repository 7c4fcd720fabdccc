/* Authorization sessions: a password for plain keys, a policy session for
 * policy keys. A key keeps its policy session between uses: after a
 * successful command the TPM resets the session's policy (continueSession),
 * so the next use only runs the policy steps again; a failed use ends the
 * session and the next one starts afresh. Sign, RSA_Decrypt, Unseal and
 * ActivateCredential on a policy key go through src/tpm/sapi.c, which
 * computes the session HMAC itself. */
#include <string.h>

#include "../common/log.h"
#include "internal.h"

static void put_be(uint8_t *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* clock <= clock_end and resetCount == reset_count. Their failure is the
 * lease ending (or a reboot), not a changed platform. */
static a11_err run_counters(struct tpm *t, const struct tpm_lease *l, ESYS_TR s)
{
	TPM2B_OPERAND clock = { .size = 8 }, reset = { .size = 4 };
	a11_err r;

	put_be(clock.buffer, l->clock_end, 8);
	put_be(reset.buffer, l->reset_count, 4);
	r = tpm_rc(Esys_PolicyCounterTimer(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   &clock, 8, TPM2_EO_UNSIGNED_LE),
		   "PolicyCounterTimer(clock)");
	if (r == A11_OK)
		r = tpm_rc(Esys_PolicyCounterTimer(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE,
						   ESYS_TR_NONE, &reset, 16, TPM2_EO_EQ),
			   "PolicyCounterTimer(resetCount)");
	return r == A11_ERR_TPM_POLICY ? A11_ERR_LEASE_ENDED : r;
}

/* TPM_RC_VALUE on PolicyAuthorize's checkTicket: the ticket is not one
 * this TPM made for this approval (a state file's, from before a TPM
 * clear, or damaged). */
#define RC_TICKET_REFUSED (TPM2_RC_VALUE | TPM2_RC_P | TPM2_RC_4)

/* The approved policy must equal the session's digest: with the counters
 * passed, a mismatch means the PCRs moved. A refused ticket is a policy
 * refusal too (the approval does not serve this key), but not that one:
 * the log says which, and a caller holding a state file's ticket answers
 * it by verifying the approval again. */
static a11_err run_authorize(struct tpm *t, const struct tpm_lease *l, ESYS_TR s)
{
	TSS2_RC rc = Esys_PolicyAuthorize(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  &l->approved, &l->policy_ref, &l->approver, &l->ticket);
	a11_err r;

	if (rc == RC_TICKET_REFUSED) {
		log_warn("PolicyAuthorize: 0x%x: the TPM does not accept the approval's ticket", rc);
		return A11_ERR_TPM_POLICY;
	}
	r = tpm_rc(rc, "PolicyAuthorize");
	return r == A11_ERR_TPM ? A11_ERR_TPM_POLICY : r;
}

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
	if (r == A11_OK && p->lease)
		r = run_counters(t, &p->terms, s);
	if (r == A11_OK && p->pcr)
		r = tpm_rc(Esys_PolicyPCR(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					  NULL, &p->pcrs), "PolicyPCR");
	if (r == A11_OK && p->auth_value)
		r = tpm_rc(Esys_PolicyAuthValue(t->esys, s, ESYS_TR_NONE, ESYS_TR_NONE,
						ESYS_TR_NONE), "PolicyAuthValue");
	if (r == A11_OK && p->lease)
		r = run_authorize(t, &p->terms, s);
	return r;
}

/* Neither bound nor salted: src/tpm/sapi.c relies on an empty sessionKey. */
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

a11_err tpm_hmac_session(struct tpm *t, ESYS_TR *out)
{
	const TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	a11_err r = tpm_rc(Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						 ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
						 &none, TPM2_ALG_SHA256, out), "StartAuthSession(HMAC)");

	if (r != A11_OK) {
		*out = ESYS_TR_NONE;
		return r;
	}
	/* Without continueSession the TPM ends it with its command. */
	r = tpm_rc(Esys_TRSess_SetAttributes(t->esys, *out, 0, 0xff), "TRSess_SetAttributes");
	if (r != A11_OK) {
		tpm_session_end(t, *out);
		*out = ESYS_TR_NONE;
	}
	return r;
}

void tpm_hmac_session_done(struct tpm *t, ESYS_TR sess, a11_err r)
{
	/* A failed command leaves the session to us. */
	if (r != A11_OK)
		tpm_session_end(t, sess);
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

/* sapi: for src/tpm/sapi.c. Esys does not know the nonceTPM of a session
 * used there, so the Esys path never gets such a session. */
static a11_err begin(struct tpm *t, struct tpm_key *k, ESYS_TR *sess, bool sapi)
{
	a11_err r = A11_OK;

	*sess = ESYS_TR_PASSWORD;
	if (!k->use_policy)
		return A11_OK;
	if (!sapi && k->nonce_tpm.size != 0 && k->session != ESYS_TR_NONE && k->session != 0) {
		tpm_session_end(t, k->session);
		k->session = ESYS_TR_NONE;
	}
	if (k->session == ESYS_TR_NONE || k->session == 0) {
		k->nonce_tpm.size = 0;
		r = start(t, TPM2_SE_POLICY, k->pub.publicArea.nameAlg, &k->session);
	}
	if (r == A11_OK)
		r = run_policy(t, &k->policy, k->session);
	if (r != A11_OK) {
		tpm_session_done(t, k, r);
		*sess = ESYS_TR_NONE;
		return r;
	}
	*sess = k->session;
	return A11_OK;
}

a11_err tpm_session_begin(struct tpm *t, struct tpm_key *k, ESYS_TR *sess)
{
	return begin(t, k, sess, false);
}

a11_err tpm_policy_begin(struct tpm *t, struct tpm_key *k)
{
	ESYS_TR sess;

	return begin(t, k, &sess, true);
}

void tpm_session_done(struct tpm *t, struct tpm_key *k, a11_err r)
{
	if (r == A11_OK || k->session == ESYS_TR_NONE || k->session == 0)
		return;
	tpm_session_end(t, k->session);
	k->session = ESYS_TR_NONE;
}

void tpm_session_end(struct tpm *t, ESYS_TR sess)
{
	if (sess != ESYS_TR_PASSWORD && sess != ESYS_TR_NONE)
		tpm_rc(Esys_FlushContext(t->esys, sess), "FlushContext(session)");
}

a11_err tpm_verify_approval(struct tpm *t, const TPM2B_PUBLIC *approver,
			    const TPM2B_DIGEST *digest, const TPMT_SIGNATURE *sig,
			    struct tpm_lease *terms)
{
	TPMT_TK_VERIFIED *tk = NULL;
	TPM2B_NAME *name = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	a11_err r = tpm_rc(Esys_LoadExternal(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					     NULL, approver, ESYS_TR_RH_OWNER, &h),
			   "LoadExternal(approver)");

	/* The Name the TPM returned, which Esys checked against approver. */
	if (r == A11_OK)
		r = tpm_rc(Esys_TR_GetName(t->esys, h, &name), "TR_GetName(approver)");
	if (r == A11_OK)
		r = tpm_rc_verify(Esys_VerifySignature(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE,
						       ESYS_TR_NONE, digest, sig, &tk),
				  "VerifySignature(approval)");
	if (r == A11_OK) {
		terms->ticket = *tk;
		terms->approver = *name;
	}
	Esys_Free(tk);
	Esys_Free(name);
	if (h != ESYS_TR_NONE)
		tpm_rc(Esys_FlushContext(t->esys, h), "FlushContext(approver)");
	return r;
}

a11_err tpm_read_clock(struct tpm *t, TPMS_TIME_INFO *out)
{
	TPMS_TIME_INFO *ti = NULL;
	a11_err r = tpm_rc(Esys_ReadClock(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti),
			   "ReadClock");

	if (r == A11_OK)
		*out = *ti;
	Esys_Free(ti);
	return r;
}

/* One read of the TPM_PT_PERMANENT.. TPM_PT_LOCKOUT_RECOVERY properties. */
a11_err tpm_da_state(struct tpm *t, struct tpm_da *out)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	a11_err r = tpm_rc(Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					      TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT,
					      TPM2_PT_LOCKOUT_RECOVERY - TPM2_PT_PERMANENT + 1,
					      &more, &cap),
			   "GetCapability(DA)");
	const TPML_TAGGED_TPM_PROPERTY *l;

	memset(out, 0, sizeof(*out));
	if (r != A11_OK)
		return r;
	l = &cap->data.tpmProperties;
	for (UINT32 i = 0; i < l->count && i < TPM2_MAX_TPM_PROPERTIES; i++) {
		UINT32 v = l->tpmProperty[i].value;

		switch (l->tpmProperty[i].property) {
		case TPM2_PT_PERMANENT: out->in_lockout = v & TPMA_PERMANENT_INLOCKOUT; break;
		case TPM2_PT_LOCKOUT_COUNTER: out->failures = v; break;
		case TPM2_PT_MAX_AUTH_FAIL: out->max_tries = v; break;
		case TPM2_PT_LOCKOUT_INTERVAL: out->interval_s = v; break;
		case TPM2_PT_LOCKOUT_RECOVERY: out->recovery_s = v; break;
		default: break;
		}
	}
	Esys_Free(cap);
	return A11_OK;
}
