#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "admit.h"
#include "api.h"
#include "metrics.h"

static void text(struct http_response *resp, int status, const char *type, char *body)
{
	if (body == NULL) {
		flow_refuse(resp, REF_INTERNAL);
		return;
	}
	resp->status = status;
	resp->content_type = type;
	resp->body = body;
	resp->body_len = strlen(body);
	resp->outcome = "ok";
}

static int is_json(const char *type)
{
	return type != NULL && strncmp(type, "application/json", 16) == 0;
}

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Up means able to serve: a replica whose database does not answer, or
 * that another process keeps write-locked (degraded: it can only refuse),
 * is 503, so a load balancer sends its requests to another. The probe
 * never waits behind the store (store_ping). */
static void healthz(struct broker *b, struct http_response *resp)
{
	a11_err r = store_ping(b->store);

	if (r == A11_OK) {
		text(resp, 200, "text/plain", strdup("ok\n"));
	} else if (r == A11_ERR_BUSY) {
		text(resp, 503, "text/plain",
		     strdup("degraded: database write-locked by another process\n"));
		resp->retry_after = 1;
	} else {
		text(resp, 503, "text/plain", strdup("store unreachable\n"));
	}
}

/* Past max_pending a new attestation is refused before any work; one the
 * flow refuses is not in progress. */
static void challenge(struct broker *b, const struct http_request *req,
		      struct http_response *resp)
{
	unsigned retry = 0;

	if (!admit_challenge(b->admit, mono_ms(), &retry)) {
		log_warn("challenge refused: busy (retry after %u s)", retry);
		flow_refuse(resp, REF_BUSY);
		resp->retry_after = retry;
		return;
	}
	flow_challenge(b, req, resp);
	if (resp->status != 200)
		admit_cancel(b->admit);
}

/* Always admitted: the host's work has begun, and this ends it. */
static void evidence(struct broker *b, const struct http_request *req,
		     struct http_response *resp)
{
	flow_evidence(b, req, resp);
	admit_evidence(b->admit, mono_ms());
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct broker *b = ctx;
	int post = strcmp(req->method, "POST") == 0;

	if (post && strcmp(req->path, "/v1/challenge") == 0)
		is_json(req->content_type) ? challenge(b, req, resp)
					   : flow_refuse(resp, REF_BAD_REQUEST);
	else if (post && strcmp(req->path, "/v1/evidence") == 0)
		is_json(req->content_type) ? evidence(b, req, resp)
					   : flow_refuse(resp, REF_BAD_REQUEST);
	else if (!post && strcmp(req->path, "/healthz") == 0)
		healthz(b, resp);
	else if (!post && strcmp(req->path, "/metrics") == 0)
		text(resp, 200, "text/plain; version=0.0.4", metrics_render());
	else
		text(resp, 404, "text/plain", strdup("not found\n"));
}

void api_observe(void *ctx, const struct http_request *req, int status, double seconds)
{
	(void)ctx;
	(void)status;
	if (strcmp(req->path, "/v1/challenge") == 0)
		metrics_observe("challenge", seconds);
	else if (strcmp(req->path, "/v1/evidence") == 0)
		metrics_observe("evidence", seconds);
	else
		metrics_observe("other", seconds);
}
