/* The PKCS#11 PIN as a TPM authValue: PBKDF2-HMAC-SHA256(PIN,
 * per-credential salt, iterations, 32 bytes). The broker derives it once,
 * when the PIN is set, and keeps it sealed (src/broker/pin.h); the module
 * derives it at login, presents it to the broker as the PIN's proof and
 * to the TPM as the released key's authValue. The TPM's dictionary-attack
 * protection and the broker's lockout, not the iteration count, are what
 * stop guessing; the count only slows an attacker who has an authValue's
 * HMAC (the TPM bus) or the broker's database and master key. */
#ifndef A11_WIRE_PIN_H
#define A11_WIRE_PIN_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

#define WIRE_PIN_MAX 64        /* bytes of a PIN (CK_TOKEN_INFO.ulMaxPinLen) */
#define WIRE_PIN_AUTH_LEN 32   /* bytes of its authValue */

a11_err wire_pin_auth(const char *pin, size_t pin_len, const uint8_t *salt, size_t salt_len,
		      uint32_t iterations, TPM2B_AUTH *out);

#endif
