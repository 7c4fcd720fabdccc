/* TCG PC Client "crypto agile" event logs (TCG PC Client Platform Firmware
 * Profile, PFP, §10): the bytes a host reads from
 * /sys/kernel/security/tpm0/binary_bios_measurements. Every byte is
 * untrusted input from the attester.
 *
 * A log is a TCG_PCR_EVENT (SHA-1 format) carrying the Spec ID Event03,
 * which declares the hash algorithms and their digest sizes, followed by
 * TCG_PCR_EVENT2 records. SHA-1-only legacy logs (TCG 1.2 / "Spec ID
 * Event00", every record a TCG_PCR_EVENT) are refused with
 * A11_ERR_UNSUPPORTED: the verifier quotes the SHA-256 bank, which such a
 * log does not describe.
 *
 * evlog_open() walks the whole log once, so a log that opens is well formed
 * to its last byte; iterating it afterwards cannot fail. The log is
 * borrowed, never copied: events point into the caller's buffer. */
#ifndef A11_EVENTLOG_H
#define A11_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* Limits (docs/operations.md, "Event policies"). Real firmware logs are 15-40 KiB with
 * 25-110 events; the largest event is a db or dbx variable (tens of KiB). */
#define EVLOG_MAX_BYTES (1024u * 1024u)  /* whole log */
#define EVLOG_MAX_EVENTS 4096u           /* records, the Spec ID event included */
#define EVLOG_MAX_DATA (256u * 1024u)    /* one event's data */
#define EVLOG_MAX_ALGS 8u                /* algorithms the Spec ID event declares */
#define EVLOG_MAX_DIGEST 64u             /* SHA-512 */
#define EVLOG_NUM_PCRS 24u               /* PC Client TPM: PCRs 0-23 */

/* Event types used here (PFP §10.4.1). */
#define EV_POST_CODE 0x00000001u
#define EV_NO_ACTION 0x00000003u
#define EV_SEPARATOR 0x00000004u
#define EV_ACTION 0x00000005u
#define EV_S_CRTM_CONTENTS 0x00000007u
#define EV_S_CRTM_VERSION 0x00000008u
#define EV_IPL 0x0000000Du
#define EV_NONHOST_INFO 0x00000011u
#define EV_EFI_EVENT_BASE 0x80000000u
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001u
#define EV_EFI_VARIABLE_BOOT 0x80000002u
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define EV_EFI_BOOT_SERVICES_DRIVER 0x80000004u
#define EV_EFI_RUNTIME_SERVICES_DRIVER 0x80000005u
#define EV_EFI_GPT_EVENT 0x80000006u
#define EV_EFI_ACTION 0x80000007u
#define EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008u
#define EV_EFI_HANDOFF_TABLES 0x80000009u
#define EV_EFI_VARIABLE_AUTHORITY 0x800000E0u

struct evlog_alg {
	uint16_t alg;  /* TPM2_ALG_ID */
	uint16_t size; /* digest size the Spec ID event declares */
};

/* An opened log: the Spec ID event's declarations and where the
 * TCG_PCR_EVENT2 records start. */
struct evlog {
	const uint8_t *buf;
	size_t len;
	size_t body;       /* offset of the first TCG_PCR_EVENT2 */
	uint8_t uintn;     /* UINTN size in bytes of the firmware: 4 or 8 */
	uint32_t nalgs;
	struct evlog_alg algs[EVLOG_MAX_ALGS];
	uint32_t nevents;  /* records, the Spec ID event included */
};

struct evlog_digest {
	uint16_t alg;
	uint16_t size;
	const uint8_t *d;  /* into the log */
};

/* One TCG_PCR_EVENT2. Its digests come in the log's Spec ID order (not
 * the record's), one per declared algorithm. */
struct evlog_event {
	uint32_t index;    /* record number, 0 being the Spec ID event (tpm2_eventlog's EventNum) */
	uint32_t pcr;      /* < EVLOG_NUM_PCRS */
	uint32_t type;
	uint32_t ndig;     /* = the log's nalgs */
	struct evlog_digest dig[EVLOG_MAX_ALGS];
	const uint8_t *data;
	uint32_t data_len;
	size_t off, len;   /* the whole record's place in the log */
};

struct evlog_iter {
	const struct evlog *log;
	size_t off;
	uint32_t index;
};

/* Parse and check the whole log. A11_ERR_PARSE for anything malformed,
 * truncated, over a limit or followed by trailing bytes;
 * A11_ERR_UNSUPPORTED for a SHA-1-only legacy log. */
a11_err evlog_open(struct evlog *log, const uint8_t *buf, size_t len);

/* Events after the Spec ID event, in log order. */
void evlog_iter_init(struct evlog_iter *it, const struct evlog *log);
/* false at the end of the log. */
bool evlog_next(struct evlog_iter *it, struct evlog_event *ev);

/* The event's digest for alg, NULL if the log has no such bank. */
const struct evlog_digest *evlog_event_digest(const struct evlog_event *ev, uint16_t alg);

/* "EV_EFI_BOOT_SERVICES_APPLICATION", ...; "EV_UNKNOWN" for a type not
 * named above. For refusals and reviewable policy fragments. */
const char *evlog_type_name(uint32_t type);

#endif
