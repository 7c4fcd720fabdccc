/* Policy digests computed in software, as a trial session would. */
#ifndef A11_WIRE_POLICY_H
#define A11_WIRE_POLICY_H

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

#endif
