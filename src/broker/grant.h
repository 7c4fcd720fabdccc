/* Building what the broker releases, for each credential kind, once the
 * Relying Party has decided to release: the repository key as an import
 * blob, a fresh certificate for a TPM-born key, or a token sealed to the
 * TPM. Nothing here leaves the broker in clear. */
#ifndef A11_BROKER_GRANT_H
#define A11_BROKER_GRANT_H

#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../proto/proto.h"
#include "policy.h"
#include "../proto/refusal.h"
#include "secrets.h"
#include "store.h"

struct grant_input {
	const struct store_cred *cred;
	struct secrets *secrets;
	const struct policy *policy;
	const TPMT_PUBLIC *parent;            /* where the blob is wrapped to */
	const struct evidence_req *ev;        /* attested PCR values, TPM-born key */
	const TPM2B_AUTH *auth;               /* key authValue from the PIN, or NULL */
	const struct lease_anchor *anchor;    /* the key's authPolicy: PolicyAuthorize */
	bool renewal;                         /* the host has the key: no new blob */
	int64_t not_before, not_after;        /* certificate validity (ca kind) */
};

/* Fills out (kind, key or certificates or token, policy); serial gets the
 * issued certificate's serial ("" otherwise). A renewal carries no key,
 * token or chain (the host keeps them); the ca kind gets a new certificate
 * for the key the host already holds. */
enum refusal grant_build(const struct grant_input *in, struct release *out, char serial[41]);

/* AAD binding a credential's sealed secret to its row. */
void grant_secret_aad(const char *credential, char *aad, size_t cap);

#endif
