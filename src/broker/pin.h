/* The broker's record of a credential's PIN: a slow, salted scrypt hash in
 * a self-describing string "$scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>",
 * so the cost can rise later without breaking stored hashes. */
#ifndef A11_BROKER_PIN_H
#define A11_BROKER_PIN_H

#include <stddef.h>

#include "../common/err.h"

#define PIN_SCRYPT_LOG2N 15   /* 32 MiB, ~50-100 ms: OWASP's scrypt floor is 2^17 at r=8 */

/* *out malloc'd. log2n from 10 to 20. */
a11_err pin_hash_new(const char *pin, size_t pin_len, unsigned log2n, char **out);
/* A11_OK if it matches, A11_ERR_TPM_AUTH if not, A11_ERR_PARSE for a
 * malformed stored string. Constant-time compare. */
a11_err pin_verify(const char *pin, size_t pin_len, const char *stored);

#endif
