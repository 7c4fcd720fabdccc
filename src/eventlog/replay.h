/* Replaying an event log into PCR values, one bank at a time, and
 * comparing them with the PCR values a quote covers. */
#ifndef A11_EVENTLOG_REPLAY_H
#define A11_EVENTLOG_REPLAY_H

#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/pcr.h"
#include "eventlog.h"

struct evlog_bank {
	uint16_t alg;
	uint16_t size;
	uint32_t touched;  /* bit n: PCR n was extended (or given a start locality) */
	uint8_t pcr[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
};

/* Replay bank alg (SHA-1, SHA-256, SHA-384, SHA-512) from the TPM's reset
 * values: PCRs 0-16 and 23 zero, 17-22 all ones (the PC Client PTP's
 * D-RTM PCRs before a D-RTM event). EV_NO_ACTION events are not extended;
 * the StartupLocality one (PFP §10.4.5.3) sets PCR 0's start value to
 * 0…0 ‖ locality and must precede every PCR 0 extension, at most once.
 * A11_ERR_UNSUPPORTED if the log has no such bank or OpenSSL cannot hash
 * it, A11_ERR_PARSE for a misplaced or malformed StartupLocality event. */
a11_err evlog_replay(const struct evlog *log, uint16_t alg, struct evlog_bank *out);

struct evlog_mismatch {
	uint16_t alg;
	uint32_t pcr;
};

/* Every PCR that both sel covers and pcr_mask names equals the log's
 * replay of it; vals are the quoted values in pcr.h's order (banks in sel
 * order, PCRs ascending). The mask says which PCRs the log describes: a
 * firmware log describes 0-9 and 14 but not, say, IMA's PCR 10, and a
 * PCR left out of it would pass with no event at all. On the first
 * difference: A11_ERR_EVENTLOG_MISMATCH with *bad naming bank and PCR.
 * A11_ERR_ARG if vals does not fit sel; replay errors as above. */
a11_err evlog_check_quote(const struct evlog *log, const TPML_PCR_SELECTION *sel,
			  const struct a11_pcr_values *vals, uint32_t pcr_mask,
			  struct evlog_mismatch *bad);

#endif
