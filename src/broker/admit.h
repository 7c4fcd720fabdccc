/* Admission control: how many attestations the broker has in progress
 * (challenges issued whose evidence has not come, nor their nonce_ttl
 * passed), bounded by broker.conf's max_pending. A new challenge past the
 * bound is refused as busy (503) with a Retry-After that spreads the
 * refused hosts over the seconds to come; evidence is always admitted, so
 * that work started finishes (docs/operations.md, "Admission control"). */
#ifndef A11_BROKER_ADMIT_H
#define A11_BROKER_ADMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"

#define ADMIT_RETRY_MAX_S 60

struct admit;

a11_err admit_new(unsigned max_pending, uint32_t ttl_s, struct admit **out);
void admit_free(struct admit *a);
/* A new challenge at now_ms (monotonic): true if admitted, and then in
 * progress until admit_evidence, admit_cancel or ttl_s; false when
 * max_pending are, with *retry_after (s, 1..ADMIT_RETRY_MAX_S) set. */
bool admit_challenge(struct admit *a, int64_t now_ms, unsigned *retry_after);
/* An admitted challenge was refused: it is not in progress. */
void admit_cancel(struct admit *a);
/* Evidence came (whatever its verdict): one attestation fewer in progress. */
void admit_evidence(struct admit *a, int64_t now_ms);
/* In progress at now_ms. */
unsigned admit_pending(struct admit *a, int64_t now_ms);

#endif
