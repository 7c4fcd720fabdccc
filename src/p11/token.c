/* A token's traffic with the TPM and the broker, under its tpm_lock:
 * login runs the attested release, operations run in the TPM. */
#include <pthread.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "object.h"
#include "p11.h"

/* The broker's refusal codes a PKCS#11 application knows how to handle. */
static CK_RV refusal_rv(const struct attester_result *r)
{
	if (strcmp(r->refusal, "pin_incorrect") == 0 || strcmp(r->refusal, "pin_required") == 0)
		return CKR_PIN_INCORRECT;
	if (strcmp(r->refusal, "pin_locked") == 0)
		return CKR_PIN_LOCKED;
	return CKR_ATTEST11_REFUSED;
}

static CK_RV tpm_rv(a11_err e)
{
	switch (e) {
	case A11_OK: return CKR_OK;
	case A11_ERR_NOMEM: return CKR_HOST_MEMORY;
	case A11_ERR_TPM_AUTH: return CKR_PIN_INCORRECT;
	case A11_ERR_TPM_LOCKOUT: return CKR_PIN_LOCKED;
	case A11_ERR_TPM_POLICY: return CKR_ATTEST11_PLATFORM_CHANGED;
	case A11_ERR_NETWORK: return CKR_ATTEST11_BROKER_DOWN;
	case A11_ERR_TLS: return CKR_ATTEST11_BROKER_TLS;
	default: return CKR_DEVICE_ERROR;
	}
}

/* The token's TPM lock, remembering its holder: a TCTI may fork() while
 * we hold it (the cmd TCTI spawns its helper), and the fork handlers must
 * then leave that token alone instead of waiting for themselves. */
static void tpm_enter(struct p11_token *t)
{
	p11_lock(&t->tpm_lock);
	t->tpm_holder = pthread_self();
	t->tpm_held = true;
}

static void tpm_leave(struct p11_token *t)
{
	t->tpm_held = false;
	p11_unlock(&t->tpm_lock);
}

static CK_RV open_tpm(struct p11_token *t)
{
	a11_err r;

	if (t->tpm != NULL)
		return CKR_OK;
	if ((r = tpm_open(mod.conf.tcti, &t->tpm)) != A11_OK) {
		log_error("token %s: cannot open the TPM at %s: %s", t->conf->label, mod.conf.tcti,
			  a11_strerror(r));
		return CKR_DEVICE_ERROR;
	}
	return CKR_OK;
}

static struct attester_config attester_conf(const struct p11_token *t, const char *pin)
{
	return (struct attester_config){
		.broker_url = mod.conf.broker, .ca_file = mod.conf.ca_file,
		.credential = t->conf->credential, .pin = pin,
		.connect_timeout_ms = mod.conf.connect_timeout_ms, .timeout_ms = mod.conf.timeout_ms,
		.ek = t->conf->ek, .wrap_to_ek = t->conf->wrap_to_ek,
	};
}

static CK_RV attest(struct p11_token *t, const char *pin)
{
	const struct attester_config ac = attester_conf(t, pin);
	a11_err r = attester_run(t->tpm, &ac, &t->cred);

	if (r == A11_ERR_REFUSED) {
		log_error("token %s: the broker refused credential %s: %s (%s)", t->conf->label,
			  t->conf->credential, t->cred.refusal, t->cred.detail);
		return refusal_rv(&t->cred);
	}
	if (r != A11_OK) {
		log_error("token %s: login failed: %s", t->conf->label, a11_strerror(r));
		return tpm_rv(r);
	}
	log_info("token %s: credential %s released, lease %s; attestation %.1f ms", t->conf->label,
		 t->conf->credential, t->cred.rel.lease,
		 t->cred.ms.challenge + t->cred.ms.tpm_evidence + t->cred.ms.evidence +
			 t->cred.ms.import);
	return CKR_OK;
}

CK_RV token_login(struct p11_token *t, const char *pin)
{
	struct p11_object **objs = NULL;
	size_t n = 0;
	bool logged;
	CK_RV rv;

	tpm_enter(t);
	p11_lock(&mod.lock);
	logged = t->logged_in;
	p11_unlock(&mod.lock);
	rv = logged ? CKR_USER_ALREADY_LOGGED_IN : open_tpm(t);
	if (rv == CKR_OK)
		rv = attest(t, pin);
	if (rv == CKR_OK && (rv = object_build(t, &objs, &n)) != CKR_OK)
		attester_result_clear(t->tpm, &t->cred);
	if (rv == CKR_OK) {
		p11_lock(&mod.lock);
		object_attach_inlock(t, objs, n);
		t->logged_in = true;
		t->generation++;
		p11_unlock(&mod.lock);
	}
	tpm_leave(t);
	return rv;
}

CK_RV token_logout(struct p11_token *t)
{
	CK_RV rv = CKR_OK;

	tpm_enter(t);
	p11_lock(&mod.lock);
	if (!t->logged_in) {
		rv = CKR_USER_NOT_LOGGED_IN;
	} else {
		object_detach_inlock(t);
		t->logged_in = false;
		t->generation++;
	}
	p11_unlock(&mod.lock);
	/* Flushes the key from the TPM and cleanses the authValue and token. */
	if (rv == CKR_OK)
		attester_result_clear(t->tpm, &t->cred);
	tpm_leave(t);
	return rv;
}

/* With tpm_lock held: is the key of this operation still the one of the
 * current login? Then make sure it is in the TPM: a fork() unloads it
 * (see token_before_fork), the next use loads it again. */
static CK_RV still_loaded(const struct p11_key *key)
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
	if ((rv = open_tpm(t)) != CKR_OK)
		return rv;
	ac = attester_conf(t, NULL);
	if ((r = attester_reload(t->tpm, &ac, &t->cred)) != A11_OK) {
		log_error("token %s: cannot load the key into the TPM again: %s", t->conf->label,
			  a11_strerror(r));
		return tpm_rv(r);
	}
	return CKR_OK;
}

/* pthread_atfork handlers. Before fork() every token gives up its TPM
 * connection (after flushing what it loaded): a child must never share the
 * parent's connection, and the tpm2-abrmd TCTI's D-Bus connection does not
 * survive fork() in the child if the parent still holds it. The parent
 * reconnects and reloads the key at its next use. */
void token_before_fork(void)
{
	if (!mod.initialized || mod.forked)
		return;
	for (size_t i = 0; i < mod.n_tokens; i++) {
		struct p11_token *t = &mod.tokens[i];

		t->fork_skipped = t->tpm_held && pthread_equal(t->tpm_holder, pthread_self());
		if (t->fork_skipped)
			continue; /* our own TPM code is forking (a TCTI helper) */
		tpm_enter(t);
		if (t->tpm != NULL) {
			attester_unload(t->tpm, &t->cred);
			tpm_close(t->tpm);
			t->tpm = NULL;
		}
	}
}

void token_after_fork_parent(void)
{
	if (!mod.initialized || mod.forked)
		return;
	for (size_t i = 0; i < mod.n_tokens; i++)
		if (!mod.tokens[i].fork_skipped)
			tpm_leave(&mod.tokens[i]);
}

static CK_RV op_rv(const struct p11_key *key, a11_err r, const char *what)
{
	if (r == A11_ERR_TPM_POLICY)
		log_error("token %s: the TPM refused to %s: the platform state (PCRs) no longer "
			  "matches the key's policy; log in again after investigating",
			  key->token->conf->label, what);
	return tpm_rv(r);
}

CK_RV token_sign(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		 const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig)
{
	struct p11_token *t = key->token;
	CK_RV rv;

	tpm_enter(t);
	rv = still_loaded(key);
	if (rv == CKR_OK)
		rv = op_rv(key, tpm_sign(t->tpm, &t->cred.key, scheme, hash, digest, sig), "sign");
	tpm_leave(t);
	return rv;
}

CK_RV token_decrypt(const struct p11_key *key, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		    const uint8_t *label, size_t label_len, const TPM2B_PUBLIC_KEY_RSA *in,
		    TPM2B_PUBLIC_KEY_RSA *out)
{
	struct p11_token *t = key->token;
	TPM2B_DATA l = { .size = (UINT16)label_len };
	CK_RV rv;

	if (label_len > sizeof(l.buffer))
		return CKR_MECHANISM_PARAM_INVALID;
	if (label_len)
		memcpy(l.buffer, label, label_len);
	tpm_enter(t);
	rv = still_loaded(key);
	if (rv == CKR_OK)
		rv = op_rv(key, tpm_rsa_decrypt(t->tpm, &t->cred.key, scheme, hash,
						label_len ? &l : NULL, in, out), "decrypt");
	tpm_leave(t);
	return rv;
}

CK_RV token_random(struct p11_token *t, uint8_t *buf, size_t len)
{
	CK_RV rv;

	tpm_enter(t);
	rv = open_tpm(t);
	if (rv == CKR_OK)
		rv = tpm_rv(tpm_random(t->tpm, buf, len));
	tpm_leave(t);
	return rv;
}
