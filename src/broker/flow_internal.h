/* Shared by flow.c and evidence.c only. */
#ifndef A11_BROKER_FLOW_INTERNAL_H
#define A11_BROKER_FLOW_INTERNAL_H

#include <tss2/tss2_mu.h>

#include "flow.h"
#include "policy.h"

int64_t flow_now(void);
void flow_hex(const uint8_t *in, size_t len, char *out, size_t cap);
/* 200 with a JSON body (takes ownership), or 500 if json is NULL. */
void flow_reply(struct http_response *resp, char *json);
/* Fill in rec's time, event (unless set) and code. */
void flow_audit_fill(struct store_audit *rec, enum refusal r);
/* Append rec, filled in as above: for verdicts that store nothing else. */
void flow_audit(struct broker *b, struct store_audit *rec, enum refusal r);
/* A store error as a refusal: store_busy for A11_ERR_BUSY, else internal. */
enum refusal flow_store_refusal(a11_err r);
a11_err flow_load_policy(const struct store_cred *c, struct policy **p);

#endif
