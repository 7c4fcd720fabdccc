/* Prometheus metrics of the broker: counters and one latency histogram,
 * lock-free (atomics), rendered in the text exposition format. */
#ifndef A11_BROKER_METRICS_H
#define A11_BROKER_METRICS_H

#include "store.h"
#include "../proto/refusal.h"

enum metric {
	M_CHALLENGES,      /* attest11_challenges_total */
	M_ATTESTATIONS,    /* attest11_attestations_total: evidence appraised */
	M_RENEWALS,        /* attest11_renewals_total */
	M__COUNT
};

void metrics_inc(enum metric m);
void metrics_release(enum cred_kind kind);     /* attest11_releases_total{kind=} */
void metrics_refusal(enum refusal r);          /* attest11_refusals_total{reason=} */
/* attest11_request_duration_seconds{route=} histogram; route is one of a
 * fixed set ("challenge", "evidence", "other"). */
void metrics_observe(const char *route, double seconds);
/* malloc'd text; NULL on allocation failure. */
char *metrics_render(void);

#endif
