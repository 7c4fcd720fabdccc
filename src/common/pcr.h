/* PCR values as read from the TPM and carried to the verifier: one digest
 * per selected PCR, banks in TPML_PCR_SELECTION order, PCRs ascending
 * within a bank (the order TPM2_Quote hashes them in). */
#ifndef A11_PCR_H
#define A11_PCR_H

#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

/* 24 PCRs in up to 4 banks: more is never legitimate evidence. */
#define A11_PCR_MAX_VALUES 96

struct a11_pcr_values {
	uint32_t count;
	TPM2B_DIGEST v[A11_PCR_MAX_VALUES];
};

#endif
