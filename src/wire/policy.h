/* Policy digests computed in software, as a trial session would. */
#ifndef A11_WIRE_POLICY_H
#define A11_WIRE_POLICY_H

#include <stdbool.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "../common/pcr.h"

/* Start: digest-size zeros. */
a11_err wire_policy_init(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd);
/* PolicyPCR with the values the policy expects, in selection order. */
a11_err wire_policy_pcr(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd,
			const TPML_PCR_SELECTION *sel,
			const struct a11_pcr_values *values);
a11_err wire_policy_secret(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd,
			   const TPM2B_NAME *auth_name, const TPM2B_NONCE *policy_ref);
a11_err wire_policy_authvalue(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd);

/* PolicyCounterTimer(operandB, offset, operation) against TPMS_TIME_INFO. */
#define WIRE_TIME_CLOCK 8         /* offsetof clockInfo.clock in TPMS_TIME_INFO */
#define WIRE_TIME_RESET_COUNT 16  /* ... clockInfo.resetCount */
a11_err wire_policy_countertimer(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd, const uint8_t *operand,
				 size_t len, uint16_t offset, TPM2_EO op);
/* PolicyAuthorize: the TPM resets the digest, then extends with the
 * signing key's Name and the policyRef. */
a11_err wire_policy_authorize(TPMI_ALG_HASH alg, TPM2B_DIGEST *pd, const TPM2B_NAME *key_name,
			      const uint8_t *policy_ref, size_t ref_len);

/* The authPolicy of every released key (docs/protocol.md, "Leases"):
 * PolicyAuthorize(Name(approver), policy_ref), SHA-256. */
a11_err wire_key_policy(const TPMT_PUBLIC *approver, const uint8_t *policy_ref, size_t ref_len,
			TPM2B_DIGEST *out);

/* What one lease period approves, in the order the session runs it. */
struct wire_lease_terms {
	uint64_t clock_end;                  /* PolicyCounterTimer: clock <= clock_end */
	uint32_t reset_count;                /* PolicyCounterTimer: resetCount == */
	const TPML_PCR_SELECTION *pcrs;      /* PolicyPCR over values, if not NULL */
	const struct a11_pcr_values *values;
	bool auth_value;                     /* PolicyAuthValue */
};
a11_err wire_lease_policy(const struct wire_lease_terms *t, TPM2B_DIGEST *out);
/* aHash = H(approved || policy_ref): what the approver signs. */
a11_err wire_approval_digest(const TPM2B_DIGEST *approved, const uint8_t *policy_ref,
			     size_t ref_len, TPM2B_DIGEST *out);

#endif
