/* A policy's rules on the boot's event log (docs/operations.md, "Event
 * policies"): the log must replay to the quoted PCRs, then its events are
 * judged: secure boot on with its keys, boot applications from an
 * allow-list, kernel command lines from an allow-list, a dbx holding given
 * revocations. Each refusal names the event that decided it. */
#ifndef A11_BROKER_EVPOLICY_H
#define A11_BROKER_EVPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/pcr.h"
#include "../proto/refusal.h"
#include "ear.h"

#define EVPOLICY_MAX_APPS 256
#define EVPOLICY_MAX_CMDLINES 64
#define EVPOLICY_CMDLINE_MAX 4096
#define EVPOLICY_MAX_DBX 4096
/* The PCRs a firmware log describes (PFP §3.3.4): 0-9 and 14. */
#define EVPOLICY_PCR_MASK 0x43FFu

struct evpolicy {
	bool present;             /* "eventlog" given: a log is required and replayed */
	bool secure_boot;         /* SecureBoot = 01 and PK, KEK, db, dbx measured */
	size_t app_count;         /* 0: boot applications are not judged */
	uint8_t (*apps)[32];      /* SHA-256 Authenticode digests */
	size_t cmdline_count;     /* 0: kernel command lines are not judged */
	char **cmdlines;
	size_t dbx_count;         /* 0: dbx is not judged */
	uint8_t (*dbx)[32];       /* SHA-256 entries the measured dbx must hold */
};

/* "eventlog": {...} (NULL: no event rules). -1 with a log line naming the
 * member on invalid input; evpolicy_free in any case. */
int evpolicy_parse(json_t *o, struct evpolicy *e);
void evpolicy_free(struct evpolicy *e);

/* The default selection of an event policy: SHA-256 PCRs 0-9 and 14. */
void evpolicy_default_selection(TPML_PCR_SELECTION *sel);
/* sel quotes every PCR of EVPOLICY_PCR_MASK in the SHA-256 bank. */
bool evpolicy_selection_ok(const TPML_PCR_SELECTION *sel);

/* Replay log against the quoted vals (over sel), then judge its events.
 * Sets the EAR claims the rules speak for (executables: boot
 * applications; configuration: command lines; hardware: secure boot and
 * dbx); on a refusal, detail (cap bytes) names the bank and PCR or the
 * event (PCR, index, type) and the rule. */
enum refusal evpolicy_appraise(const struct evpolicy *e, const TPML_PCR_SELECTION *sel,
			       const struct a11_pcr_values *vals, const uint8_t *log,
			       size_t log_len, struct ear *ear, char *detail, size_t cap);

#endif
