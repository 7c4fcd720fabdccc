/* The PKCS#11 PIN as a TPM authValue: both the broker (which puts it in
 * the released key) and the module (which presents it) derive it as
 * PBKDF2-HMAC-SHA256(PIN, per-credential salt, iterations, 32 bytes). The
 * TPM's dictionary-attack protection, not the iteration count, is what
 * stops guessing; the count only slows an attacker who has the blob and
 * the TPM but not the PIN. */
#ifndef A11_WIRE_PIN_H
#define A11_WIRE_PIN_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

a11_err wire_pin_auth(const char *pin, size_t pin_len, const uint8_t *salt, size_t salt_len,
		      uint32_t iterations, TPM2B_AUTH *out);

#endif
