/* A host's lease of one credential, kept in the state directory so that
 * every process on the host shares one attestation (docs/operations.md,
 * "State directory"). The file holds nothing secret: the key's private
 * blob is useless outside this TPM, without the PIN-derived authValue and
 * without a live approval; a token's ciphertext needs a key sealed under
 * the same policy. Files are owner-only, replaced atomically, and a lock
 * file lets one process at a time attest. */
#ifndef A11_STATE_H
#define A11_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"
#include "../proto/proto.h"

struct host_lease {
	struct release rel;       /* the key's public area (has_key), policy, approval,
				   * certificates, token ciphertext, lease, EAR; the
				   * duplication blob is not kept */
	TPM2B_PRIVATE priv;       /* the key under its parent (size 0: none yet) */
	bool key_auth;            /* authValue = PBKDF2(PIN, salt, iterations) */
	uint8_t salt[PROTO_SALT_LEN];
	uint32_t iterations;
	TPM2_ALG_ID srk_alg;      /* the SRK priv is under (attester_result's) */
	bool has_ticket;          /* the TPM's ticket for rel.approval (version 2): */
	TPMT_TK_VERIFIED ticket;  /* VerifySignature's, for PolicyAuthorize */
	TPM2B_NAME approver;      /* the Name of the approval's signer, as the TPM saw it */
};

/* Credential names are file names: [A-Za-z0-9._-], 1 to PROTO_NAME_MAX
 * bytes, no leading '.'; anything else is A11_ERR_ARG. A directory that is
 * a symlink or writable by group or others is refused (A11_ERR_IO), and
 * state_save and state_lock also refuse one another user owns. */

/* DIR/<credential>.lease. A11_ERR_NOT_FOUND if there is none,
 * A11_ERR_PARSE if it does not decode or is another credential's
 * (callers then attest afresh). */
a11_err state_load(const char *dir, const char *credential, struct host_lease *out);
/* Write to a temporary file in DIR (0600), fsync, rename over the old
 * one, fsync DIR. Creates DIR (0700) if missing. */
a11_err state_save(const char *dir, const char *credential, const struct host_lease *in);
/* An exclusive lock on DIR/<credential>.lock (DIR created as by
 * state_save), waiting at most timeout_ms (A11_ERR_EXPIRED then); *fd is
 * what state_unlock releases. It excludes other processes and other
 * threads of this one alike (flock on a descriptor of its own). */
a11_err state_lock(const char *dir, const char *credential, long timeout_ms, int *fd);
void state_unlock(int fd);
/* Frees what rel holds and cleanses the struct. */
void host_lease_clear(struct host_lease *l);

#endif
