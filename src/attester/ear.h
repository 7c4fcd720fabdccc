/* The broker's EAR, verified before the module exposes it
 * (src/attester/ear.c). */
#ifndef A11_ATTESTER_EAR_H
#define A11_ATTESTER_EAR_H

#include "attester.h"

/* jws verified with the public EAR JWK, or one of the JWK set, in the
 * file key_path (ES256 only, the key its kid names, no "crit"), the broker's profile, eat_nonce == nonce (the
 * exchange's session nonce). A11_OK, else an error and a log line naming
 * the cause. */
a11_err attester_ear_verify(const char *key_path, const char *jws, const TPM2B_DATA *nonce);
/* Keep rel->ear only if it verifies (ear_verified set) or if there is no
 * key_path to verify it with (kept unverified, for the CLI to print; the
 * module never shows it); a failed check drops it. */
void attester_ear_check(struct release *rel, const char *key_path, const TPM2B_DATA *nonce);

#endif
