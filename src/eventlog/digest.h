/* Which event digests are of the event's own data, and checking that they
 * are. Replay proves that a log's digests are the ones the TPM extended;
 * only where the digest is of the data does that prove the data too. */
#ifndef A11_EVENTLOG_DIGEST_H
#define A11_EVENTLOG_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "eventlog.h"

/* OpenSSL's digest for SHA-1, SHA-256, SHA-384 and SHA-512; NULL for any
 * other algorithm (SM3, SHA-3), whose banks cannot be replayed here. */
const EVP_MD *evlog_md(uint16_t alg);

/* true for the event types whose digest the PFP (§10.4.1) defines as the
 * hash of their event data: EV_SEPARATOR, EV_ACTION, EV_EFI_ACTION,
 * EV_S_CRTM_VERSION, EV_EFI_VARIABLE_DRIVER_CONFIG,
 * EV_EFI_VARIABLE_AUTHORITY, EV_EFI_GPT_EVENT, EV_EFI_VARIABLE_BOOT2.
 * false for the rest, among them: EV_EFI_BOOT_SERVICES_APPLICATION and
 * _DRIVER, EV_EFI_RUNTIME_SERVICES_DRIVER (the PE image's Authenticode
 * hash), EV_EFI_VARIABLE_BOOT (the PFP says the UEFI_VARIABLE_DATA,
 * EDK2 hashes the VariableData alone: the Arch log does the first, the
 * three others the second), EV_IPL (whatever the boot loader hashed: grub hashes its command
 * text without the prefix, files by content), EV_POST_CODE,
 * EV_EFI_PLATFORM_FIRMWARE_BLOB, EV_EFI_HANDOFF_TABLES (memory the data
 * only locates), EV_NO_ACTION (never extended), and any type not named. */
bool evlog_digest_is_of_data(uint32_t type);

/* Every digest of ev that OpenSSL can compute equals H(msg), and at least
 * one was computed: A11_OK, else A11_ERR_EVENTLOG_MISMATCH (a wrong
 * digest) or A11_ERR_UNSUPPORTED (no bank we can hash). */
a11_err evlog_digest_check(const struct evlog_event *ev, const uint8_t *msg, size_t len);

/* The event's data is what its digests measure: A11_OK;
 * A11_ERR_EVENTLOG_MISMATCH when the type's digest is of its data but is
 * not; A11_ERR_UNSUPPORTED when the type's digest is of something else,
 * so the data alone proves nothing. */
a11_err evlog_event_data_bound(const struct evlog_event *ev);

#endif
