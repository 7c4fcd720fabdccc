/* Decoding the event data the boot policy reads: UEFI variables
 * (EV_EFI_VARIABLE_*), image loads (EV_EFI_BOOT_SERVICES_APPLICATION) and
 * grub's measured strings (EV_IPL in PCR 8). The data is untrusted until
 * bound to the replayed digests: the helpers below that return values a
 * policy judges check that binding themselves. */
#ifndef A11_EVENTLOG_EFI_H
#define A11_EVENTLOG_EFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventlog.h"

#define EVLOG_VAR_NAME_MAX 64u  /* UEFI names here are short: SecureBoot, dbx, Boot0001 */
#define EVLOG_PATH_MAX 512u     /* a device path's file path, in ASCII */

/* UEFI_VARIABLE_DATA (PFP §10.2.6). */
struct evlog_efi_var {
	uint8_t guid[16];    /* VariableName, as laid out in the log (EFI_GUID) */
	char name[EVLOG_VAR_NAME_MAX + 1]; /* UnicodeName in ASCII; '?' for anything else */
	const uint8_t *value; /* VariableData, into the log */
	size_t value_len;
};

/* Decode ev's data as a UEFI_VARIABLE_DATA filling it exactly (no
 * trailing bytes). Does not check the digest: the caller decides, by type
 * (evlog_event_data_bound). A11_ERR_PARSE if malformed or over a limit. */
a11_err evlog_efi_var(const struct evlog_event *ev, struct evlog_efi_var *out);

enum { EVLOG_SB_PK, EVLOG_SB_KEK, EVLOG_SB_DB, EVLOG_SB_DBX, EVLOG_SB__COUNT };

struct evlog_secure_boot {
	int enabled;          /* 1: every SecureBoot event says 01; 0: one does not; -1: none */
	uint32_t enabled_index; /* the last SecureBoot event */
	bool present[EVLOG_SB__COUNT]; /* measured with a non-empty value */
	uint32_t index[EVLOG_SB__COUNT];
};

/* The secure boot configuration that PCR 7 measured (PFP §3.3.4.8): the
 * EV_EFI_VARIABLE_DRIVER_CONFIG events in PCR 7 naming SecureBoot, PK, KEK
 * (EFI_GLOBAL_VARIABLE) and db, dbx (EFI_IMAGE_SECURITY_DATABASE_GUID).
 * Each such event's digest must be of its data, or the data could say
 * anything: A11_ERR_EVENTLOG_MISMATCH, or A11_ERR_PARSE for a malformed
 * one, with *bad_index naming the event. */
a11_err evlog_secure_boot(const struct evlog *log, struct evlog_secure_boot *out,
			  uint32_t *bad_index);

/* The SHA-256 entries (EFI_CERT_SHA256_GUID) of a signature database
 * value such as dbx: a sequence of EFI_SIGNATURE_LIST (UEFI §32.4.1).
 * each(hash, arg) for every one, in order; lists of other types (X.509
 * certificates) are skipped. A11_ERR_PARSE if malformed. */
a11_err evlog_sigdb_sha256(const uint8_t *value, size_t len,
			   void (*each)(const uint8_t hash[32], void *arg), void *arg);

/* UEFI_IMAGE_LOAD_EVENT (PFP §10.2.3). Its digest is the PE image's
 * Authenticode hash, not a hash of this data: a policy judges the digest,
 * the path only names it. */
struct evlog_image {
	uint64_t location, length, link_address;
	const uint8_t *devpath;
	size_t devpath_len;
	char path[EVLOG_PATH_MAX + 1]; /* the Media File Path nodes, ASCII; "" without one */
};

/* ev must be an EV_EFI_BOOT_SERVICES_APPLICATION, _DRIVER or
 * EV_EFI_RUNTIME_SERVICES_DRIVER; the UINTN fields take the log's uintn
 * size; up to 8 zero bytes may follow the device path (shim's padding).
 * A11_ERR_PARSE if malformed, A11_ERR_ARG for another type. */
a11_err evlog_image_load(const struct evlog *log, const struct evlog_event *ev,
			 struct evlog_image *out);

enum evlog_grub_kind { EVLOG_GRUB_CMD = 1, EVLOG_GRUB_KERNEL_CMDLINE };

/* A command grub ran or the kernel command line it passed, as grub
 * measures them into PCR 8 (EV_IPL): "grub_cmd: " / "kernel_cmdline: "
 * (upstream), "grub_cmd " / "grub_kernel_cmdline " (RHEL's patches). */
struct evlog_grub {
	enum evlog_grub_kind kind;
	const char *text;   /* after the prefix, into the log; no NUL inside */
	size_t len;         /* without the terminating NUL */
};

/* A11_ERR_NOT_FOUND if ev is not such an event; A11_ERR_EVENTLOG_MISMATCH
 * unless its digests are of the text as grub hashes it (without the
 * prefix; with the terminating NUL for RHEL's "grub_cmd " only), so the text
 * returned is the one PCR 8 measured; A11_ERR_PARSE for a NUL inside. */
a11_err evlog_grub(const struct evlog_event *ev, struct evlog_grub *out);

#endif
