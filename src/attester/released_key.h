/* The released key inside the TPM (src/attester/released_key.c): its
 * lease policy, import, parent, unsealing. For src/attester only. */
#ifndef A11_ATTESTER_RELEASED_KEY_H
#define A11_ATTESTER_RELEASED_KEY_H

#include "attester.h"

/* The key's policy for its lease (docs/protocol.md, "Leases"), before an
 * approval fills in the terms. */
void attester_key_policy(const struct release *rel, struct tpm_policy *p);
/* Repository and token: TPM2_Import + Load of rel's blob under r->parent. */
a11_err attester_import(struct tpm *t, struct attester_result *r);
/* r's parent: the EK (c->wrap_to_ek) or the SRK of type r->srk_alg. */
a11_err attester_load_parent(struct tpm *t, const struct attester_config *c,
			     struct attester_result *r);
/* Token: unseal the AES key and open the token with it. */
a11_err attester_unseal(struct tpm *t, struct attester_result *r);

#endif
