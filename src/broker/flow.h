/* The Relying Party: the two protocol steps (docs/protocol.md). A
 * challenge opens a single-use session; evidence is appraised by the
 * Verifier, checked against the credential's policy and PIN, and answered
 * with a release or a refusal. Every outcome after the request parsed is
 * an audit record and a metric. */
#ifndef A11_BROKER_FLOW_H
#define A11_BROKER_FLOW_H

#include <stdint.h>

#include "ear.h"
#include "http.h"
#include "../proto/refusal.h"
#include "secrets.h"
#include "store.h"

struct broker {
	struct store *store;
	struct admit *admit;          /* api.c: challenges in progress */
	struct secrets *secrets;
	struct ear_signer *ear;
	struct approver *approver;
	uint32_t nonce_ttl;           /* seconds a challenge stays answerable */
};

void flow_challenge(struct broker *b, const struct http_request *req, struct http_response *resp);
void flow_evidence(struct broker *b, const struct http_request *req, struct http_response *resp);
/* A refusal as RFC 9457 problem+json, counted in the metrics. */
void flow_refuse(struct http_response *resp, enum refusal r);
/* The same with the problem's detail (NULL: none): what decided it. */
void flow_refuse_detail(struct http_response *resp, enum refusal r, const char *detail);

#endif
