/* A token's TPM connection and the operations of its key (src/p11/
 * token_tpm.c). Locks: src/p11/locks.h. */
#ifndef A11_P11_TOKEN_TPM_H
#define A11_P11_TOKEN_TPM_H

#include "p11.h"

/* Open t's connection if it has none; the first check records the TPM's
 * boot (resetCount, restartCount), so that a later one can tell a reset. */
CK_RV token_tpm_open_intpm(struct p11_token *t);
/* A login's connection: t's checked (the TPM answers, not reset since),
 * else a new one; either way t->clock is the TPM's clock now. */
CK_RV token_tpm_connect_intpm(struct p11_token *t);
/* Close t's connection (flush: what it loaded, first; else forget the
 * handles: the TPM lost them). The next use reopens. */
void token_tpm_drop_intpm(struct p11_token *t, bool flush);
/* After an operation failed with r: if r may mean the connection or the
 * TPM's state is gone (checked with the TPM), drop the connection and
 * open another. True if the caller should retry. */
bool token_tpm_recover_intpm(struct p11_token *t, a11_err r);

/* An exchange with the broker on t's TPM: fn (attester_run for a login,
 * attester_renew for a renewal) into res, with tpm_lock held only around
 * its TPM commands, never across the network, so that fork() and other
 * users of the TPM go on meanwhile. loading: res is a login's new result,
 * which the attester loads objects into, shown to fork() as t->loading
 * while in the TPM so that it flushes them too (a renewal's res is
 * t->cred, which fork() knows). If the
 * connection went away meanwhile (dropped by a fork or a recovery, or
 * found dead now), the exchange runs once more on a new one. */
a11_err token_exchange(struct p11_token *t, struct attester_config *ac, struct attester_result *res,
		       a11_err (*fn)(struct tpm *, const struct attester_config *,
				     struct attester_result *),
		       bool loading);

/* Take tpm_lock, check that the token is still logged in at
 * key->generation (else CKR_USER_NOT_LOGGED_IN), load the key again if a
 * fork or a TPM fault unloaded it, run the key's policy session, call the
 * TPM, map the error; once more on a new connection after a TPM fault. */
CK_RV token_sign(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		 const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig);
/* scheme TPM2_ALG_OAEP (hash), TPM2_ALG_RSAES or TPM2_ALG_NULL (raw). */
CK_RV token_decrypt(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		    const uint8_t *label, size_t label_len, const TPM2B_PUBLIC_KEY_RSA *in,
		    TPM2B_PUBLIC_KEY_RSA *out);
CK_RV token_random(struct p11_token *t, uint8_t *buf, size_t len);

#endif
