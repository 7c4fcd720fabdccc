/* AES-256-GCM with a caller's key, framed as iv[12] || ct || tag[16].
 * Carries bearer tokens from the broker to the module under a key that
 * only the attested TPM can unseal. */
#ifndef A11_WIRE_AEAD_H
#define A11_WIRE_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define WIRE_AEAD_KEY 32
#define WIRE_AEAD_OVERHEAD 28

/* *out malloc'd, *out_len = len + WIRE_AEAD_OVERHEAD. */
a11_err wire_aead_seal(const uint8_t key[WIRE_AEAD_KEY], const char *aad, const uint8_t *in,
		       size_t len, uint8_t **out, size_t *out_len);
/* *out malloc'd (cleanse before free). Tampering: A11_ERR_CRYPTO. */
a11_err wire_aead_open(const uint8_t key[WIRE_AEAD_KEY], const char *aad, const uint8_t *in,
		       size_t len, uint8_t **out, size_t *out_len);

#endif
