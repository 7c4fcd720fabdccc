/* A token's TPM connection (opened at first use, dropped and reopened
 * after a fault or a fork) and the operations of its key, each under the
 * token's tpm_lock (src/p11/locks.h). */
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "ckr.h"
#include "locks.h"
#include "renew.h"
#include "token_login.h"
#include "token_tpm.h"

CK_RV token_tpm_open_intpm(struct p11_token *t)
{
	a11_err r;

	lock_assert(LOCK_TPM);
	if (t->tpm != NULL)
		return CKR_OK;
	if ((r = tpm_open(mod.conf.tcti, &t->tpm)) == A11_OK &&
	    (r = tpm_check_alive(t->tpm, &t->clock)) != A11_OK) {
		tpm_close(t->tpm);
		t->tpm = NULL;
	}
	if (r != A11_OK) {
		log_error("token %s: cannot open the TPM at %s: %s", t->conf->label, mod.conf.tcti,
			  a11_strerror(r));
		return CKR_DEVICE_ERROR;
	}
	return CKR_OK;
}

CK_RV token_tpm_connect_intpm(struct p11_token *t)
{
	lock_assert(LOCK_TPM);
	/* A connection a TPM fault left dead (or a reset TPM) would fail
	 * every login: check it first. */
	if (t->tpm != NULL && tpm_check_alive(t->tpm, &t->clock) != A11_OK)
		token_tpm_drop_intpm(t, false);
	return token_tpm_open_intpm(t);
}

void token_tpm_drop_intpm(struct p11_token *t, bool flush)
{
	lock_assert(LOCK_TPM);
	if (t->tpm == NULL)
		return;
	if (flush) {
		attester_unload(t->tpm, &t->cred);
		if (t->loading != NULL)
			attester_unload(t->tpm, t->loading);
	} else {
		attester_forget_loaded(&t->cred);
		if (t->loading != NULL)
			attester_forget_loaded(t->loading);
	}
	tpm_close(t->tpm);
	t->tpm = NULL;
	t->tpm_gen++;
}

/* Answers that may come from a lost link or a reset TPM: its handles are
 * gone (a context the resource manager cannot load, a session or object
 * the TPM no longer has) or the lease's resetCount no longer holds. */
static bool tpm_fault(a11_err r)
{
	return r == A11_ERR_TPM_COMM || r == A11_ERR_TPM || r == A11_ERR_TPM_NOT_FOUND ||
	       r == A11_ERR_TPM_INTEGRITY || r == A11_ERR_LEASE_ENDED;
}

bool token_tpm_recover_intpm(struct p11_token *t, a11_err r)
{
	lock_assert(LOCK_TPM);
	if (!tpm_fault(r) || t->tpm == NULL || tpm_check_alive(t->tpm, &t->clock) == A11_OK)
		return false;
	log_warn("token %s: the TPM connection failed or the TPM was reset: reconnecting and "
		 "loading the key again", t->conf->label);
	token_tpm_drop_intpm(t, false);
	return token_tpm_open_intpm(t) == CKR_OK;
}

/* An exchange's view of the token's connection: the one it began on
 * (gen), or NULL once that was dropped (a fork, a TPM fault). */
struct exchange {
	struct p11_token *t;
	unsigned gen;
	struct attester_result *loading;
};

static struct tpm *exchange_enter(void *arg)
{
	struct exchange *x = arg;

	lock_tpm(x->t);
	if (x->t->tpm_gen != x->gen)
		return NULL;
	/* Published only now: the attester cleared res before its first
	 * TPM command, outside the lock. */
	x->t->loading = x->loading;
	return x->t->tpm;
}

static void exchange_leave(void *arg)
{
	unlock_tpm(((struct exchange *)arg)->t);
}

a11_err token_exchange(struct p11_token *t, struct attester_config *ac, struct attester_result *res,
		       a11_err (*fn)(struct tpm *, const struct attester_config *,
				     struct attester_result *),
		       bool loading)
{
	struct exchange x = { .t = t, .loading = loading ? res : NULL };
	a11_err r = A11_OK;
	bool again = true;

	ac->tpm_enter = exchange_enter;
	ac->tpm_leave = exchange_leave;
	ac->tpm_arg = &x;
	for (int tries = 0; tries < 2 && again; tries++) {
		struct tpm *tpm;

		lock_tpm(t);
		tpm = token_tpm_open_intpm(t) == CKR_OK ? t->tpm : NULL;
		x.gen = t->tpm_gen;
		unlock_tpm(t);
		r = tpm != NULL ? fn(tpm, ac, res) : A11_ERR_TPM_COMM;
		lock_tpm(t);
		t->loading = NULL;
		again = r != A11_OK && (t->tpm_gen != x.gen || token_tpm_recover_intpm(t, r));
		unlock_tpm(t);
	}
	return r;
}

/* Is the key of this operation still the one of the current login? Then
 * make sure it is in the TPM: a fork() or a TPM fault unloads it (see
 * src/p11/fork.c, token_tpm_recover_intpm), the next use loads it again;
 * *e: why that failed. */
static CK_RV still_loaded_intpm(const struct p11_key *key, a11_err *e)
{
	struct p11_token *t = key->token;
	struct attester_config ac;
	CK_RV rv = CKR_OK;
	a11_err r;

	lock_assert(LOCK_TPM);
	lock_mod();
	if (!t->logged_in)
		rv = CKR_USER_NOT_LOGGED_IN;
	else if (t->generation != key->generation)
		rv = CKR_KEY_HANDLE_INVALID;
	unlock_mod();
	if (rv != CKR_OK || t->cred.key.tr != ESYS_TR_NONE)
		return rv;
	if ((rv = token_tpm_open_intpm(t)) != CKR_OK)
		return rv;
	ac = token_attester_conf(t, NULL);
	if ((r = *e = attester_reload(t->tpm, &ac, &t->cred)) != A11_OK) {
		log_error("token %s: cannot load the key into the TPM again: %s", t->conf->label,
			  a11_strerror(r));
		return ckr_of_err(r);
	}
	return CKR_OK;
}

/* The TPM says the lease is over before the renewal thread thought so
 * (a TPM reboot, a clock set forward): renew now rather than at the
 * planned time, unless renewals are already failing and backing off. */
static void renew_sooner(struct p11_token *t)
{
	int64_t now = (int64_t)time(NULL);
	bool kick = false;

	lock_mod();
	if (t->logged_in && t->renew_failures == 0 && t->renew_due > now) {
		t->renew_due = now;
		kick = true;
	}
	unlock_mod();
	if (kick)
		renew_kick();
}

static CK_RV op_rv_intpm(const struct p11_key *key, a11_err r, const char *what)
{
	if (r == A11_ERR_LEASE_ENDED)
		renew_sooner(key->token);
	if (r == A11_ERR_LEASE_ENDED)
		log_error("token %s: the TPM refused to %s: lease %s is over (or the TPM rebooted) "
			  "and has not been renewed; check the broker and the log for the renewal's "
			  "failures, or log in again", key->token->conf->label, what,
			  key->token->cred.rel.lease);
	if (r == A11_ERR_TPM_POLICY)
		log_error("token %s: the TPM refused to %s: the platform state (PCRs) no longer "
			  "matches the key's policy; log in again after investigating",
			  key->token->conf->label, what);
	return ckr_of_err(r);
}

/* One TPM operation with the key of an operation (sign, decrypt). */
struct key_op {
	a11_err (*fn)(struct tpm *tpm, struct tpm_key *k, const struct key_op *op);
	const char *what;
	TPM2_ALG_ID scheme;
	TPMI_ALG_HASH hash;
	const TPM2B_DIGEST *digest;
	TPMT_SIGNATURE *sig;
	const TPM2B_DATA *label;
	const TPM2B_PUBLIC_KEY_RSA *in;
	TPM2B_PUBLIC_KEY_RSA *out;
};

static a11_err op_once_intpm(const struct p11_key *key, const struct key_op *op, CK_RV *rv)
{
	struct p11_token *t = key->token;
	a11_err r = A11_OK;

	if ((*rv = still_loaded_intpm(key, &r)) == CKR_OK)
		r = op->fn(t->tpm, &t->cred.key, op);
	else if (r == A11_OK && *rv == CKR_DEVICE_ERROR)
		r = A11_ERR_TPM_COMM; /* the TPM could not be opened */
	return r;
}

/* The operation, and once more on a new connection with the key loaded
 * again if the TPM was unreachable or reset meanwhile (docs/pkcs11.md,
 * "TPM faults"). A lease the reset ended then asks for a renewal. */
static CK_RV key_run(const struct p11_key *key, const struct key_op *op)
{
	struct p11_token *t = key->token;
	CK_RV rv;
	a11_err r;

	renew_inline(t);
	lock_tpm(t);
	r = op_once_intpm(key, op, &rv);
	if (r != A11_OK && token_tpm_recover_intpm(t, r))
		r = op_once_intpm(key, op, &rv);
	if (rv == CKR_OK || r != A11_OK)
		rv = op_rv_intpm(key, r, op->what);
	unlock_tpm(t);
	return rv;
}

static a11_err sign_fn(struct tpm *tpm, struct tpm_key *k, const struct key_op *op)
{
	return tpm_sign(tpm, k, op->scheme, op->hash, op->digest, op->sig);
}

static a11_err decrypt_fn(struct tpm *tpm, struct tpm_key *k, const struct key_op *op)
{
	return tpm_rsa_decrypt(tpm, k, op->scheme, op->hash, op->label, op->in, op->out);
}

CK_RV token_sign(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		 const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig)
{
	const struct key_op op = { .fn = sign_fn, .what = "sign", .scheme = scheme,
				   .hash = hash, .digest = digest, .sig = sig };

	return key_run(key, &op);
}

CK_RV token_decrypt(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		    const uint8_t *label, size_t label_len, const TPM2B_PUBLIC_KEY_RSA *in,
		    TPM2B_PUBLIC_KEY_RSA *out)
{
	TPM2B_DATA l = { .size = (UINT16)label_len };
	const struct key_op op = { .fn = decrypt_fn, .what = "decrypt", .scheme = scheme,
				   .hash = hash, .label = label_len ? &l : NULL, .in = in,
				   .out = out };

	if (label_len > sizeof(l.buffer))
		return CKR_MECHANISM_PARAM_INVALID;
	if (label_len)
		memcpy(l.buffer, label, label_len);
	return key_run(key, &op);
}

CK_RV token_random(struct p11_token *t, uint8_t *buf, size_t len)
{
	a11_err r = A11_ERR_TPM_COMM;

	lock_tpm(t);
	if (token_tpm_open_intpm(t) == CKR_OK)
		r = tpm_random(t->tpm, buf, len);
	if (r != A11_OK && token_tpm_recover_intpm(t, r))
		r = tpm_random(t->tpm, buf, len);
	unlock_tpm(t);
	return ckr_of_err(r);
}
