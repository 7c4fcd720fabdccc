/* POST /v1/evidence: appraise, decide, release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../common/log.h"
#include "../proto/proto.h"
#include "../wire/attest.h"
#include "../wire/key.h"
#include "../wire/policy.h"
#include "approver.h"
#include "flow_internal.h"
#include "grant.h"
#include "metrics.h"
#include "pin.h"
#include "verifier.h"

/* Everything one evidence request works on. */
struct ctx {
	struct broker *b;
	const struct evidence_req *ev;
	struct store_session ss;
	struct store_cred cred;
	struct policy *policy;
	TPM2B_PUBLIC ek, ak;
	uint8_t ek_hash[32];
	struct appraisal ap;
	TPM2B_AUTH auth;
	bool has_auth;
	enum store_pin_event pin;     /* what the PIN proof turned out to be */
	bool quote_ok;                /* the quote verified: its counters are stored */
	struct store_tpm tpm;
	bool renewal;                 /* the session renews a lease */
	struct lease_anchor anchor;   /* approver and policyRef of the lease's key */
	struct release rel;
	struct store_lease lease;
	struct store_audit rec;
};

static enum refusal take_session(struct ctx *c)
{
	a11_err r = store_session_take(c->b->store, c->ev->session, flow_now(), &c->ss);

	switch (r) {
	case A11_OK: break;
	case A11_ERR_NOT_FOUND: return REF_SESSION_UNKNOWN;
	case A11_ERR_REUSED: return REF_NONCE_REUSED;
	case A11_ERR_EXPIRED: return REF_NONCE_EXPIRED;
	default: return flow_store_refusal(r);
	}
	snprintf(c->rec.credential, sizeof(c->rec.credential), "%s", c->ss.credential);
	snprintf(c->rec.lease, sizeof(c->rec.lease), "%s", c->ss.lease);
	if (wire_parse_public(c->ss.ek_public, c->ss.ek_public_len, &c->ek) != A11_OK ||
	    wire_parse_public(c->ss.ak_public, c->ss.ak_public_len, &c->ak) != A11_OK ||
	    verifier_ek_hash(&c->ek.publicArea, c->ek_hash) != A11_OK)
		return REF_INTERNAL;
	flow_hex(c->ek_hash, 32, c->rec.ek_hash, sizeof(c->rec.ek_hash));
	c->renewal = c->ss.lease[0] != '\0';
	c->anchor.approver = *approver_public(c->b->approver);
	memcpy(c->anchor.policy_ref, c->ss.policy_ref, sizeof(c->anchor.policy_ref));
	r = store_cred_get(c->b->store, c->ss.credential, &c->cred);
	if (r != A11_OK)
		return r == A11_ERR_NOT_FOUND ? REF_UNKNOWN_CREDENTIAL : flow_store_refusal(r);
	c->rec.policy_version = c->cred.policy_version;
	return flow_load_policy(&c->cred, &c->policy) == A11_OK ? REF_NONE : REF_INTERNAL;
}

/* The identity rules (EK CA, allow-list, AK shape) of the policy in force
 * now, not only of the one the challenge saw: a TPM struck off between
 * challenge and evidence gets nothing. */
static enum refusal check_identity(struct ctx *c)
{
	uint8_t ek_hash[32];
	enum refusal ref = verifier_check_identity(c->policy, c->ss.ek_cert, c->ss.ek_cert_len,
						   &c->ek, &c->ak, ek_hash);

	if (ref == REF_NONE && memcmp(ek_hash, c->ek_hash, 32) != 0)
		ref = REF_INTERNAL;
	return ref;
}

static enum refusal appraise(struct ctx *c)
{
	const struct verifier_session vs = { &c->ak, c->ss.nonce, sizeof(c->ss.nonce),
					     c->ss.secret_hash };
	TPM2B_NAME ak_name;

	metrics_inc(M_ATTESTATIONS);
	verifier_appraise(c->policy, &vs, c->ev, &c->ap);
	if (wire_name(&c->ak.publicArea, &ak_name) == A11_OK)
		flow_hex(ak_name.name, ak_name.size, c->rec.ak_name, sizeof(c->rec.ak_name));
	if (c->ap.quote.type == TPM2_ST_ATTEST_QUOTE)
		flow_hex(c->ap.quote.attested.quote.pcrDigest.buffer,
			 c->ap.quote.attested.quote.pcrDigest.size, c->rec.pcr_digest,
			 sizeof(c->rec.pcr_digest));
	return c->ap.refusal;
}

/* resetCount counts TPM resets (reboots), restartCount resumes; within
 * one of them the clock only moves forward. The quote answers this
 * session's nonce, so it was made after the challenge: it may not be older
 * than what the broker had seen of this TPM when it issued the challenge
 * (an old quote or a rolled-back TPM). Quotes of concurrent sessions may
 * arrive in any order; each is held only to its own challenge. */
static enum refusal check_counters(struct ctx *c)
{
	const TPMS_CLOCK_INFO *ci = &c->ap.quote.clockInfo;
	const struct store_tpm seen = { .reset_count = c->ss.seen_reset_count,
					.restart_count = c->ss.seen_restart_count,
					.clock = c->ss.seen_clock };

	memcpy(c->tpm.ek_hash, c->ek_hash, 32);
	c->tpm.reset_count = ci->resetCount;
	c->tpm.restart_count = ci->restartCount;
	c->tpm.clock = ci->clock;
	c->tpm.last_seen = flow_now();
	if (c->ss.seen_known && store_tpm_newer(&seen, &c->tpm)) {
		log_warn("TPM %s: quote older than the challenge (reset %u<-%u restart %u<-%u)",
			 c->rec.ek_hash, ci->resetCount, seen.reset_count, ci->restartCount,
			 seen.restart_count);
		return REF_TPM_REBOOT_REPLAY;
	}
	if (c->ss.seen_known && ci->resetCount > seen.reset_count)
		log_info("TPM %s rebooted since last seen (resetCount %u -> %u)", c->rec.ek_hash,
			 seen.reset_count, ci->resetCount);
	c->quote_ok = true;
	return REF_NONE;
}

static bool certified(struct ctx *c, const TPM2B_PUBLIC *obj, const struct proto_attest *a)
{
	TPM2B_DATA nonce = { .size = sizeof(c->ss.nonce) };

	memcpy(nonce.buffer, c->ss.nonce, sizeof(c->ss.nonce));
	return wire_certify_verify(&c->ak.publicArea, a->data, a->len, &a->sig, &nonce,
				   &c->ap.ak_qn, &obj->publicArea, NULL) == A11_OK;
}

/* A storage parent the TPM keeps to itself, with the AES-CFB wrapping the
 * duplication blob needs. */
static bool parent_ok(const TPMT_PUBLIC *p)
{
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	const TPMT_SYM_DEF_OBJECT *sym = p->type == TPM2_ALG_RSA ? &p->parameters.rsaDetail.symmetric
								 : &p->parameters.eccDetail.symmetric;

	return (p->objectAttributes & need) == need && !(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) &&
	       (p->type == TPM2_ALG_RSA || p->type == TPM2_ALG_ECC) &&
	       sym->algorithm == TPM2_ALG_AES && sym->mode.aes == TPM2_ALG_CFB;
}

static enum refusal check_objects(struct ctx *c)
{
	if (c->ev->has_parent && (!certified(c, &c->ev->parent, &c->ev->parent_certify) ||
				  !parent_ok(&c->ev->parent.publicArea)))
		return REF_PARENT_INVALID;
	if (c->cred.kind == CRED_CA &&
	    (!c->ev->has_key || !certified(c, &c->ev->key, &c->ev->key_certify)))
		return REF_KEY_INVALID;
	return REF_NONE;
}

/* Checked only after the platform is trusted: guessing needs a good TPM.
 * A renewal needs no PIN: the key it approves already demands the
 * PIN-derived authValue in the TPM at every use; but a locked credential
 * renews nothing. The count and the lock are decided when the verdict
 * commits (store_verdict_commit), atomically with the release: a right
 * PIN racing a wrong one that locks is released only if it commits first. */
static enum refusal check_pin(struct ctx *c)
{
	a11_err r;

	if (c->cred.pin_verifier == NULL)
		return REF_NONE;
	if (c->cred.pin_locked)
		return REF_PIN_LOCKED;
	if (c->renewal)
		return REF_NONE;
	if (!c->ev->has_pin)
		return REF_PIN_REQUIRED;
	r = pin_record_check(c->b->secrets, c->cred.name, c->cred.pin_verifier, &c->ev->pin_auth,
			     &c->auth);
	if (r != A11_OK && r != A11_ERR_TPM_AUTH)
		return REF_INTERNAL;
	c->pin = r == A11_OK ? STORE_PIN_RIGHT : STORE_PIN_WRONG;
	c->has_auth = r == A11_OK;
	return r == A11_OK ? REF_NONE : REF_PIN_INCORRECT;
}

static enum refusal start_lease(struct ctx *c)
{
	const TPM2B_PUBLIC *ap;
	uint8_t id[16];
	int64_t now = flow_now();

	/* Whether the lease still holds is decided when the verdict commits. */
	if (c->renewal) {
		if (store_lease_get(c->b->store, c->ss.lease, &c->lease) != A11_OK)
			return REF_LEASE_UNKNOWN;
		/* Renewed by the key its key's policy names, even if no longer
		 * the current one (src/broker/approver.h). */
		if ((ap = approver_public_of(c->b->approver, c->lease.approver,
					     c->lease.approver_len)) == NULL)
			return REF_INTERNAL;
		c->anchor.approver = *ap;
		/* What this session renews, for the commit to hold against the
		 * stored lease: this TPM, this credential, this policyRef. */
		memcpy(c->lease.ek_hash, c->ek_hash, sizeof(c->lease.ek_hash));
		memcpy(c->lease.policy_ref, c->ss.policy_ref, sizeof(c->lease.policy_ref));
		snprintf(c->lease.credential, sizeof(c->lease.credential), "%s", c->cred.name);
		snprintf(c->rec.event, sizeof(c->rec.event), "renewal");
		metrics_inc(M_RENEWALS);
	} else {
		if (RAND_bytes(id, sizeof(id)) != 1)
			return REF_INTERNAL;
		flow_hex(id, sizeof(id), c->lease.id, sizeof(c->lease.id));
		snprintf(c->lease.credential, sizeof(c->lease.credential), "%s", c->cred.name);
		memcpy(c->lease.ek_hash, c->ek_hash, 32);
		memcpy(c->lease.policy_ref, c->ss.policy_ref, sizeof(c->lease.policy_ref));
		approver_name(c->b->approver, c->lease.approver);
		c->lease.approver_len = APPROVER_NAME_LEN;
		c->lease.issued = now;
	}
	c->lease.expires = now + c->policy->lease_ttl;
	snprintf(c->rec.lease, sizeof(c->rec.lease), "%s", c->lease.id);
	return REF_NONE;
}

/* The lease as the TPM enforces it: until the TPM's clock, as the quote
 * just showed it, has run the lease's length, within this boot
 * (resetCount). The approver signs it for this lease's key alone. */
static enum refusal approve(struct ctx *c)
{
	const TPMS_CLOCK_INFO *ci = &c->ap.quote.clockInfo;
	struct approval *a = &c->rel.approval;
	const struct wire_lease_terms t = {
		.clock_end = ci->clock + (uint64_t)c->policy->lease_ttl * 1000u,
		.reset_count = ci->resetCount,
		.pcrs = c->policy->bind_pcrs ? &c->policy->pcr_selection : NULL,
		.values = &c->ev->pcrs,
		.auth_value = c->cred.pin_verifier != NULL,
	};
	TPM2B_DIGEST ahash;

	a->anchor = c->anchor;
	a->clock_end = t.clock_end;
	a->reset_count = t.reset_count;
	if (wire_lease_policy(&t, &a->approved) != A11_OK ||
	    wire_approval_digest(&a->approved, a->anchor.policy_ref,
				 sizeof(a->anchor.policy_ref), &ahash) != A11_OK ||
	    approver_sign_with(c->b->approver, &a->anchor.approver, &ahash, &a->signature) !=
		    A11_OK) {
		log_error("cannot sign the approval of lease %s", c->lease.id);
		return REF_INTERNAL;
	}
	return REF_NONE;
}

/* The key the lease is for: the one the release wraps, or the TPM-born
 * one the ca kind certifies. A renewal's stored name stays, except that a
 * ca renewal names the key it presents, which the commit compares with
 * the lease's (store_verdict_hold): a renewal certifies that key or none. */
static a11_err set_key_name(struct ctx *c)
{
	const TPM2B_PUBLIC *k = c->cred.kind == CRED_CA ? &c->ev->key
				: c->rel.has_key ? &c->rel.pub : NULL;
	TPM2B_NAME n;
	a11_err r;

	if (k == NULL)
		return c->renewal ? A11_OK : A11_ERR_ARG;
	if ((r = wire_name(&k->publicArea, &n)) != A11_OK)
		return r;
	if (n.size > sizeof(c->lease.key_name))
		return A11_ERR_UNSUPPORTED;
	memcpy(c->lease.key_name, n.name, n.size);
	c->lease.key_name_len = n.size;
	return A11_OK;
}

static enum refusal release(struct ctx *c)
{
	const struct grant_input in = {
		.cred = &c->cred, .secrets = c->b->secrets, .policy = c->policy,
		.parent = c->ev->has_parent ? &c->ev->parent.publicArea : &c->ek.publicArea,
		.ev = c->ev, .auth = c->has_auth ? &c->auth : NULL,
		.anchor = &c->anchor, .renewal = c->renewal,
		.not_before = flow_now() - 60, .not_after = c->lease.expires,
	};
	enum refusal ref = grant_build(&in, &c->rel, c->lease.cert_serial);

	if (ref == REF_NONE)
		ref = approve(c);
	if (ref != REF_NONE)
		return ref;
	snprintf(c->rec.cert_serial, sizeof(c->rec.cert_serial), "%s", c->lease.cert_serial);
	if (set_key_name(c) != A11_OK)
		return REF_INTERNAL;
	snprintf(c->rel.lease, sizeof(c->rel.lease), "%s", c->lease.id);
	c->rel.lease_expires = c->lease.expires;
	c->rel.lease_approved = flow_now();
	return REF_NONE;
}

/* The attestation result, signed, and its digest in the audit record. */
static void sign_result(struct ctx *c)
{
	uint8_t d[32];

	c->ap.ear.iat = flow_now();
	snprintf(c->ap.ear.policy_id, sizeof(c->ap.ear.policy_id), "attest11:%s:%lld",
		 c->cred.name, (long long)c->cred.policy_version);
	if (ear_sign(c->b->ear, &c->ap.ear, &c->rel.ear) != A11_OK) {
		log_error("cannot sign the attestation result");
		return;
	}
	if (EVP_Digest(c->rel.ear, strlen(c->rel.ear), d, NULL, EVP_sha256(), NULL) == 1)
		flow_hex(d, 32, c->rec.ar_digest, sizeof(c->rec.ar_digest));
}

_Static_assert(AR__COUNT == sizeof(((struct policy *)0)->require_affirming),
	       "policy.require_affirming is indexed by enum ar4si_claim");

/* The overall status must affirm, and so must every claim the policy
 * names (an absent claim does not). */
static enum refusal check_tiers(const struct ctx *c)
{
	if (ear_status(&c->ap.ear) != EAR_AFFIRMING)
		return REF_TRUST_TIER;
	for (int i = 0; i < AR__COUNT; i++)
		if (c->policy->require_affirming[i] &&
		    (c->ap.ear.tv[i] < 2 || c->ap.ear.tv[i] > 31))
			return REF_TRUST_TIER;
	return REF_NONE;
}

static enum refusal decide(struct ctx *c)
{
	enum refusal ref;

	/* Before the appraisal there is no attestation result to sign. */
	if ((ref = take_session(c)) != REF_NONE || (ref = check_identity(c)) != REF_NONE)
		return ref;
	ref = appraise(c);
	if (ref == REF_NONE)
		ref = check_tiers(c);
	if (ref == REF_NONE)
		ref = check_counters(c);
	if (ref == REF_NONE)
		ref = check_objects(c);
	if (ref == REF_NONE)
		ref = check_pin(c);
	if (ref == REF_NONE)
		ref = start_lease(c);
	sign_result(c);
	if (ref == REF_NONE && c->rel.ear == NULL)
		ref = REF_INTERNAL;
	if (ref == REF_NONE)
		ref = release(c);
	return ref;
}

static enum refusal held_refusal(enum store_hold h)
{
	switch (h) {
	case STORE_HOLD_OK: return REF_NONE;
	case STORE_HOLD_CREDENTIAL: return REF_UNKNOWN_CREDENTIAL;
	case STORE_HOLD_POLICY: return REF_POLICY_CHANGED;
	case STORE_HOLD_PIN_LOCKED: return REF_PIN_LOCKED;
	case STORE_HOLD_KEY: return REF_KEY_INVALID;
	case STORE_HOLD_LEASE_REVOKED: return REF_LEASE_REVOKED;
	default: return REF_LEASE_UNKNOWN;
	}
}

/* Stores the verdict with everything it changes, in one transaction. A
 * release that no longer holds at commit time becomes the refusal saying
 * why, stored instead. Returns the verdict as it stands. */
static enum refusal commit(struct ctx *c, enum refusal ref)
{
	struct store_verdict v = {
		.audit = &c->rec, .credential = c->cred.name[0] ? c->cred.name : NULL,
		.tpm = c->quote_ok ? &c->tpm : NULL,
		.pin = c->pin == STORE_PIN_RIGHT && ref != REF_NONE ? STORE_PIN_NONE : c->pin,
		.pin_max_failures = c->policy ? c->policy->pin_max_failures : 0,
		.locked_code = refusal_code(REF_PIN_LOCKED),
		.lease = ref == REF_NONE ? &c->lease : NULL, .renewal = c->renewal,
		.policy_version = c->cred.policy_version,
	};
	enum store_hold held = STORE_HOLD_OK;
	a11_err r;

	flow_audit_fill(&c->rec, ref);
	if ((r = store_verdict_commit(c->b->store, &v, &held)) != A11_OK) {
		log_error("cannot store the verdict on %s (%s)", c->rec.credential, c->rec.code);
		return flow_store_refusal(r);
	}
	if (held != STORE_HOLD_OK) {
		ref = held_refusal(held);
		log_warn("release of %s to TPM %s no longer holds at commit: %s", c->cred.name,
			 c->rec.ek_hash, refusal_code(ref));
		memset(c->rec.event, 0, sizeof(c->rec.event));
		memset(c->rec.cert_serial, 0, sizeof(c->rec.cert_serial)); /* never issued */
		return commit(c, ref);
	}
	/* The wrong PIN that locked the credential is told so. */
	return ref == REF_PIN_INCORRECT && v.pin_locked ? REF_PIN_LOCKED : ref;
}

void flow_evidence(struct broker *b, const struct http_request *req, struct http_response *resp)
{
	struct evidence_req *ev = calloc(1, sizeof(*ev));
	struct ctx *c = calloc(1, sizeof(*c));
	enum refusal ref;

	if (ev == NULL || c == NULL ||
	    evidence_req_decode((const char *)req->body, req->body_len, ev) != A11_OK) {
		flow_refuse(resp, ev && c ? REF_BAD_REQUEST : REF_INTERNAL);
		goto out;
	}
	c->b = b;
	c->ev = ev;
	ref = decide(c);
	/* Nothing to record: no session, or a store that cannot take it. */
	if (ref != REF_SESSION_UNKNOWN && ref != REF_STORE_BUSY)
		ref = commit(c, ref);
	if (ref == REF_NONE) {
		metrics_release(c->cred.kind);
		log_info("released %s (%s) to TPM %s, lease %s", c->cred.name,
			 cred_kind_name(c->cred.kind), c->rec.ek_hash, c->lease.id);
		flow_reply(resp, release_encode(&c->rel));
	} else {
		log_warn("evidence for %s refused: %s", c->ss.credential, refusal_code(ref));
		/* Only the event log's verdicts carry a detail: which event. */
		flow_refuse_detail(resp, ref, c->ap.refusal == ref && c->ap.detail[0] ? c->ap.detail
											: NULL);
	}
out:
	if (c != NULL) {
		store_session_clear(&c->ss);
		store_cred_clear(&c->cred);
		policy_free(c->policy);
		release_clear(&c->rel);
		OPENSSL_cleanse(c, sizeof(*c));
	}
	if (ev != NULL)
		evidence_req_clear(ev);
	free(c);
	free(ev);
}
