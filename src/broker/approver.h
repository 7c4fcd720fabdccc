/* The broker's policy-signing keys (docs/protocol.md, "Leases"): every
 * released key's authPolicy is PolicyAuthorize by one of them, for good,
 * and each lease period is that key's signature over the approved policy.
 * Distinct from the EAR key: one signs statements for relying parties,
 * this one authorizes key use inside TPMs.
 *
 * A ring, so the key can be rotated while hosts keep their keys: the
 * current key anchors new leases; older keys sign only the renewals of
 * the leases bound to them (each lease stores its key's TPM Name). */
#ifndef A11_BROKER_APPROVER_H
#define A11_BROKER_APPROVER_H

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

struct approver;

#define APPROVER_KEYS_MAX 4
#define APPROVER_NAME_LEN 34 /* a TPM Name: u16 nameAlg (SHA-256) || digest */

/* A P-256 key: private PEM at priv_path (0600), public PEM at pub_path. */
a11_err approver_keygen(const char *priv_path, const char *pub_path);
/* A ring of one: the current key. */
a11_err approver_load(const char *priv_path, struct approver **out);
/* Add an older key that renews the leases bound to it; A11_ERR_EXISTS
 * (logged) for a key already in the ring. */
a11_err approver_add(struct approver *a, const char *priv_path);
void approver_free(struct approver *a);
/* The current key as a TPM public area (what attesters load with
 * LoadExternal). */
const TPM2B_PUBLIC *approver_public(const struct approver *a);
/* The key a lease is bound to, by its TPM Name; name_len 0 (a lease from
 * before schema 5 that no start has bound yet) is the current key. NULL
 * (logged, naming the key) if the ring does not hold it. */
const TPM2B_PUBLIC *approver_public_of(const struct approver *a, const uint8_t *name,
				       size_t name_len);
/* The current key's TPM Name, which a new lease stores. */
void approver_name(const struct approver *a, uint8_t name[APPROVER_NAME_LEN]);
/* ECDSA-SHA256 signature over digest (32 bytes), as TPMT_SIGNATURE: by the
 * current key, or (_with) by the ring key whose public area is pub (as
 * approver_public or approver_public_of returned it, or a copy). */
a11_err approver_sign(const struct approver *a, const TPM2B_DIGEST *digest,
		      TPMT_SIGNATURE *sig);
a11_err approver_sign_with(const struct approver *a, const TPM2B_PUBLIC *pub,
			   const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig);

#endif
