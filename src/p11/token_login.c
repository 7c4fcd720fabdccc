/* C_Login: the host's lease from the state directory if another process
 * left a live one, else a fresh attested release from the broker; then
 * the token's objects. C_Logout: the key flushed, the public objects
 * kept. Lock order: src/p11/locks.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "ckr.h"
#include "locks.h"
#include "object.h"
#include "renew.h"
#include "token_lease.h"
#include "token_login.h"
#include "token_tpm.h"

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

/* A fresh attestation into t->cred. The attester holds tpm_lock only
 * around its TPM commands (token_exchange): a fork() by another thread
 * during the broker's round trips does not wait for them. */
static CK_RV attest_inflock(struct p11_token *t, const char *pin)
{
	struct attester_config ac = token_attester_conf(t, pin);
	struct attester_result *res = calloc(1, sizeof(*res));
	a11_err r;

	lock_assert(LOCK_FLOCK);
	if (res == NULL)
		return CKR_HOST_MEMORY;
	r = token_exchange(t, &ac, res, attester_run, true);
	lock_tpm(t);
	t->cred = *res;         /* moved; failed: cleared but for the refusal */
	unlock_tpm(t);
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
	if (r == A11_ERR_REFUSED) {
		log_error("token %s: the broker refused credential %s: %s (%s)", t->conf->label,
			  t->conf->credential, t->cred.refusal, t->cred.detail);
		return ckr_of_refusal(t->cred.refusal);
	}
	if (r != A11_OK) {
		log_error("token %s: login failed: %s", t->conf->label, a11_strerror(r));
		return ckr_of_err(r);
	}
	log_info("token %s: credential %s released, lease %s; attestation %.1f ms", t->conf->label,
		 t->conf->credential, t->cred.rel.lease,
		 t->cred.ms.challenge + t->cred.ms.tpm_evidence + t->cred.ms.evidence +
			 t->cred.ms.import);
	return CKR_OK;
}

/* A login's TPM connection, opened (or checked) by a thread of its own
 * while the login reads the lease file, checks its certificates and
 * derives the PIN's authValue: opening tpm2-abrmd's TCTI (GLib, D-Bus)
 * costs more than all of those. The opener holds tpm_lock throughout, as
 * any opening of a connection does: fork()'s prepare handler, which
 * takes every tpm_lock (src/p11/fork.c), waits for it, so that no lock of
 * GLib's, the loader's or malloc's is copied held into a child, and a
 * child never sees a half-open connection. It holds no other lock of
 * ours. Without threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS), or with
 * the cmd TCTI (below), the login opens it itself, as before. */
struct opener {
	struct p11_token *t;
	pthread_t th;
	bool started;
	CK_RV rv;
	unsigned gen;           /* the connection it left: t->tpm_gen */
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;

	lock_tpm(o->t);
	o->rv = token_tpm_connect_intpm(o->t);
	o->gen = o->t->tpm_gen;
	unlock_tpm(o->t);
	return NULL;
}

/* The cmd TCTI spawns its helper with PR_SET_PDEATHSIG, which fires
 * when the thread that forked it ends: a connection opened by a thread
 * that exits at once would die with it. It is opened by the login. */
static bool tcti_outlives_opener(void)
{
	const char *c = mod.conf.tcti;

	return strncmp(c, "cmd", 3) != 0 && strstr(c, "tcti-cmd") == NULL;
}

static void opener_start(struct opener *o, struct p11_token *t)
{
	*o = (struct opener){ .t = t };
	o->started = !mod.no_threads && tcti_outlives_opener() &&
		     pthread_create(&o->th, NULL, opener_main, o) == 0;
}

/* Returns with tpm_lock held and t's connection checked, t->clock read;
 * a connection a fork() dropped since the opener left it is opened again
 * here (the login starts over on a new one, as after any fork). */
static CK_RV opener_join(struct opener *o)
{
	if (o->started)
		pthread_join(o->th, NULL);
	lock_tpm(o->t);
	if (!o->started || (o->rv == CKR_OK && o->t->tpm_gen != o->gen))
		o->rv = token_tpm_connect_intpm(o->t);
	return o->rv;
}

/* The host's lease if another process left a live one (TPM only), else
 * a fresh attestation; its objects; and only then, with everything
 * checked and shown, the lease shared with the host's other processes: a
 * release that fails on the way is never written for them to trust.
 * Under the flock, so that while one process attests the others wait
 * and then find its lease. */
static CK_RV obtain_inflock(struct p11_token *t, const char *pin)
{
	struct lease_read *rd = calloc(1, sizeof(*rd));
	struct opener o;
	bool found = false;
	CK_RV rv;

	lock_assert(LOCK_FLOCK);
	if (rd == NULL)
		return CKR_HOST_MEMORY;
	opener_start(&o, t);
	lease_read_cached_inflock(t, pin, rd);
	if ((rv = opener_join(&o)) == CKR_OK)
		rv = lease_open_cached_intpm(t, rd, &found);
	unlock_tpm(t);
	lease_read_clear(rd);
	free(rd);
	if (rv == CKR_OK && !found)
		rv = attest_inflock(t, pin);
	lock_tpm(t);
	if (rv == CKR_OK && (rv = token_show_intpm(t, true)) != CKR_OK)
		attester_result_clear(t->tpm, &t->cred);
	if (rv == CKR_OK && !found)
		lease_share_intpm(t);
	unlock_tpm(t);
	return rv;
}

/* Objects for the token's current state: all of them while logged in,
 * the public ones of the last lease otherwise. */
CK_RV token_show_intpm(struct p11_token *t, bool logged_in)
{
	struct p11_object **objs = NULL;
	size_t n = 0;
	CK_RV rv;

	lock_assert(LOCK_TPM);
	if ((rv = object_build(t, &t->cred, logged_in, &objs, &n)) != CKR_OK)
		return rv;
	lock_mod();
	object_attach_inlock(t, objs, n);
	if (t->logged_in != logged_in)
		t->generation++;
	t->logged_in = logged_in;
	t->renew_due = logged_in ? lease_renew_due(&t->cred.rel) : 0;
	t->renew_failures = 0;
	if (logged_in)          /* the PIN worked: no failure since (CKF_USER_PIN_*) */
		mod.da_known = false;
	unlock_mod();
	return CKR_OK;
}

static bool logged_in(struct p11_token *t)
{
	bool in;

	lock_mod();
	in = t->logged_in;
	unlock_mod();
	return in;
}

CK_RV token_login(struct p11_token *t, const char *pin)
{
	CK_RV rv = CKR_USER_ALREADY_LOGGED_IN;
	int fd;

	lock_renew(t);
	if (!logged_in(t)) {
		lease_flock(t, &fd);
		rv = obtain_inflock(t, pin);
		lease_unflock(fd);
	}
	unlock_renew(t);
	if (rv == CKR_OK)
		renew_start();
	return rv;
}

CK_RV token_logout(struct p11_token *t)
{
	CK_RV rv = CKR_OK;

	lock_renew(t);
	lock_tpm(t);
	if (!logged_in(t))
		rv = CKR_USER_NOT_LOGGED_IN;
	/* The certificates stay visible; the key is flushed from the TPM and
	 * the authValue and token cleansed. */
	if (rv == CKR_OK && token_show_intpm(t, false) != CKR_OK) {
		lock_mod();
		object_detach_inlock(t);
		t->logged_in = false;
		t->generation++;
		unlock_mod();
	}
	if (rv == CKR_OK)
		attester_result_clear(t->tpm, &t->cred);
	unlock_tpm(t);
	unlock_renew(t);
	return rv;
}
