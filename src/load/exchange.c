/* One simulated host's attestation against the broker, as the real
 * attester runs it (src/attester/attester.c): POST /v1/challenge, the
 * evidence the host's TPM would give, POST /v1/evidence, and the release
 * checked by the host (simhost_release_check) and then dropped; with
 * --renew the same exchange naming the lease. Every outcome is counted:
 * a release that does not check is an error, never a success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "../attester/client.h"
#include "../common/log.h"
#include "../proto/refusal.h"
#include "load.h"

/* The protocol's messages are large (TPM structures in fixed arrays):
 * one set per worker, on the heap rather than a thread's stack. */
struct load_scratch {
	struct challenge_req req;
	struct challenge_resp chal;
	struct evidence_req ev;
	struct release rel;
	char lease[PROTO_LEASE_MAX + 1];
};

/* OUT_LOST: the broker that took the evidence died after it used the
 * session, and the next one said nonce_reused (docs/operations.md,
 * "Running several brokers"): the exchange starts again, once, as the
 * attester's does (src/attester/attester.c). */
enum outcome { OUT_OK, OUT_REFUSED, OUT_BUSY, OUT_TRANSPORT, OUT_OTHER, OUT_LOST };

double load_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int load_worker_init(struct load_worker *w, const struct load_config *c)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	if ((w->x = calloc(1, sizeof(*w->x))) == NULL)
		return -1;
	w->seed = (unsigned)(uintptr_t)w ^ (unsigned)time(NULL);
	return 0;
}

void load_worker_fini(struct load_worker *w)
{
	client_close(w->http);
	w->http = NULL;
	if (w->x != NULL) {
		release_clear(&w->x->rel);
		OPENSSL_cleanse(w->x, sizeof(*w->x)); /* the evidence holds the PIN's proof */
		free(w->x);
		w->x = NULL;
	}
	load_stats_clear(&w->st);
}

/* The worker's kept connection, or a fresh one per request with
 * --new-connections: resuming the host's last TLS session, as a client
 * that reconnects does, or with --full-handshakes a full handshake each
 * time (what a host pays whose first request it is). */
static enum outcome post_raw(struct load_worker *w, const char *path, const char *json,
			     struct client_response *resp)
{
	const struct load_config *c = w->c;
	a11_err r;

	if (w->http == NULL &&
	    client_open(c->broker, c->ca_file, c->connect_ms, c->timeout_ms, &w->http) != A11_OK)
		return OUT_OTHER;
	if (c->new_conn && w->tls != NULL)
		client_use_sessions(w->http, w->tls);
	r = client_post(w->http, path, json, resp);
	w->st.retried_after_503 += resp->busy_retried; /* the client's own retry */
	if (c->new_conn || r != A11_OK) {
		client_close(w->http); /* after an error curl's state is not worth keeping */
		w->http = NULL;
	}
	return r == A11_OK ? OUT_OK : r == A11_ERR_NOMEM ? OUT_OTHER : OUT_TRANSPORT;
}

/* The wait a 503 asks for: its Retry-After (bounded by the client), or
 * 1 s, the least any 503 of the broker asks for. */
static unsigned retry_after(const struct client_response *resp)
{
	return resp->retry_after > 0 ? resp->retry_after : 1;
}

/* POST json (freed here) to path; on 200 the body (caller frees) in
 * *body, on a 503 OUT_BUSY with w->retry_after and w->busy_code set (not
 * a refusal: the exchange is tried again), on another problem report its
 * code counted as a refusal. */
static enum outcome post(struct load_worker *w, const char *path, char *json, char **body)
{
	char code[LOAD_CODE_LEN], detail[256];
	struct client_response resp = { 0 };
	enum outcome o = OUT_OTHER;

	*body = NULL;
	if (json == NULL)
		goto out;
	if ((o = post_raw(w, path, json, &resp)) != OUT_OK)
		goto out;
	if (resp.status == 200) {
		*body = resp.body;
		resp.body = NULL;
	} else if (problem_decode(resp.body ? resp.body : "", resp.len, code, sizeof(code), detail,
				  sizeof(detail)) != A11_OK) {
		log_error("broker answered HTTP %ld without a problem report", resp.status);
		o = OUT_OTHER;
	} else if (resp.status == 503) {
		w->retry_after = retry_after(&resp);
		snprintf(w->busy_code, sizeof(w->busy_code), "%s", code);
		o = OUT_BUSY;
	} else if (resp.failed_over && refusal_parse(code) == REF_NONCE_REUSED) {
		o = OUT_LOST;
	} else {
		load_stats_refusal(&w->st, code);
		o = OUT_REFUSED;
	}
out:
	if (json != NULL) {
		OPENSSL_cleanse(json, strlen(json)); /* evidence carries the PIN's proof */
		free(json);
	}
	free(resp.body);
	return o;
}

static enum outcome challenge(struct load_worker *w, struct load_host *h, const char *cred,
			      const char *lease)
{
	struct load_scratch *x = w->x;
	enum outcome o;
	char *body;

	if (simhost_challenge_req(h->h, cred, lease, &x->req) != A11_OK)
		return OUT_OTHER;
	if ((o = post(w, "/v1/challenge", challenge_req_encode(&x->req), &body)) != OUT_OK)
		return o;
	if (challenge_resp_decode(body, strlen(body), &x->chal) != A11_OK)
		o = OUT_OTHER;
	free(body);
	return o;
}

/* The evidence for the challenge just answered, and the release checked. */
static enum outcome evidence(struct load_worker *w, struct load_host *h)
{
	const struct simhost_evidence_opts opts = { .pin = w->c->has_pin ? w->c->pin : NULL };
	struct load_scratch *x = w->x;
	enum outcome o;
	char *body;

	if (simhost_evidence(h->h, &x->chal, &opts, &x->ev) != A11_OK)
		return OUT_OTHER;
	if ((o = post(w, "/v1/evidence", evidence_req_encode(&x->ev), &body)) != OUT_OK)
		return o;
	release_clear(&x->rel);
	if (release_decode(body, strlen(body), &x->rel) != A11_OK)
		o = OUT_OTHER;
	free(body);
	return o;
}

/* Waits the 503's Retry-After, plus up to half a second so that the
 * hosts of a spike do not come back in step. */
static void wait_retry(struct load_worker *w)
{
	double s = w->retry_after + (double)(rand_r(&w->seed) % 500) / 1e3;
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* Challenge and evidence; after a 503 on either, from the challenge again
 * (a busy store may have used the session up), at most LOAD_MAX_TRIES. */
static enum outcome attempt(struct load_worker *w, struct load_host *h, const char *cred,
			    const char *lease)
{
	enum outcome o = OUT_BUSY;

	for (unsigned t = 0; o == OUT_BUSY && t < LOAD_MAX_TRIES; t++) {
		if (t > 0) {
			w->st.retried_after_503++;
			wait_retry(w);
		}
		o = challenge(w, h, cred, lease);
		if (o == OUT_OK)
			o = evidence(w, h);
	}
	if (o == OUT_BUSY) {
		load_stats_refusal(&w->st, w->busy_code);
		o = OUT_REFUSED;
	}
	return o;
}

/* One exchange; true if released and the release checked. Latency counts
 * from start, the waits after 503s included. */
static bool exchange(struct load_worker *w, struct load_host *h, const char *cred,
		     const char *lease, double start)
{
	enum outcome o = attempt(w, h, cred, lease);
	bool ok = false;

	if (o == OUT_LOST) {
		log_warn("a broker died with this host's session used: attesting again");
		o = attempt(w, h, cred, lease);
	}
	if (o == OUT_LOST) {
		load_stats_refusal(&w->st, "nonce_reused");
		o = OUT_REFUSED;
	}
	if (o == OUT_OK && simhost_release_check(h->h, &w->x->chal, &w->x->rel) == A11_OK)
		ok = true;
	else if (o == OUT_OK)
		w->st.checks_failed++;
	w->st.transport += o == OUT_TRANSPORT;
	w->st.other += o == OUT_OTHER;
	if (ok) {
		load_stats_lat(&w->st, (load_now() - start) * 1e3);
		*(lease != NULL ? &w->st.renewed : &w->st.fresh) += 1;
	}
	return ok;
}

void load_attest(struct load_worker *w, struct load_host *h, double start)
{
	const struct load_config *c = w->c;
	const char *cred = c->creds[(h->index + h->uses++) % c->ncreds];
	struct load_scratch *x = w->x;

	w->tls = h->tls;
	if (!exchange(w, h, cred, NULL, start) || !c->renew)
		goto out;
	snprintf(x->lease, sizeof(x->lease), "%s", x->rel.lease);
	exchange(w, h, cred, x->lease, load_now());
out:
	/* Checked, then discarded: nothing of a release outlives its check. */
	release_clear(&x->rel);
}
