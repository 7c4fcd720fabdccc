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
/* A lease another process left in the state dir, read ahead of the TPM
 * (lease_read_cached_inflock, flock held; while the TPM connection
 * opens): file, state_load's answer (A11_ERR_NOT_FOUND: none, or no
 * sharing); check, what attester_cached_prepare said of it (certificates,
 * the PIN's authValue). */
struct lease_read {
	a11_err file, check;
	struct attester_result res;
};
void lease_read_cached_inflock(struct p11_token *t, const char *pin, struct lease_read *out);
/* Open it on t's connection (flock held too; t->clock just read), moving
 * rd's lease into t->cred; *found false if there is none worth using
 * (then attest). lease_read_clear: what was not moved, cleansed. */
CK_RV lease_open_cached_intpm(struct p11_token *t, struct lease_read *rd, bool *found);
void lease_read_clear(struct lease_read *rd);
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
