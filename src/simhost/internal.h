/* Shared by the files of src/simhost only. */
#ifndef A11_SIMHOST_INTERNAL_H
#define A11_SIMHOST_INTERNAL_H

#include "simhost.h"

/* One TPM object: its private key in software, its public area, Name and
 * qualified name (under its hierarchy or parent). */
struct simhost_key {
	EVP_PKEY *key;
	TPM2B_PUBLIC pub;
	TPM2B_NAME name, qn;
};

struct simhost {
	struct simhost_key ek, ak, srk, born;
	uint8_t *ek_cert;
	size_t ek_cert_len;
	TPM2B_DIGEST pcr[SIMHOST_PCRS];
	TPMS_CLOCK_INFO clock;
	uint64_t firmware;
	/* The exchange in progress: what the release is checked against. */
	bool renewing;
	bool wrapped_to_ek;
	TPM2B_AUTH auth;               /* the PIN's authValue, size 0 if none */
	TPMS_CLOCK_INFO quoted_clock;
	struct a11_pcr_values quoted;
};

/* Name and qualified name of k under parent_qn. */
a11_err simhost_key_names(struct simhost_key *k, const TPM2B_NAME *parent_qn);
/* The key behind which (NULL for a born key not made yet). */
const struct simhost_key *simhost_key(const struct simhost *h, enum simhost_obj which);
/* An ECC P-256 key in wire's library context. */
EVP_PKEY *simhost_p256(void);

#endif
