/* Secrets at rest: AES-256-GCM under 32-byte master keys, each kept in a
 * file readable by its owner only. The associated data names what a
 * ciphertext belongs to (e.g. "credential:web"), so a sealed value cannot
 * be moved to another row.
 *
 * A key ring: the current key seals, and it and up to SECRETS_KEYS_MAX - 1
 * older keys open, so that replicas can rotate one at a time
 * (docs/operations.md, "Rotating keys"). Sealed format 2 names its key:
 * u8 version(2) || key id[4] (big-endian) || iv[12] || ct || tag[16].
 * Format 1, u8 version(1) || iv[12] || ct || tag[16], from brokers before
 * key rings, still opens: with whichever key of the ring its tag verifies. */
#ifndef A11_BROKER_SECRETS_H
#define A11_BROKER_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

struct secrets;

#define SECRETS_KEYS_MAX 4
#define SECRETS_ID_LEN 4
#define SECRETS_OVERHEAD_V1 (1 + 12 + 16)
#define SECRETS_OVERHEAD (SECRETS_OVERHEAD_V1 + SECRETS_ID_LEN) /* what a seal adds */

/* Create a new random master key file with mode 0600 (fails if it exists). */
a11_err secrets_create(const char *path);
/* Load; refuses a file that group or others can read or write (A11_ERR_IO
 * with a log line naming the mode) or that is not exactly 32 bytes. */
a11_err secrets_load(const char *path, struct secrets **out);
/* Add an older key that opens but never seals; A11_ERR_EXISTS (logged)
 * for a key whose id is already in the ring. */
a11_err secrets_add(struct secrets *s, const char *path);
void secrets_free(struct secrets *s);   /* cleanses the keys */

/* The id of the sealing key (a hash of it: naming it reveals nothing). */
uint32_t secrets_current_id(const struct secrets *s);
/* The id a sealed value names: A11_OK; A11_ERR_NOT_FOUND for a format 1
 * value (which names none); A11_ERR_PARSE for what is neither. */
a11_err secrets_sealed_id(const uint8_t *in, size_t len, uint32_t *id);

a11_err secrets_seal(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len);
/* *out is malloc'd: OPENSSL_cleanse then free it. Tampering: A11_ERR_CRYPTO.
 * A value under a key not in the ring: A11_ERR_NOT_FOUND, logged with the
 * key's id (the refusal a replica not yet given a new key answers with). */
a11_err secrets_open(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len);

#endif
