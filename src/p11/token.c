/* A token's traffic with the TPM and the broker, under its tpm_lock:
 * login runs the attested release, operations run in the TPM. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../proto/refusal.h"
#include "object.h"
#include "p11.h"

/* The broker's refusal codes a PKCS#11 application knows how to handle. */
static CK_RV refusal_rv(const struct attester_result *r)
{
	switch (refusal_parse(r->refusal)) {
	case REF_PIN_INCORRECT:
	case REF_PIN_REQUIRED: return CKR_PIN_INCORRECT;
	case REF_PIN_LOCKED: return CKR_PIN_LOCKED;
	default: return CKR_ATTEST11_REFUSED;
	}
}

CK_RV token_rv(a11_err e)
{
	switch (e) {
	case A11_OK: return CKR_OK;
	case A11_ERR_NOMEM: return CKR_HOST_MEMORY;
	case A11_ERR_TPM_AUTH: return CKR_PIN_INCORRECT;
	case A11_ERR_TPM_LOCKOUT: return CKR_PIN_LOCKED;
	case A11_ERR_TPM_POLICY: return CKR_ATTEST11_PLATFORM_CHANGED;
	case A11_ERR_LEASE_ENDED: return CKR_ATTEST11_LEASE_EXPIRED;
	case A11_ERR_NETWORK: return CKR_ATTEST11_BROKER_DOWN;
	case A11_ERR_TLS: return CKR_ATTEST11_BROKER_TLS;
	/* A release the attester refused (docs/pkcs11.md, "Return values"):
	 * nothing the application can change, and not a refusal by policy. */
	case A11_ERR_PROTOCOL: return CKR_DEVICE_ERROR;
	default: return CKR_DEVICE_ERROR;
	}
}

/* How many of the module's locks this thread holds. A fork() by a thread
 * that holds one comes from inside our own TPM code (the cmd TCTI spawns
 * its helper, which execs at once): the fork handlers then leave every
 * token alone instead of waiting for locks that this thread, or another
 * one waiting for it, holds. */
static _Thread_local unsigned locks_held;
static _Thread_local bool fork_ours;

void token_tpm_enter(struct p11_token *t)
{
	p11_lock(&t->tpm_lock);
	locks_held++;
}

void token_tpm_leave(struct p11_token *t)
{
	locks_held--;
	p11_unlock(&t->tpm_lock);
}

void token_renew_enter(struct p11_token *t)
{
	p11_lock(&t->renew_lock);
	locks_held++;
}

void token_renew_leave(struct p11_token *t)
{
	locks_held--;
	p11_unlock(&t->renew_lock);
}

/* The first check records the TPM's boot (resetCount, restartCount), so
 * that a later one can tell a reset. */
CK_RV token_open_tpm(struct p11_token *t)
{
	a11_err r;

	if (t->tpm != NULL)
		return CKR_OK;
	if ((r = tpm_open(mod.conf.tcti, &t->tpm)) == A11_OK &&
	    (r = tpm_check_alive(t->tpm)) != A11_OK) {
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

void token_drop_tpm(struct p11_token *t, bool flush)
{
	if (t->tpm == NULL)
		return;
	if (flush)
		attester_unload(t->tpm, &t->cred);
	else
		attester_forget_loaded(&t->cred);
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

bool token_tpm_recover(struct p11_token *t, a11_err r)
{
	if (!tpm_fault(r) || t->tpm == NULL || tpm_check_alive(t->tpm) == A11_OK)
		return false;
	log_warn("token %s: the TPM connection failed or the TPM was reset: reconnecting and "
		 "loading the key again", t->conf->label);
	token_drop_tpm(t, false);
	return token_open_tpm(t) == CKR_OK;
}

struct attester_config token_attester_conf(struct p11_token *t, const char *pin)
{
	return (struct attester_config){
		.broker_url = mod.conf.broker, .ca_file = mod.conf.ca_file,
		.credential = t->conf->credential, .pin = pin,
		.connect_timeout_ms = mod.conf.connect_timeout_ms, .timeout_ms = mod.conf.timeout_ms,
		.ek = t->conf->ek, .wrap_to_ek = t->conf->wrap_to_ek,
		.ear_key = mod.conf.ear_key[0] != '\0' ? mod.conf.ear_key : NULL,
		.eventlog = mod.conf.eventlog[0] != '\0' ? mod.conf.eventlog : NULL,
		.http = &t->http,
	};
}

static CK_RV attest(struct p11_token *t, const char *pin)
{
	const struct attester_config ac = token_attester_conf(t, pin);
	a11_err r = attester_run(t->tpm, &ac, &t->cred);

	if (r == A11_ERR_REFUSED) {
		log_error("token %s: the broker refused credential %s: %s (%s)", t->conf->label,
			  t->conf->credential, t->cred.refusal, t->cred.detail);
		return refusal_rv(&t->cred);
	}
	if (r != A11_OK) {
		log_error("token %s: login failed: %s", t->conf->label, a11_strerror(r));
		return token_rv(r);
	}
	log_info("token %s: credential %s released, lease %s; attestation %.1f ms", t->conf->label,
		 t->conf->credential, t->cred.rel.lease,
		 t->cred.ms.challenge + t->cred.ms.tpm_evidence + t->cred.ms.evidence +
			 t->cred.ms.import);
	return CKR_OK;
}

/* The host's lease if another process left a live one, else a fresh
 * attestation; its objects; and only then, with everything checked and
 * shown, the lease shared with the host's other processes: a release
 * that fails on the way is never written for them to trust. */
static CK_RV obtain(struct p11_token *t, const char *pin)
{
	bool found = false, fresh = false;
	CK_RV rv;
	int fd;

	/* While one process attests, the others wait here and then find
	 * its lease. */
	lease_lock(t, &fd);
	rv = lease_open_cached(t, pin, &found);
	if (!found && rv == CKR_OK)
		fresh = (rv = attest(t, pin)) == CKR_OK;
	if (rv == CKR_OK && (rv = token_show(t, true)) != CKR_OK)
		attester_result_clear(t->tpm, &t->cred);
	if (rv == CKR_OK && fresh)
		lease_share(t);
	lease_unlock(fd);
	return rv;
}

/* Objects for the token's current state: all of them while logged in,
 * the public ones of the last lease otherwise. */
CK_RV token_show(struct p11_token *t, bool logged_in)
{
	struct p11_object **objs = NULL;
	size_t n = 0;
	CK_RV rv = object_build(t, &t->cred, logged_in, &objs, &n);

	if (rv != CKR_OK)
		return rv;
	p11_lock(&mod.lock);
	object_attach_inlock(t, objs, n);
	if (t->logged_in != logged_in)
		t->generation++;
	t->logged_in = logged_in;
	t->renew_due = logged_in ? lease_renew_due(t) : 0;
	t->renew_failures = 0;
	if (logged_in)          /* the PIN worked: no failure since (CKF_USER_PIN_*) */
		mod.da_known = false;
	p11_unlock(&mod.lock);
	return CKR_OK;
}

CK_RV token_login(struct p11_token *t, const char *pin)
{
	bool logged;
	CK_RV rv;

	token_renew_enter(t);
	token_tpm_enter(t);
	p11_lock(&mod.lock);
	logged = t->logged_in;
	p11_unlock(&mod.lock);
	/* A connection a TPM fault left dead (or a reset TPM) would fail
	 * every login: check it first. */
	if (!logged && t->tpm != NULL && tpm_check_alive(t->tpm) != A11_OK)
		token_drop_tpm(t, false);
	rv = logged ? CKR_USER_ALREADY_LOGGED_IN : token_open_tpm(t);
	if (rv == CKR_OK)
		rv = obtain(t, pin);
	token_tpm_leave(t);
	token_renew_leave(t);
	if (rv == CKR_OK)
		renew_start();
	return rv;
}

CK_RV token_logout(struct p11_token *t)
{
	CK_RV rv = CKR_OK;

	token_renew_enter(t);
	token_tpm_enter(t);
	p11_lock(&mod.lock);
	if (!t->logged_in)
		rv = CKR_USER_NOT_LOGGED_IN;
	p11_unlock(&mod.lock);
	/* The certificates stay visible; the key is flushed from the TPM and
	 * the authValue and token cleansed. */
	if (rv == CKR_OK && token_show(t, false) != CKR_OK) {
		p11_lock(&mod.lock);
		object_detach_inlock(t);
		t->logged_in = false;
		t->generation++;
		p11_unlock(&mod.lock);
	}
	if (rv == CKR_OK)
		attester_result_clear(t->tpm, &t->cred);
	token_tpm_leave(t);
	token_renew_leave(t);
	return rv;
}

/* With tpm_lock held: is the key of this operation still the one of the
 * current login? Then make sure it is in the TPM: a fork() or a TPM fault
 * unloads it (see token_before_fork, token_tpm_recover), the next use
 * loads it again; *e: why that failed. */
static CK_RV still_loaded(const struct p11_key *key, a11_err *e)
{
	struct p11_token *t = key->token;
	struct attester_config ac;
	CK_RV rv = CKR_OK;
	a11_err r;

	p11_lock(&mod.lock);
	if (!t->logged_in)
		rv = CKR_USER_NOT_LOGGED_IN;
	else if (t->generation != key->generation)
		rv = CKR_KEY_HANDLE_INVALID;
	p11_unlock(&mod.lock);
	if (rv != CKR_OK || t->cred.key.tr != ESYS_TR_NONE)
		return rv;
	if ((rv = token_open_tpm(t)) != CKR_OK)
		return rv;
	ac = token_attester_conf(t, NULL);
	if ((r = *e = attester_reload(t->tpm, &ac, &t->cred)) != A11_OK) {
		log_error("token %s: cannot load the key into the TPM again: %s", t->conf->label,
			  a11_strerror(r));
		return token_rv(r);
	}
	return CKR_OK;
}

/* pthread_atfork handlers. Before fork() every token gives up its TPM
 * connection (after flushing what it loaded): a child must never share the
 * parent's connection, and the tpm2-abrmd TCTI's D-Bus connection does not
 * survive fork() in the child if the parent still holds it. The parent
 * reconnects and reloads the key at its next use. Only tpm_lock is taken,
 * which no one holds across the network or a file lock: a renewal waiting
 * for the broker finds its connection gone when it comes back, and starts
 * over on a new one (src/p11/lease.c). */
void token_before_fork(void)
{
	fork_ours = locks_held > 0;
	if (!mod.initialized || mod.forked || fork_ours)
		return;
	for (size_t i = 0; i < mod.n_tokens; i++) {
		token_tpm_enter(&mod.tokens[i]);
		token_drop_tpm(&mod.tokens[i], true);
	}
}

void token_after_fork_parent(void)
{
	if (fork_ours) {
		fork_ours = false;
		return;
	}
	if (!mod.initialized || mod.forked)
		return;
	for (size_t i = 0; i < mod.n_tokens; i++)
		token_tpm_leave(&mod.tokens[i]);
}

/* The child's only thread is the forking one: it holds nothing of ours. */
void token_after_fork_child(void)
{
	locks_held = 0;
	fork_ours = false;
}

/* The TPM says the lease is over before the renewal thread thought so
 * (a TPM reboot, a clock set forward): renew now rather than at the
 * planned time, unless renewals are already failing and backing off. */
static void renew_sooner(struct p11_token *t)
{
	int64_t now = (int64_t)time(NULL);
	bool kick = false;

	p11_lock(&mod.lock);
	if (t->logged_in && t->renew_failures == 0 && t->renew_due > now) {
		t->renew_due = now;
		kick = true;
	}
	p11_unlock(&mod.lock);
	if (kick)
		renew_kick();
}

static CK_RV op_rv(const struct p11_key *key, a11_err r, const char *what)
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
	return token_rv(r);
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

static a11_err op_once(const struct p11_key *key, const struct key_op *op, CK_RV *rv)
{
	struct p11_token *t = key->token;
	a11_err r = A11_OK;

	if ((*rv = still_loaded(key, &r)) == CKR_OK)
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
	token_tpm_enter(t);
	r = op_once(key, op, &rv);
	if (r != A11_OK && token_tpm_recover(t, r))
		r = op_once(key, op, &rv);
	if (rv == CKR_OK || r != A11_OK)
		rv = op_rv(key, r, op->what);
	token_tpm_leave(t);
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

	token_tpm_enter(t);
	if (token_open_tpm(t) == CKR_OK)
		r = tpm_random(t->tpm, buf, len);
	if (r != A11_OK && token_tpm_recover(t, r))
		r = tpm_random(t->tpm, buf, len);
	token_tpm_leave(t);
	return token_rv(r);
}
