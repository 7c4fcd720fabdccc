#include <stdlib.h>
#include <string.h>

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

/* Up means able to serve: a replica whose database does not answer is
 * 503, so a load balancer sends its requests to another. */
static void healthz(struct broker *b, struct http_response *resp)
{
	if (store_ping(b->store) == A11_OK)
		text(resp, 200, "text/plain", strdup("ok\n"));
	else
		text(resp, 503, "text/plain", strdup("store unreachable\n"));
}

void api_handle(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct broker *b = ctx;
	int post = strcmp(req->method, "POST") == 0;

	if (post && strcmp(req->path, "/v1/challenge") == 0)
		is_json(req->content_type) ? flow_challenge(b, req, resp)
					   : flow_refuse(resp, REF_BAD_REQUEST);
	else if (post && strcmp(req->path, "/v1/evidence") == 0)
		is_json(req->content_type) ? flow_evidence(b, req, resp)
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
