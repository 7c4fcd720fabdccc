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

/* The authPolicy of a released key (docs/protocol.md, "The key's
 * authorization"), SHA-256: PolicyPCR(sel, values), then PolicyAuthValue if
 * auth_value. Without sel the key has no policy (size 0) and userWithAuth:
 * its authValue alone, checked by the TPM in one command, guards it. */
a11_err wire_key_policy(const TPML_PCR_SELECTION *sel, const struct a11_pcr_values *values,
			bool auth_value, TPM2B_DIGEST *out);

#endif
