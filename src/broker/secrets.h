/* Secrets at rest: AES-256-GCM under a 32-byte master key kept in a file
 * readable by its owner only. The associated data names what a ciphertext
 * belongs to (e.g. "credential:web"), so a sealed value cannot be moved to
 * another row. Sealed format: u8 version(1) || iv[12] || ct || tag[16]. */
#ifndef A11_BROKER_SECRETS_H
#define A11_BROKER_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

struct secrets;

/* Create a new random master key file with mode 0600 (fails if it exists). */
a11_err secrets_create(const char *path);
/* Load; refuses a file that group or others can read or write (A11_ERR_IO
 * with a log line naming the mode) or that is not exactly 32 bytes. */
a11_err secrets_load(const char *path, struct secrets **out);
void secrets_free(struct secrets *s);   /* cleanses the key */

a11_err secrets_seal(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len);
/* *out is malloc'd: OPENSSL_cleanse then free it. Tampering: A11_ERR_CRYPTO. */
a11_err secrets_open(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len);

#endif
