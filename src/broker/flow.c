/* Shared by both protocol steps: responses, audit records, sessions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../common/log.h"
#include "../proto/proto.h"
#include "../wire/key.h"
#include "../wire/wrap.h"
#include "approver.h"
#include "flow_internal.h"
#include "metrics.h"
#include "pin.h"
#include "policy.h"
#include "verifier.h"

int64_t flow_now(void)
{
	return (int64_t)time(NULL);
}

void flow_hex(const uint8_t *in, size_t len, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len && 2 * i + 2 < cap; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * i] = '\0';
}

void flow_refuse(struct http_response *resp, enum refusal r)
{
	flow_refuse_detail(resp, r, NULL);
}

void flow_refuse_detail(struct http_response *resp, enum refusal r, const char *detail)
{
	resp->status = refusal_status(r);
	resp->content_type = "application/problem+json";
	resp->body = problem_encode(refusal_code(r), refusal_title(r), resp->status, detail);
	resp->body_len = resp->body ? strlen(resp->body) : 0;
	resp->outcome = refusal_code(r);
	/* The 503s are "not now": when to come back (admit.c may say later). */
	resp->retry_after = refusal_status(r) == 503 ? 1 : 0;
	metrics_refusal(r);
}

enum refusal flow_store_refusal(a11_err r)
{
	return r == A11_ERR_BUSY ? REF_STORE_BUSY : REF_INTERNAL;
}

void flow_reply(struct http_response *resp, char *json)
{
	if (json == NULL) {
		flow_refuse(resp, REF_INTERNAL);
		return;
	}
	resp->status = 200;
	resp->content_type = "application/json";
	resp->body = json;
	resp->body_len = strlen(json);
	resp->outcome = "ok";
}

void flow_audit_fill(struct store_audit *rec, enum refusal r)
{
	rec->time = flow_now();
	if (rec->event[0] == '\0')
		snprintf(rec->event, sizeof(rec->event), "%s", r == REF_NONE ? "release" : "refusal");
	snprintf(rec->code, sizeof(rec->code), "%s", refusal_code(r));
}

void flow_audit(struct broker *b, struct store_audit *rec, enum refusal r)
{
	flow_audit_fill(rec, r);
	/* Provenance is part of the release: a failed append is logged loudly
	 * but does not turn a decision already taken into a different one. */
	if (store_audit_append(b->store, rec) != A11_OK)
		log_error("audit append failed for %s (%s)", rec->credential, rec->code);
}

a11_err flow_load_policy(const struct store_cred *c, struct policy **p)
{
	a11_err r = policy_parse(c->policy_json, strlen(c->policy_json), p);

	if (r != A11_OK)
		log_error("credential %s: stored policy does not parse", c->name);
	return r;
}

/* A renewal names a live lease of this TPM and this credential. */
static enum refusal check_lease(struct broker *b, const struct challenge_req *m,
				const uint8_t ek_hash[32], struct store_lease *l)
{
	a11_err r = store_lease_get(b->store, m->lease, l);

	if (r == A11_ERR_NOT_FOUND ||
	    (r == A11_OK && (memcmp(l->ek_hash, ek_hash, 32) != 0 ||
			     strcmp(l->credential, m->credential) != 0)))
		return REF_LEASE_UNKNOWN;
	if (r != A11_OK)
		return flow_store_refusal(r);
	return l->revoked ? REF_LEASE_REVOKED : REF_NONE;
}

static a11_err marshal_public(const TPM2B_PUBLIC *p, uint8_t **out, size_t *len)
{
	uint8_t buf[sizeof(*p)];
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(p, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return A11_ERR_ARG;
	if ((*out = malloc(off)) == NULL)
		return A11_ERR_NOMEM;
	memcpy(*out, buf, off);
	*len = off;
	return A11_OK;
}

/* Session + MakeCredential: the secret only the EK's TPM can recover for
 * this AK, of which the broker keeps just a hash. */
static enum refusal open_session(struct broker *b, const struct challenge_req *m,
				 struct store_session *ss, struct challenge_resp *resp)
{
	TPM2B_DIGEST secret = { .size = 32 };
	TPM2B_NAME ak_name;
	uint8_t id[16];
	a11_err r = RAND_bytes(id, sizeof(id)) == 1 && RAND_bytes(ss->nonce, 32) == 1 &&
		RAND_bytes(secret.buffer, 32) == 1 ? A11_OK : A11_ERR_CRYPTO;

	if (r == A11_OK)
		r = wire_name(&m->ak.publicArea, &ak_name);
	if (r == A11_OK)
		r = wire_make_credential(&m->ek.publicArea, &ak_name, &secret,
					 &resp->credential_blob, &resp->encrypted_secret);
	if (r == A11_OK && EVP_Digest(secret.buffer, 32, ss->secret_hash, NULL, EVP_sha256(),
				      NULL) != 1)
		r = A11_ERR_CRYPTO;
	OPENSSL_cleanse(&secret, sizeof(secret));
	flow_hex(id, sizeof(id), ss->id, sizeof(ss->id));
	snprintf(ss->credential, sizeof(ss->credential), "%s", m->credential);
	snprintf(ss->lease, sizeof(ss->lease), "%s", m->lease);
	ss->expires = flow_now() + b->nonce_ttl;
	ss->ek_cert = (uint8_t *)m->ek_cert;
	ss->ek_cert_len = m->ek_cert_len;
	if (r == A11_OK)
		r = marshal_public(&m->ek, &ss->ek_public, &ss->ek_public_len);
	if (r == A11_OK)
		r = marshal_public(&m->ak, &ss->ak_public, &ss->ak_public_len);
	if (r == A11_OK)
		r = store_session_put(b->store, ss);
	ss->ek_cert = NULL; /* borrowed from m */
	if (r != A11_OK)
		return flow_store_refusal(r);
	memcpy(resp->session, ss->id, sizeof(resp->session));
	memcpy(resp->nonce.buffer, ss->nonce, 32);
	resp->nonce.size = 32;
	resp->expires = ss->expires;
	return REF_NONE;
}

/* What the broker has seen of this TPM so far: the quote answering this
 * challenge may not be older (src/broker/evidence.c, check_counters). */
static a11_err seen_counters(struct broker *b, const uint8_t ek_hash[32], struct store_session *ss)
{
	struct store_tpm t;
	a11_err r = store_tpm_get(b->store, ek_hash, &t, &ss->seen_known);

	ss->seen_reset_count = t.reset_count;
	ss->seen_restart_count = t.restart_count;
	ss->seen_clock = t.clock;
	return r;
}

static enum refusal challenge(struct broker *b, const struct challenge_req *m,
			      struct store_audit *rec, struct challenge_resp *resp)
{
	struct store_cred c = { 0 };
	struct store_session ss = { 0 };
	struct store_lease lease = { 0 };
	const TPM2B_PUBLIC *ap;
	struct policy *p = NULL;
	uint8_t ek_hash[32];
	enum refusal ref = REF_INTERNAL;
	a11_err r = store_cred_get(b->store, m->credential, &c);

	if (r != A11_OK) {
		ref = r == A11_ERR_NOT_FOUND ? REF_UNKNOWN_CREDENTIAL : flow_store_refusal(r);
		goto out;
	}
	rec->policy_version = c.policy_version;
	if (flow_load_policy(&c, &p) != A11_OK)
		goto out;
	ref = verifier_check_identity(p, m->ek_cert, m->ek_cert_len, &m->ek, &m->ak, ek_hash);
	if (ref == REF_NONE || ref == REF_EK_NOT_ALLOWED || ref == REF_AK_INVALID)
		flow_hex(ek_hash, 32, rec->ek_hash, sizeof(rec->ek_hash));
	if (ref == REF_NONE && m->lease[0] != '\0')
		ref = check_lease(b, m, ek_hash, &lease);
	/* The iterations the PIN's authValue was derived with, kept with it. */
	if (ref == REF_NONE && c.pin_verifier != NULL &&
	    pin_record_iterations(c.name, c.pin_verifier, &resp->iterations) != A11_OK)
		ref = REF_INTERNAL;
	if (ref != REF_NONE)
		goto out;
	if ((r = seen_counters(b, ek_hash, &ss)) != A11_OK) {
		ref = flow_store_refusal(r);
		goto out;
	}
	/* The key of a new lease gets a fresh policyRef; a renewal keeps its
	 * lease's, which its key's authPolicy names. */
	if (m->lease[0] != '\0')
		memcpy(ss.policy_ref, lease.policy_ref, sizeof(ss.policy_ref));
	else if (RAND_bytes(ss.policy_ref, sizeof(ss.policy_ref)) != 1) {
		ref = REF_INTERNAL;
		goto out;
	}
	/* A renewal's key names its lease's approver key, maybe an old one. */
	ap = m->lease[0] != '\0' ? approver_public_of(b->approver, lease.approver,
						      lease.approver_len)
				 : approver_public(b->approver);
	if (ap == NULL) {
		ref = REF_INTERNAL;
		goto out;
	}
	ref = open_session(b, m, &ss, resp);
	resp->anchor.approver = *ap;
	memcpy(resp->anchor.policy_ref, ss.policy_ref, sizeof(ss.policy_ref));
	resp->pcr_selection = p->pcr_selection;
	resp->kind = c.kind;
	resp->bind_pcrs = p->bind_pcrs;
	resp->eventlog = p->ev.present;
	if (c.pin_verifier != NULL) {
		resp->key_auth = true;
		memcpy(resp->salt, c.pin_salt, sizeof(resp->salt));
	}
out:
	store_session_clear(&ss);
	store_cred_clear(&c);
	policy_free(p);
	return ref;
}

void flow_challenge(struct broker *b, const struct http_request *req, struct http_response *resp)
{
	struct challenge_req *m = calloc(1, sizeof(*m));
	struct challenge_resp out = { 0 };
	struct store_audit rec = { 0 };
	enum refusal ref;

	if (m == NULL || challenge_req_decode((const char *)req->body, req->body_len, m) != A11_OK) {
		flow_refuse(resp, m ? REF_BAD_REQUEST : REF_INTERNAL);
		free(m);
		return;
	}
	metrics_inc(M_CHALLENGES);
	snprintf(rec.credential, sizeof(rec.credential), "%s", m->credential);
	snprintf(rec.lease, sizeof(rec.lease), "%s", m->lease);
	ref = challenge(b, m, &rec, &out);
	if (ref == REF_NONE) {
		flow_reply(resp, challenge_resp_encode(&out));
	} else {
		log_warn("challenge for %s refused: %s", m->credential, refusal_code(ref));
		/* A busy store would only refuse the record too; nothing happened. */
		if (ref != REF_STORE_BUSY)
			flow_audit(b, &rec, ref);
		flow_refuse(resp, ref);
	}
	free(m);
}
