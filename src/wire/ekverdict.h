/* Verified EK certificates, kept (src/wire/ekverdict.c): the verdict of
 * wire_ekcert_verify for one certificate, CA store and EK, while every
 * certificate of the verified chain is within its validity. Internal to
 * src/wire: ekcert.c decides what goes in. */
#ifndef A11_WIRE_EKVERDICT_H
#define A11_WIRE_EKVERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <tss2/tss2_tpm2_types.h>

/* What stat(2) says of the CA path and, for a directory, of its *.pem
 * files (src/wire/ekcert.c): any edit changes it. */
bool ekcert_fingerprint(const char *ca_path, uint8_t out[32]);
/* What a verdict is for: H(certificate DER || CA store fingerprint ||
 * marshalled EK public area). False if it cannot be computed. */
bool ekverdict_key(const uint8_t *der, size_t len, const uint8_t ca_print[32],
		   const TPMT_PUBLIC *ek, uint8_t key[32]);
/* A kept acceptance of key valid at now (and counted as a hit). */
bool ekverdict_find(const uint8_t key[32], time_t now);
/* Keep an acceptance, valid from not_before to not_after inclusive; the
 * least recently used one goes when WIRE_EKCERT_VERDICTS are kept. */
void ekverdict_put(const uint8_t key[32], time_t not_before, time_t not_after);

#endif
