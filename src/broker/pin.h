/* The broker's record of a credential's PIN (docs/protocol.md, "The PIN"):
 * "$a11auth$1$<iterations>$<base64 of the sealed value>", the key
 * authValue the PIN derives (src/wire/pin.h) sealed under the master key
 * for this credential and this iteration count. A login proves the PIN by
 * presenting that authValue, which the module derives itself: the PIN
 * never leaves the host, the broker compares 32 bytes in constant time,
 * and the work that slows guessing is done once per login by the one who
 * knows the PIN. A stolen database alone reveals nothing about a PIN; with
 * the master key, each guess costs the iterations. */
#ifndef A11_BROKER_PIN_H
#define A11_BROKER_PIN_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "secrets.h"

/* *out malloc'd. The salt is the credential's (store_cred.pin_salt). */
a11_err pin_record_new(struct secrets *s, const char *cred, const char *pin, size_t pin_len,
		       const uint8_t *salt, size_t salt_len, uint32_t iterations, char **out);
/* The iteration count a login must derive with; A11_ERR_PARSE (logged,
 * naming the remedy) for a malformed record or one of an older broker. */
a11_err pin_record_iterations(const char *cred, const char *stored, uint32_t *iterations);
/* A11_OK and *auth = the authValue if offered is it; A11_ERR_TPM_AUTH if
 * not; A11_ERR_PARSE or A11_ERR_CRYPTO (logged) if the record is unusable:
 * malformed, tampered with, or another credential's. */
a11_err pin_record_check(struct secrets *s, const char *cred, const char *stored,
			 const TPM2B_AUTH *offered, TPM2B_AUTH *auth);
/* The id of the master key the record is sealed under (secrets_sealed_id:
 * A11_ERR_NOT_FOUND for a format 1 record, which names none). */
a11_err pin_record_key(const char *cred, const char *stored, uint32_t *id);
/* The same record opened with any key of s and sealed under its current
 * key (master-key rekey). */
a11_err pin_record_reseal(struct secrets *s, const char *cred, const char *stored, char **out);

#endif
