/* The broker's policy-signing key (docs/protocol.md, "Leases"): every
 * released key's authPolicy is PolicyAuthorize by this key, and each
 * lease period is this key's signature over the approved policy. Distinct
 * from the EAR key: one signs statements for relying parties, this one
 * authorizes key use inside TPMs. */
#ifndef A11_BROKER_APPROVER_H
#define A11_BROKER_APPROVER_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

struct approver;

/* A P-256 key: private PEM at priv_path (0600), public PEM at pub_path. */
a11_err approver_keygen(const char *priv_path, const char *pub_path);
a11_err approver_load(const char *priv_path, struct approver **out);
void approver_free(struct approver *a);
/* The key as a TPM public area (what attesters load with LoadExternal). */
const TPM2B_PUBLIC *approver_public(const struct approver *a);
/* ECDSA-SHA256 signature over digest (32 bytes), as TPMT_SIGNATURE. */
a11_err approver_sign(const struct approver *a, const TPM2B_DIGEST *digest,
		      TPMT_SIGNATURE *sig);

#endif
