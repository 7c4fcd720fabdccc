/* A credential's release policy (docs/operations.md, "Policies"): which
 * TPMs (EK CAs, optional allow-list), which platform states (PCR selection
 * and reference values), and what the release looks like (PCR binding,
 * lease length, PIN rules, workload id). Parsed from JSON, validated once. */
#ifndef A11_BROKER_POLICY_H
#define A11_BROKER_POLICY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "../common/pcr.h"
#include "evpolicy.h"

#define POLICY_MAX_EK_ALLOW 256
#define POLICY_MAX_REFS 32

struct policy {
	char ek_ca[PATH_MAX];                /* file or directory of EK CA certificates */
	size_t ek_allow_count;               /* 0: any EK the CAs vouch for */
	uint8_t ek_allow[POLICY_MAX_EK_ALLOW][32];
	TPML_PCR_SELECTION pcr_selection;
	size_t ref_count;                    /* 0: PCR values are not appraised */
	struct a11_pcr_values *refs;         /* each in selection order */
	bool bind_pcrs;                      /* released key's authPolicy has PolicyPCR */
	uint32_t lease_ttl;                  /* seconds */
	uint32_t pin_max_failures;
	uint32_t pin_iterations;             /* PBKDF2 iterations of the key authValue */
	char workload_id[256];               /* SAN URI of certificates (ca kind) */
	/* AR4SI claims that must be affirming (an appraised claim that is
	 * absent, e.g. executables without reference values, then refuses). */
	bool require_affirming[8];           /* indexed by enum ar4si_claim */
	struct evpolicy ev;                  /* rules on the boot's event log */
};

/* *out is malloc'd; policy_free. A11_ERR_PARSE with a log line naming
 * the member on any invalid input. */
a11_err policy_parse(const char *json, size_t len, struct policy **out);
void policy_free(struct policy *p);
/* Exactly 2 * len hex digits into out: 0, else -1. */
int policy_unhex(const char *s, uint8_t *out, size_t len);

#endif
