/* The protocol (docs/protocol.md) from the attester's side: challenge,
 * evidence, release; for a renewal the same exchange about a key the host
 * already holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "../common/log.h"
#include "../proto/refusal.h"
#include "../wire/pin.h"
#include "../wire/policy.h"
#include "client.h"
#include "check.h"
#include "ear.h"
#include "evlog.h"
#include "released_key.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)

/* State of one exchange that the caller never sees. */
struct run {
	struct tpm *t;                /* NULL once the connection was dropped */
	struct client *http;          /* *c->http, or own_http */
	struct client *own_http;      /* c->http NULL: this exchange's */
	bool http_failed;             /* a request failed in the client itself */
	const struct attester_config *c;
	struct attester_result *res;  /* receives the release */
	struct attester_result *cur;  /* renewal: the live key; else NULL */
	struct tpm_key *ek, *ak;      /* the connection's (tpm_identity_get) */
	struct challenge_req creq;
	struct challenge_resp cresp;
	struct evidence_req ev;
	bool lost_session;            /* see start_again */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The TPM for the next stretch of work. A connection dropped while the
 * exchange was on the network (fork, TPM fault) took its identity, EK and
 * AK with it: forget the pointers, never touch them again. */
static a11_err enter(struct run *x)
{
	struct tpm *now;

	if (x->c->tpm_enter == NULL)
		return A11_OK;
	now = x->c->tpm_enter(x->c->tpm_arg); /* leave(x) follows, whatever now is */
	if (x->t != NULL && now == x->t)
		return A11_OK;
	x->t = NULL;
	x->ek = x->ak = NULL;
	return A11_ERR_TPM_COMM;
}

static void leave(const struct run *x)
{
	if (x->c->tpm_leave != NULL)
		x->c->tpm_leave(x->c->tpm_arg);
}

/* POST json to path; 200 -> body, else the broker's problem. */
static a11_err post(struct run *x, const char *path, char *json, struct client_response *resp)
{
	a11_err r;

	if (json == NULL)
		return A11_ERR_NOMEM;
	r = client_post(x->http, path, json, resp);
	x->http_failed = r != A11_OK;
	OPENSSL_cleanse(json, strlen(json)); /* the evidence request carries the PIN's proof */
	free(json);
	if (r != A11_OK || resp->status == 200)
		return r;
	if (problem_decode(resp->body ? resp->body : "", resp->len, x->res->refusal,
			   sizeof(x->res->refusal), x->res->detail, sizeof(x->res->detail)) != A11_OK) {
		log_error("broker answered HTTP %ld without a problem report", resp->status);
		free(resp->body);
		return A11_ERR_PROTOCOL;
	}
	log_error("broker refused %s: %s (%s)", x->c->credential, x->res->refusal, x->res->detail);
	x->lost_session = resp->failed_over && refusal_parse(x->res->refusal) == REF_NONCE_REUSED;
	free(resp->body);
	return A11_ERR_REFUSED;
}

void attester_http_close(struct client **http)
{
	client_close(*http);
	*http = NULL;
}

/* The caller's HTTPS client (kept between its exchanges), or a new one if
 * there is none or the settings changed. Not the TPM's business: a fork
 * drops the TPM connection without waiting for the network. */
static a11_err connect_broker(struct run *x)
{
	long cms = x->c->connect_timeout_ms ? x->c->connect_timeout_ms : 5000;
	long tms = x->c->timeout_ms ? x->c->timeout_ms : 15000;
	struct client **slot = x->c->http != NULL ? x->c->http : &x->own_http;
	a11_err r;

	if (*slot != NULL && !client_fits(*slot, x->c->broker_url, x->c->ca_file, cms, tms))
		attester_http_close(slot);
	if (*slot == NULL &&
	    (r = client_open(x->c->broker_url, x->c->ca_file, cms, tms, slot)) != A11_OK)
		return r;
	x->http = *slot;
	return A11_OK;
}

/* The EK certificate, the EK and the AK are read once per TPM connection
 * and reused by its later logins and renewals (src/tpm/identity.c); an
 * exchange that fails drops them, and its HTTPS client. The AK is bound to
 * the EK afresh by each exchange's credential activation. */
static a11_err identify(struct run *x)
{
	struct tpm_identity *id;
	a11_err r;

	TRY(enter(x));
	TRY(tpm_identity_get(x->t, x->c->ek, &id));
	x->ek = &id->ek;
	x->ak = &id->ak;
	TRY(connect_broker(x));
	TRY(id->ek_cert_len <= sizeof(x->creq.ek_cert) ? A11_OK : A11_ERR_UNSUPPORTED);
	memcpy(x->creq.ek_cert, id->ek_cert, id->ek_cert_len);
	x->creq.ek_cert_len = id->ek_cert_len;
	x->creq.ek = x->ek->pub;
	x->creq.ak = x->ak->pub;
out:
	leave(x);
	return r;
}

static a11_err challenge(struct run *x)
{
	struct client_response resp;
	a11_err r;

	if ((r = identify(x)) != A11_OK)
		return r;
	snprintf(x->creq.credential, sizeof(x->creq.credential), "%s", x->c->credential);
	if (x->cur != NULL)
		snprintf(x->creq.lease, sizeof(x->creq.lease), "%s", x->cur->rel.lease);
	if ((r = post(x, "/v1/challenge", challenge_req_encode(&x->creq), &resp)) != A11_OK)
		return r;
	if (challenge_resp_decode(resp.body, resp.len, &x->cresp) != A11_OK)
		r = A11_ERR_PROTOCOL;
	free(resp.body);
	if (r == A11_OK)
		log_info("credential %s (%s), session %s, %u-byte nonce, %u PCR bank(s)",
			 x->c->credential, cred_kind_name(x->cresp.kind), x->cresp.session,
			 x->cresp.nonce.size, x->cresp.pcr_selection.count);
	return r;
}

static a11_err certify(struct run *x, struct tpm_key *obj, TPM2B_PUBLIC *pub,
		       struct proto_attest *a)
{
	TPM2B_DATA nonce = { .size = x->cresp.nonce.size };
	TPM2B_ATTEST att;
	a11_err r;

	memcpy(nonce.buffer, x->cresp.nonce.buffer, nonce.size);
	if ((r = tpm_certify(x->t, x->ak, obj, &nonce, &att, &a->sig)) != A11_OK)
		return r;
	memcpy(a->data, att.attestationData, att.size);
	a->len = att.size;
	*pub = obj->pub;
	return A11_OK;
}

/* The key a certificate will be issued for, under the lease's authPolicy
 * (PolicyAuthorize by the broker's approver) and the PIN's authValue. */
static a11_err born_key(struct run *x)
{
	const struct lease_anchor *an = &x->cresp.anchor;
	struct release shape = { .pcr_bound = x->cresp.bind_pcrs,
				 .pcr_selection = x->cresp.pcr_selection,
				 .auth_value = x->cresp.key_auth };
	struct tpm_policy pol;
	TPM2B_DIGEST pd;
	a11_err r = wire_key_policy(&an->approver.publicArea, an->policy_ref,
				    sizeof(an->policy_ref), &pd);

	attester_key_policy(&shape, &pol);
	if (r == A11_OK)
		r = tpm_key_create(x->t, &x->res->parent, TPM2_ALG_ECC,
				   x->cresp.key_auth ? &x->res->auth : NULL, &pd, &pol,
				   &x->res->priv, &x->res->key);
	return r;
}

/* A fresh release: the PIN, a certified parent to wrap to, a born key. */
static a11_err fresh_objects(struct run *x)
{
	struct attester_result *res = x->res;
	a11_err r = A11_OK;

	if (x->cresp.key_auth) {
		const char *pin = x->c->pin ? x->c->pin : "";
		TRY(wire_pin_auth(pin, strlen(pin), x->cresp.salt, sizeof(x->cresp.salt),
				  x->cresp.iterations, &res->auth));
		res->key_auth = true;
		memcpy(res->salt, x->cresp.salt, sizeof(res->salt));
		res->iterations = x->cresp.iterations;
	}
	res->srk_alg = TPM2_ALG_ECC;
	TRY(attester_load_parent(x->t, x->c, res));
	if (!x->c->wrap_to_ek) {
		TRY(certify(x, &res->parent, &x->ev.parent, &x->ev.parent_certify));
		x->ev.has_parent = true;
	}
	if (x->cresp.kind == CRED_CA) {
		TRY(born_key(x));
		TRY(certify(x, &res->key, &x->ev.key, &x->ev.key_certify));
		x->ev.has_key = true;
	}
	/* The PIN itself stays here: its authValue is the proof (src/wire/pin.h). */
	if (res->key_auth && x->c->pin != NULL) {
		x->ev.pin_auth = res->auth;
		x->ev.has_pin = true;
	}
out:
	return r;
}

/* A renewal of the ca kind certifies the key the host already holds. */
static a11_err renewal_objects(struct run *x)
{
	a11_err r = A11_OK;

	if (x->cresp.kind != CRED_CA)
		return A11_OK;
	if (x->cur->key.tr == ESYS_TR_NONE && (r = attester_reload(x->t, x->c, x->cur)) != A11_OK)
		return r;
	r = certify(x, &x->cur->key, &x->ev.key, &x->ev.key_certify);
	x->ev.has_key = r == A11_OK;
	return r;
}

/* The broker's policy appraises how the host booted: the log goes along,
 * if there is one (without, the broker refuses and says so). */
static a11_err attach_eventlog(struct run *x)
{
	a11_err r;

	if (!x->cresp.eventlog)
		return A11_OK;
	r = x->c->eventlog ? attester_read_eventlog(x->c->eventlog, &x->ev.eventlog,
						      &x->ev.eventlog_len)
			   : A11_ERR_NOT_FOUND;
	if (r == A11_ERR_NOT_FOUND)
		log_warn("the broker asks for the boot's event log; %s: none is sent",
			 x->c->eventlog ? x->c->eventlog : "no eventlog configured");
	return r == A11_ERR_NOT_FOUND ? A11_OK : r;
}

static a11_err evidence(struct run *x)
{
	TPM2B_DATA nonce = { .size = x->cresp.nonce.size };
	TPM2B_ATTEST att;
	a11_err r;

	TRY(enter(x));
	memcpy(nonce.buffer, x->cresp.nonce.buffer, nonce.size);
	snprintf(x->ev.session, sizeof(x->ev.session), "%s", x->cresp.session);
	TRY(tpm_activate_credential(x->t, x->ak, x->ek, &x->cresp.credential_blob,
				    &x->cresp.encrypted_secret, &x->ev.activated));
	TRY(tpm_pcr_read(x->t, &x->cresp.pcr_selection, &x->ev.pcrs));
	TRY(tpm_quote(x->t, x->ak, &nonce, &x->cresp.pcr_selection, &att, &x->ev.quote.sig));
	memcpy(x->ev.quote.data, att.attestationData, att.size);
	x->ev.quote.len = att.size;
	TRY(x->cur ? renewal_objects(x) : fresh_objects(x));
	TRY(attach_eventlog(x));
	log_info("AK activated with the EK, quote over %u PCR values%s%s", x->ev.pcrs.count,
		 x->ev.has_parent ? ", SRK certified" : "",
		 x->ev.has_key ? ", TPM-born key certified" : "");
out:
	leave(x);
	return r;
}

static a11_err send_evidence(struct run *x)
{
	struct client_response resp;
	a11_err r = post(x, "/v1/evidence", evidence_req_encode(&x->ev), &resp);

	if (r != A11_OK)
		return r;
	if (release_decode(resp.body, resp.len, &x->res->rel) != A11_OK) {
		log_error("the broker's release is refused: malformed, or a member out of the "
			  "protocol's limits (docs/protocol.md)");
		r = A11_ERR_PROTOCOL;
	}
	free(resp.body);
	if (r == A11_OK)
		log_info("verdict and release from %s: %s credential, %zu certificate(s), lease %s "
			 "until %lld", resp.broker, cred_kind_name(x->res->rel.kind),
			 x->res->rel.cert_count, x->res->rel.lease, (long long)x->res->rel.lease_expires);
	return r;
}

/* The release against this exchange's own quote and challenge, before
 * anything of it reaches the TPM, the objects or the state directory. */
static a11_err check_release(struct run *x)
{
	struct attester_result *res = x->res;
	struct release_expect e = {
		.kind = x->cresp.kind, .key_auth = x->cresp.key_auth,
		.bind_pcrs = x->cresp.bind_pcrs, .sel = &x->cresp.pcr_selection,
		.values = &x->ev.pcrs, .live = x->cur ? &x->cur->rel : NULL,
	};
	TPMS_ATTEST q;
	size_t off = 0;

	/* Our own quote: it parses, or the TPM would not have signed it. */
	memset(&q, 0, sizeof(q));
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(x->ev.quote.data, x->ev.quote.len, &off, &q) !=
	    TSS2_RC_SUCCESS)
		return A11_ERR_PROTOCOL;
	e.quote_clock = q.clockInfo;
	/* The key certificates are for: the live one, the released one, or
	 * the one born in the TPM for this release (ca). */
	if (x->cur != NULL)
		e.key = attester_key_public(x->cur);
	else if (res->rel.has_key && res->rel.kind != CRED_TOKEN)
		e.key = &res->rel.pub.publicArea;
	else
		e.key = attester_key_public(res);
	return attester_check_release(&res->rel, &e);
}

/* Into the TPM: import (repository, token), the approval, the token. */
static a11_err receive(struct run *x)
{
	struct attester_result *res = x->res;
	a11_err r;

	TRY(enter(x));
	if (x->cresp.kind == CRED_CA)
		TRY(res->rel.cert_count > 0 ? A11_OK : A11_ERR_PROTOCOL);
	else
		TRY(attester_import(x->t, res));
	TRY(attester_adopt(x->t, res));
	if (x->cresp.kind == CRED_TOKEN)
		TRY(attester_unseal(x->t, res));
out:
	leave(x);
	return r;
}

/* Move what a renewal changes from the new release into the live one. */
static void take_renewal(struct release *cur, struct release *nw)
{
	/* Certificates only come with a ca kind's renewal. */
	if (nw->cert_count > 0) {
		for (size_t i = 0; i < cur->cert_count; i++)
			free(cur->certs[i]);
		memcpy(cur->certs, nw->certs, sizeof(cur->certs));
		memcpy(cur->cert_len, nw->cert_len, sizeof(cur->cert_len));
		cur->cert_count = nw->cert_count;
		nw->cert_count = 0;
	}
	free(cur->ear);
	cur->ear = nw->ear;
	cur->ear_verified = nw->ear_verified;
	nw->ear = NULL;
	cur->lease_expires = nw->lease_expires;
	cur->lease_approved = nw->lease_approved;
	cur->approval = nw->approval;
}

a11_err attester_adopt_from(struct tpm *t, struct attester_result *cur, struct release *nw)
{
	struct approval saved = cur->rel.approval;
	a11_err r;

	if (strcmp(nw->lease, cur->rel.lease) != 0 || nw->kind != cur->rel.kind)
		return A11_ERR_PROTOCOL;
	/* Certificates replace the live ones (ca kind): for the live key only. */
	if ((r = attester_check_certs(nw, attester_key_public(cur))) != A11_OK)
		return r;
	cur->rel.approval = nw->approval;
	r = attester_adopt(t, cur);
	if (r != A11_OK)
		cur->rel.approval = saved;
	else
		take_renewal(&cur->rel, nw);
	return r;
}

static a11_err renew_adopt(struct run *x)
{
	a11_err r;

	if (x->res->rel.has_key)
		return A11_ERR_PROTOCOL;
	if ((r = enter(x)) == A11_OK)
		r = attester_adopt_from(x->t, x->cur, &x->res->rel);
	leave(x);
	return r;
}

bool attester_identity_suspect(a11_err r, const char *refusal)
{
	if (r == A11_ERR_REFUSED) {
		switch (refusal_parse(refusal)) {
		case REF_EKCERT_UNTRUSTED:
		case REF_EK_NOT_ALLOWED:
		case REF_AK_INVALID:
		case REF_AK_NOT_ACTIVATED:
		case REF_QUOTE_INVALID:
		case REF_TPM_REBOOT_REPLAY:
		case REF_PARENT_INVALID:
			return true;
		default:
			return false;
		}
	}
	return r == A11_ERR_TPM || r == A11_ERR_TPM_COMM || r == A11_ERR_TPM_AUTH ||
	       r == A11_ERR_TPM_LOCKOUT || r == A11_ERR_TPM_POLICY || r == A11_ERR_TPM_INTEGRITY ||
	       r == A11_ERR_TPM_NOT_FOUND;
}

static a11_err exchange_once(struct run *x, struct attester_timing *ms)
{
	double t0 = now_ms(), t1, t2, t3;
	a11_err r;

	TRY(challenge(x));
	t1 = now_ms();
	TRY(evidence(x));
	t2 = now_ms();
	TRY(send_evidence(x));
	TRY(check_release(x));
	attester_ear_check(&x->res->rel, x->c->ear_key, &x->cresp.nonce);
	t3 = now_ms();
	TRY(x->cur ? renew_adopt(x) : receive(x));
	*ms = (struct attester_timing){ .challenge = t1 - t0, .tpm_evidence = t2 - t1,
					.evidence = t3 - t2, .import = now_ms() - t3 };
	log_debug("exchange ms: challenge %.1f, tpm %.1f, evidence %.1f, import %.1f",
		  ms->challenge, ms->tpm_evidence, ms->evidence, ms->import);
out:
	/* A client that failed may be stuck in a bad state: the next exchange
	 * opens a new one. A TPM failure (a dropped connection) or a refusal
	 * leaves it alone: the broker connection is not the TPM's. */
	if (x->http_failed && x->http != NULL && x->c->http != NULL)
		attester_http_close(x->c->http);
	x->http = NULL;
	if (x->ek != NULL) {
		if (enter(x) == A11_OK)
			tpm_identity_done(x->t, !attester_identity_suspect(r, x->res->refusal));
		leave(x);
	}
	return r;
}

/* The replica that took the evidence died after it marked the session
 * used, and the next one said so (docs/operations.md, "Running several
 * brokers"): what this exchange made is dropped, and it starts again with
 * a challenge, once. */
static a11_err start_again(struct run *x)
{
	a11_err r = enter(x);

	if (r == A11_OK)
		attester_result_clear(x->t, x->res);
	leave(x);
	OPENSSL_cleanse(&x->ev, sizeof(x->ev)); /* the PIN's proof */
	memset(&x->creq, 0, sizeof(x->creq));
	memset(&x->cresp, 0, sizeof(x->cresp));
	x->lost_session = false;
	return r;
}

static a11_err exchange(struct run *x, struct attester_timing *ms)
{
	a11_err r = exchange_once(x, ms);

	if (r != A11_ERR_REFUSED || !x->lost_session)
		return r;
	log_warn("credential %s: the broker that took the evidence failed after using the "
		 "session; attesting again", x->c->credential);
	if ((r = start_again(x)) == A11_OK)
		r = exchange_once(x, ms);
	return r;
}

static struct run *run_new(struct tpm *t, const struct attester_config *c,
			   struct attester_result *res, struct attester_result *cur)
{
	struct run *x = calloc(1, sizeof(*x));

	memset(res, 0, sizeof(*res));
	res->parent.tr = res->key.tr = ESYS_TR_NONE;
	res->parent.session = res->key.session = ESYS_TR_NONE;
	if (x == NULL)
		return NULL;
	*x = (struct run){ .t = t, .c = c, .res = res, .cur = cur };
	return x;
}

static void run_free(struct run *x)
{
	attester_http_close(&x->own_http);
	evidence_req_clear(&x->ev);
	OPENSSL_cleanse(x, sizeof(*x));
	free(x);
}

/* Clear a failed result but keep the broker's words for the caller. */
static void fail_clear(struct tpm *t, struct attester_result *res)
{
	char code[sizeof(res->refusal)], detail[sizeof(res->detail)];

	memcpy(code, res->refusal, sizeof(code));
	memcpy(detail, res->detail, sizeof(detail));
	attester_result_clear(t, res);
	memcpy(res->refusal, code, sizeof(code));
	memcpy(res->detail, detail, sizeof(detail));
}

a11_err attester_run(struct tpm *t, const struct attester_config *c, struct attester_result *out)
{
	struct run *x = run_new(t, c, out, NULL);
	struct attester_timing ms;
	a11_err r;

	if (x == NULL)
		return A11_ERR_NOMEM;
	r = exchange(x, &ms);
	if (r == A11_OK) {
		out->ms = ms;
		log_info("the credential now lives in the TPM under lease %s%s%s", out->rel.lease,
			 out->rel.pcr_bound ? ", bound to the attested PCRs" : "",
			 out->rel.auth_value ? ", usable only with the PIN" : "");
	} else {
		/* On a dropped connection the handles died with it. */
		if (enter(x) != A11_OK)
			attester_forget_loaded(out);
		fail_clear(x->t, out);
		leave(x);
	}
	run_free(x);
	return r;
}

a11_err attester_renew(struct tpm *t, const struct attester_config *c,
		       struct attester_result *cur)
{
	struct attester_result *scratch = calloc(1, sizeof(*scratch));
	struct run *x = scratch ? run_new(t, c, scratch, cur) : NULL;
	a11_err r = x ? A11_OK : A11_ERR_NOMEM;

	if (r == A11_OK)
		r = exchange(x, &cur->ms);
	if (r == A11_OK)
		log_info("lease %s renewed until %lld", cur->rel.lease,
			 (long long)cur->rel.lease_expires);
	if (scratch != NULL) {
		memcpy(cur->refusal, scratch->refusal, sizeof(cur->refusal));
		memcpy(cur->detail, scratch->detail, sizeof(cur->detail));
		release_clear(&scratch->rel); /* holds no TPM object */
		free(scratch);
	}
	if (x != NULL)
		run_free(x);
	return r;
}
