/* URL routing of the broker: the protocol, /healthz and /metrics. */
#ifndef A11_BROKER_API_H
#define A11_BROKER_API_H

#include "flow.h"
#include "http.h"

/* ctx is a struct broker. */
void api_handle(void *ctx, const struct http_request *req, struct http_response *resp);
void api_observe(void *ctx, const struct http_request *req, int status, double seconds);

#endif
