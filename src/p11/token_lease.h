/* A token's lease beyond one login (src/p11/token_lease.c): shared with
 * the host's other processes through the state directory under its
 * flock, shown as public objects before login, renewed before it ends.
 * Locks: src/p11/locks.h. */
#ifndef A11_P11_TOKEN_LEASE_H
#define A11_P11_TOKEN_LEASE_H

#include "p11.h"

/* The state dir's flock for t's credential: one process attests at a
 * time (*fd -1 when there is no sharing or no lock; the rank is taken
 * either way, lease_unflock gives it back). Waits for other processes:
 * take it before tpm_lock, never with it. */
a11_err lease_flock(const struct p11_token *t, int *fd);
void lease_unflock(int fd);
/* A lease another process left in the state dir, opened with pin (flock
 * held too); *found false if there is none worth using (then attest). */
CK_RV lease_open_cached_intpm(struct p11_token *t, const char *pin, bool *found);
/* Share t->cred's lease with the host's other processes (flock held
 * too), if its certificates pass attester_check_certs (they trust the
 * file without the network); A11_OK also when there is no sharing. */
a11_err lease_share_intpm(struct p11_token *t);
/* When to renew the lease rel (wall clock; pure). */
int64_t lease_renew_due(const struct release *rel);
/* Public objects from the state dir, before any login (C_Initialize). */
void lease_show_public(struct p11_token *t);
/* Renew t's lease: from the state dir if another process already did,
 * else by a fresh attestation. Takes the flock and, around TPM commands
 * only, tpm_lock. */
a11_err lease_renew_inrenew(struct p11_token *t);

#endif
