/* The released key inside the TPM: import, the lease's policy, reloading. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../wire/aead.h"
#include "../wire/pin.h"
#include "../wire/policy.h"
#include "released_key.h"
#include "state.h"


void attester_key_policy(const struct release *rel, struct tpm_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->lease = true;
	p->pcr = rel->pcr_bound;
	p->pcrs = rel->pcr_selection;
	p->auth_value = rel->auth_value;
}

a11_err attester_import(struct tpm *t, struct attester_result *r)
{
	struct release *rel = &r->rel;
	const TPM2B_DATA none = { 0 };
	const TPMT_SYM_DEF_OBJECT nosym = { .algorithm = TPM2_ALG_NULL };
	const struct tpm_import in = { &rel->pub, &rel->duplicate, &rel->seed, &none, &nosym };
	struct tpm_policy pol;
	a11_err e;

	if (!rel->has_key)
		return A11_ERR_PROTOCOL;
	attester_key_policy(rel, &pol);
	if ((e = tpm_import(t, &r->parent, &in, &r->priv)) != A11_OK)
		return e;
	return tpm_load(t, &r->parent, &rel->pub, &r->priv, &pol,
			rel->auth_value ? &r->auth : NULL, &r->key);
}

a11_err attester_unseal(struct tpm *t, struct attester_result *r)
{
	TPM2B_SENSITIVE_DATA key;
	a11_err e;

	if (r->rel.token_ct == NULL)
		return A11_ERR_PROTOCOL;
	if ((e = tpm_unseal(t, &r->key, &key)) != A11_OK)
		return e;
	e = key.size == WIRE_AEAD_KEY ? wire_aead_open(key.buffer, PROTO_TOKEN_AAD, r->rel.token_ct,
						      r->rel.token_ct_len, &r->token,
						      &r->token_len)
				      : A11_ERR_PROTOCOL;
	OPENSSL_cleanse(&key, sizeof(key));
	/* The sealed key has done its job: keep nothing loaded. */
	tpm_key_release(t, &r->key);
	return e;
}

/* The approval must be for this key (its authPolicy names the approver
 * and the policyRef), and its terms must hash to the approved policy:
 * checked here so that a disagreement shows up now, by name, and not as
 * a policy failure at the first signature. */
static a11_err check_approval(const struct attester_result *r, TPM2B_DIGEST *ahash)
{
	const struct approval *a = &r->rel.approval;
	/* A token's sealed key is flushed once unsealed: its public stays in rel. */
	const TPM2B_DIGEST *have = r->key.pub.size ? &r->key.pub.publicArea.authPolicy
						   : &r->rel.pub.publicArea.authPolicy;
	TPM2B_DIGEST key_policy;
	a11_err e = wire_key_policy(&a->anchor.approver.publicArea, a->anchor.policy_ref,
				    sizeof(a->anchor.policy_ref), &key_policy);

	if (e != A11_OK)
		return e;
	if (have->size != key_policy.size ||
	    memcmp(have->buffer, key_policy.buffer, key_policy.size) != 0) {
		log_error("lease %s: the approval is not for this key", r->rel.lease);
		return A11_ERR_PROTOCOL;
	}
	return wire_approval_digest(&a->approved, a->anchor.policy_ref,
				    sizeof(a->anchor.policy_ref), ahash);
}

/* The approval's terms as the key's policy; the ticket and the
 * approver's Name from the TPM (tpm_verify_approval), or kept ones. */
static a11_err adopt_terms(struct tpm *t, struct attester_result *r, bool kept)
{
	const struct approval *a = &r->rel.approval;
	struct tpm_policy pol;
	TPM2B_DIGEST ahash;
	a11_err e;

	if (r->key.tr == ESYS_TR_NONE && r->priv.size == 0)
		return A11_ERR_ARG;
	if ((e = check_approval(r, &ahash)) != A11_OK)
		return e;
	attester_key_policy(&r->rel, &pol);
	pol.terms = (struct tpm_lease){ .clock_end = a->clock_end, .reset_count = a->reset_count,
					.approved = a->approved,
					.policy_ref = { .size = sizeof(a->anchor.policy_ref) } };
	memcpy(pol.terms.policy_ref.buffer, a->anchor.policy_ref, sizeof(a->anchor.policy_ref));
	if (kept) {
		pol.terms.ticket = r->ticket;
		pol.terms.approver = r->approver;
	} else if ((e = tpm_verify_approval(t, &a->anchor.approver, &ahash, &a->signature,
					    &pol.terms)) != A11_OK) {
		log_error("lease %s: the TPM does not accept the broker's approval: %s",
			  r->rel.lease, a11_strerror(e));
		return e;
	}
	r->key.use_policy = true;
	r->key.policy = pol;
	return A11_OK;
}

a11_err attester_adopt(struct tpm *t, struct attester_result *r)
{
	return adopt_terms(t, r, false);
}

/* Flush a loaded object but keep its description for reloading. */
static void unload(struct tpm *t, struct tpm_key *k)
{
	struct tpm_key gone = *k;

	if (k->tr != ESYS_TR_NONE)
		tpm_key_release(t, &gone);
	k->tr = ESYS_TR_NONE;
	k->session = ESYS_TR_NONE;
}

void attester_unload(struct tpm *t, struct attester_result *r)
{
	unload(t, &r->key);
	unload(t, &r->parent);
}

static void forget(struct tpm_key *k)
{
	k->tr = ESYS_TR_NONE;
	k->session = ESYS_TR_NONE;
	k->nonce_tpm.size = 0;
}

void attester_forget_loaded(struct attester_result *r)
{
	forget(&r->key);
	forget(&r->parent);
}

a11_err attester_load_parent(struct tpm *t, const struct attester_config *c,
			     struct attester_result *r)
{
	if (c->wrap_to_ek)
		return tpm_ek_load(t, c->ek, &r->parent);
	return tpm_srk_load(t, r->srk_alg, &r->parent);
}

static a11_err load_under_parent(struct tpm *t, struct attester_result *r, struct tpm_key *k)
{
	return tpm_load(t, &r->parent, &r->key.pub, &r->priv,
			r->key.use_policy ? &r->key.policy : NULL, r->rel.auth_value ? &r->auth : NULL,
			k);
}

/* The SRK is only named (tpm_srk_name: one ReadPublic, Esys's); a
 * persistent key that is not the one the key was made under fails the
 * Load, and the checked SRK (tpm_srk_load) is tried. */
a11_err attester_reload(struct tpm *t, const struct attester_config *c, struct attester_result *r)
{
	bool named = !c->wrap_to_ek;
	struct tpm_key k;
	a11_err e;

	if (r->priv.size == 0)
		return A11_ERR_ARG; /* nothing to reload: never released */
	e = named ? tpm_srk_name(t, r->srk_alg, &r->parent) : attester_load_parent(t, c, r);
	if (e != A11_OK)
		return e;
	e = load_under_parent(t, r, &k);
	if (e != A11_OK && e != A11_ERR_TPM_COMM && named && r->parent.pub.size == 0) {
		unload(t, &r->parent);
		if ((e = attester_load_parent(t, c, r)) == A11_OK)
			e = load_under_parent(t, r, &k);
	}
	if (e == A11_OK)
		r->key = k;
	else
		unload(t, &r->parent);
	return e;
}

void attester_result_clear(struct tpm *t, struct attester_result *r)
{
	tpm_key_release(t, &r->key);
	tpm_key_release(t, &r->parent);
	release_clear(&r->rel);
	if (r->token != NULL)
		OPENSSL_cleanse(r->token, r->token_len);
	free(r->token);
	OPENSSL_cleanse(r, sizeof(*r));
	r->key.tr = r->parent.tr = ESYS_TR_NONE;
	r->key.session = r->parent.session = ESYS_TR_NONE;
}

/* A signature nobody sees, to let the TPM check the authValue (the PIN)
 * and the lease now rather than at the application's first operation. */
static a11_err probe(struct tpm *t, struct attester_result *r)
{
	const TPMT_PUBLIC *p = &r->key.pub.publicArea;
	TPM2B_DIGEST zero = { .size = 32 };
	TPMT_SIGNATURE sig;

	if (r->rel.kind == CRED_TOKEN)
		return attester_unseal(t, r);
	return tpm_sign(t, &r->key, p->type == TPM2_ALG_ECC ? TPM2_ALG_ECDSA : TPM2_ALG_RSASSA,
			TPM2_ALG_SHA256, &zero, &sig);
}

a11_err attester_cached_prepare(const struct attester_config *c, struct attester_result *r)
{
	const char *pin = c->pin ? c->pin : "";
	a11_err e;

	/* Another process wrote the file after checking the release; a file
	 * from elsewhere must not show certificates for another key. */
	if ((e = attester_check_certs(&r->rel, attester_key_public(r))) != A11_OK)
		return e;
	if (r->key_auth && (e = wire_pin_auth(pin, strlen(pin), r->salt, sizeof(r->salt),
					      r->iterations, &r->auth)) != A11_OK)
		return e;
	r->key.pub = r->rel.pub;
	r->key.tr = r->parent.tr = ESYS_TR_NONE;
	r->key.session = r->parent.session = ESYS_TR_NONE;
	return A11_OK;
}

/* The probe's answers that say nothing against a kept ticket: the PIN,
 * the link, the lease's end. Any other refusal may be the ticket's (a
 * forged or stale one fails PolicyAuthorize, before the TPM checks the
 * authValue: no dictionary-attack strike). */
static bool ticket_innocent(a11_err e)
{
	return e == A11_OK || e == A11_ERR_TPM_AUTH || e == A11_ERR_TPM_LOCKOUT ||
	       e == A11_ERR_TPM_COMM || e == A11_ERR_LEASE_ENDED;
}

a11_err attester_open_cached(struct tpm *t, const struct attester_config *c,
			     const TPMS_TIME_INFO *now, struct attester_result *r)
{
	const struct approval *a = &r->rel.approval;
	a11_err e;

	/* A lease in its last second is not worth loading (no overflow,
	 * whatever the file says). */
	if (now->clockInfo.resetCount != a->reset_count || a->clock_end < 1000 ||
	    now->clockInfo.clock > a->clock_end - 1000)
		return A11_ERR_LEASE_ENDED;
	if ((e = adopt_terms(t, r, r->has_ticket)) != A11_OK ||
	    (e = attester_reload(t, c, r)) != A11_OK)
		return e;
	e = probe(t, r);
	if (ticket_innocent(e) || !r->has_ticket)
		return e;
	log_warn("lease %s: the approval's ticket from the state file did not serve (%s); "
		 "verifying the approval again", r->rel.lease, a11_errname(e));
	r->has_ticket = false;
	if ((e = attester_adopt(t, r)) != A11_OK)
		return e;
	return probe(t, r);
}

bool attester_ticket_new(const struct attester_result *r)
{
	return !r->has_ticket && r->key.use_policy &&
	       r->key.policy.terms.ticket.tag == TPM2_ST_VERIFIED;
}

void attester_from_host(struct host_lease *hl, struct attester_result *r)
{
	memset(r, 0, sizeof(*r));
	r->rel = hl->rel;
	memset(&hl->rel, 0, sizeof(hl->rel)); /* moved */
	r->priv = hl->priv;
	r->key_auth = hl->key_auth;
	memcpy(r->salt, hl->salt, sizeof(r->salt));
	r->iterations = hl->iterations;
	r->srk_alg = hl->srk_alg;
	r->has_ticket = hl->has_ticket;
	r->ticket = hl->ticket;
	r->approver = hl->approver;
	r->key.pub = r->rel.pub;
	r->key.tr = r->parent.tr = ESYS_TR_NONE;
	r->key.session = r->parent.session = ESYS_TR_NONE;
}

void attester_to_host(const struct attester_result *r, struct host_lease *hl)
{
	memset(hl, 0, sizeof(*hl));
	hl->rel = r->rel;
	/* A TPM-born key (ca kind) came in no release: record its public. */
	if (r->key.pub.size != 0) {
		hl->rel.pub = r->key.pub;
		hl->rel.has_key = true;
	}
	hl->priv = r->priv;
	hl->key_auth = r->key_auth;
	memcpy(hl->salt, r->salt, sizeof(hl->salt));
	hl->iterations = r->iterations;
	hl->srk_alg = r->srk_alg;
	/* The ticket of the approval the key's policy was made from, if that
	 * is the release's (a renewal's adopt makes it so). */
	hl->has_ticket = r->key.use_policy && r->key.policy.terms.ticket.tag == TPM2_ST_VERIFIED &&
			 r->key.policy.terms.clock_end == r->rel.approval.clock_end &&
			 r->key.policy.terms.approved.size == r->rel.approval.approved.size &&
			 memcmp(r->key.policy.terms.approved.buffer, r->rel.approval.approved.buffer,
				r->rel.approval.approved.size) == 0;
	if (hl->has_ticket) {
		hl->ticket = r->key.policy.terms.ticket;
		hl->approver = r->key.policy.terms.approver;
	}
}
