/* A token's lease beyond one login (docs/pkcs11.md, "Leases"): shared
 * with the host's other processes through the state directory, shown as
 * public objects before login, renewed before it ends. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "../attester/state.h"
#include "../common/log.h"
#include "locks.h"
#include "object.h"
#include "token_lease.h"
#include "token_login.h"
#include "token_tpm.h"

/* How long a process waits for another one's attestation. */
static long lock_timeout_ms(void)
{
	return 2 * (mod.conf.connect_timeout_ms + 2 * mod.conf.timeout_ms);
}

static bool sharing(void)
{
	return mod.conf.state_dir[0] != '\0';
}

/* The TPM refused the PIN of a cached lease. Its dictionary-attack
 * counter is the TPM's, not the token's: a lockout refuses every PIN of
 * every key on the host, so say which it was and when it recovers (the
 * state is kept for C_GetTokenInfo's flags, src/p11/slot.c). */
static a11_err save_intpm(struct p11_token *t);

static CK_RV pin_refused_intpm(struct p11_token *t, a11_err r)
{
	struct tpm_da da;
	bool known = tpm_da_state(t->tpm, &da) == A11_OK;

	lock_mod();
	mod.da = da;
	mod.da_known = known;
	unlock_mod();
	if (r == A11_ERR_TPM_LOCKOUT || (known && da.in_lockout)) {
		log_warn("token %s: the TPM is in dictionary-attack lockout (%u failed authorizations, "
			 "%u allowed): it refuses every PIN of every key on this host until it "
			 "forgives one failure %s%u s, or its owner clears it "
			 "(tpm2_dictionarylockout -c)", t->conf->label, da.failures, da.max_tries,
			 da.interval_s ? "every " : "never: interval ", da.interval_s);
		return CKR_PIN_LOCKED;
	}
	log_warn("token %s: the TPM refused the PIN for the host's lease (%s%u of %u failed "
		 "authorizations before the TPM locks out every key on this host)", t->conf->label,
		 known ? "" : "unknown: ", da.failures, da.max_tries);
	return CKR_PIN_INCORRECT;
}

void lease_read_cached_inflock(struct p11_token *t, const char *pin, struct lease_read *out)
{
	const struct attester_config ac = token_attester_conf(t, pin);
	struct host_lease hl = { 0 };

	lock_assert(LOCK_FLOCK);
	memset(out, 0, sizeof(*out));
	out->file = A11_ERR_NOT_FOUND;
	if (!sharing())
		return;
	if ((out->file = state_load(mod.conf.state_dir, t->conf->credential, &hl)) == A11_OK) {
		attester_from_host(&hl, &out->res);
		out->check = attester_cached_prepare(&ac, &out->res);
	}
	host_lease_clear(&hl);
}

/* What the file was is said only now, with the TPM in reach: a login
 * that cannot reach the TPM says that alone. */
CK_RV lease_open_cached_intpm(struct p11_token *t, struct lease_read *rd, bool *found)
{
	const struct attester_config ac = token_attester_conf(t, NULL);
	a11_err r = rd->check;

	lock_assert(LOCK_FLOCK);
	lock_assert(LOCK_TPM);
	*found = false;
	if (rd->file != A11_OK) {
		if (rd->file != A11_ERR_NOT_FOUND)
			log_warn("token %s: the state file of %s is unusable (%s); attesting afresh",
				 t->conf->label, t->conf->credential, a11_strerror(rd->file));
		return CKR_OK;
	}
	t->cred = rd->res; /* moved */
	OPENSSL_cleanse(&rd->res, sizeof(rd->res));
	if (r == A11_OK)
		r = attester_open_cached(t->tpm, &ac, &t->clock, &t->cred);
	if (r == A11_OK) {
		log_info("token %s: lease %s of this host opened without attesting (until %lld)",
			 t->conf->label, t->cred.rel.lease, (long long)t->cred.rel.lease_expires);
		/* A file without the approval's ticket (version 1, or one the
		 * TPM refused) gets this login's: the next ones skip
		 * VerifySignature. */
		if (attester_ticket_new(&t->cred))
			save_intpm(t);
		*found = true;
		return CKR_OK;
	}
	attester_result_clear(t->tpm, &t->cred);
	/* A wrong PIN is the caller's answer; anything else means the cached
	 * lease is of no use and a fresh attestation decides. */
	if (r == A11_ERR_TPM_AUTH || r == A11_ERR_TPM_LOCKOUT) {
		*found = true;
		return pin_refused_intpm(t, r);
	}
	log_info("token %s: the host's lease is not usable (%s); attesting", t->conf->label,
		 a11_strerror(r));
	return CKR_OK;
}

void lease_read_clear(struct lease_read *rd)
{
	if (rd->file == A11_OK)
		attester_result_clear(NULL, &rd->res);
	OPENSSL_cleanse(rd, sizeof(*rd));
}

static a11_err save_intpm(struct p11_token *t)
{
	struct host_lease hl;
	a11_err r;

	attester_to_host(&t->cred, &hl);
	r = state_save(mod.conf.state_dir, t->conf->credential, &hl);
	if (r != A11_OK)
		log_warn("token %s: cannot share lease %s through %s; other processes will attest "
			 "on their own", t->conf->label, t->cred.rel.lease, mod.conf.state_dir);
	OPENSSL_cleanse(&hl, sizeof(hl)); /* borrowed pointers; nothing to free */
	return r;
}

/* The host's other processes open the file without the network: write
 * nothing that fails the checks a release gets (the exchange checked it;
 * this is the last gate before others trust it). */
a11_err lease_share_intpm(struct p11_token *t)
{
	a11_err r;

	lock_assert(LOCK_FLOCK);
	lock_assert(LOCK_TPM);
	if (!sharing())
		return A11_OK;
	if ((r = attester_check_certs(&t->cred.rel, attester_key_public(&t->cred))) != A11_OK) {
		log_error("token %s: lease %s is not shared: its release is invalid",
			  t->conf->label, t->cred.rel.lease);
		return r;
	}
	return save_intpm(t);
}

/* The share of the lease computed without overflow whatever the numbers
 * (the decoder bounds them too): len / 100 * p + len % 100 * p / 100 never
 * exceeds len, so the result stays inside [approved, expires]. */
int64_t lease_renew_due(const struct release *rel)
{
	int64_t from = rel->lease_approved, len, pct = mod.conf.renew_at_percent;

	if (from < 0 || rel->lease_expires <= from || pct < 0 || pct > 100)
		return 0;
	len = rel->lease_expires - from;
	return from + len / 100 * pct + len % 100 * pct / 100;
}

void lease_show_public(struct p11_token *t)
{
	struct host_lease hl = { 0 };
	struct attester_result *r = calloc(1, sizeof(*r));
	struct p11_object **objs = NULL;
	size_t n = 0;

	if (r == NULL || !sharing() ||
	    state_load(mod.conf.state_dir, t->conf->credential, &hl) != A11_OK) {
		host_lease_clear(&hl);
		free(r);
		return;
	}
	attester_from_host(&hl, r);
	if (object_build(t, r, false, &objs, &n) == CKR_OK) {
		lock_mod();
		object_attach_inlock(t, objs, n);
		unlock_mod();
	}
	host_lease_clear(&hl);
	release_clear(&r->rel);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

a11_err lease_flock(const struct p11_token *t, int *fd)
{
	a11_err r;

	lock_note(LOCK_FLOCK);
	*fd = -1;
	if (!sharing())
		return A11_OK;
	r = state_lock(mod.conf.state_dir, t->conf->credential, lock_timeout_ms(), fd);
	if (r != A11_OK)
		log_warn("token %s: no lock on the state of %s (%s); going ahead alone",
			 t->conf->label, t->conf->credential, a11_strerror(r));
	return r;
}

void lease_unflock(int fd)
{
	if (fd >= 0)
		state_unlock(fd);
	unlock_note(LOCK_FLOCK);
}

/* Another process renewed the lease already: take its approval. */
static a11_err adopt_shared_inflock(struct p11_token *t)
{
	struct host_lease hl = { 0 };
	a11_err r;

	lock_assert(LOCK_FLOCK);
	r = state_load(mod.conf.state_dir, t->conf->credential, &hl);
	if (r == A11_OK && (strcmp(hl.rel.lease, t->cred.rel.lease) != 0 ||
			    hl.rel.lease_approved <= t->cred.rel.lease_approved))
		r = A11_ERR_NOT_FOUND;
	if (r == A11_OK) {
		lock_tpm(t);
		r = token_tpm_open_intpm(t) == CKR_OK ? attester_adopt_from(t->tpm, &t->cred, &hl.rel)
						: A11_ERR_TPM_COMM;
		unlock_tpm(t);
		if (r == A11_OK)
			log_info("token %s: lease %s renewed by another process, until %lld",
				 t->conf->label, t->cred.rel.lease,
				 (long long)t->cred.rel.lease_expires);
	}
	host_lease_clear(&hl);
	return r;
}

a11_err lease_renew_inrenew(struct p11_token *t)
{
	struct attester_config ac = token_attester_conf(t, NULL);
	a11_err r;
	int fd;

	lock_assert(LOCK_RENEW);
	if (lease_flock(t, &fd) == A11_OK && sharing() && adopt_shared_inflock(t) == A11_OK) {
		lease_unflock(fd);
		return A11_OK;
	}
	/* Other threads keep signing meanwhile: see token_exchange. */
	r = token_exchange(t, &ac, &t->cred, attester_renew, false);
	if (r == A11_OK) {
		lock_tpm(t);
		lease_share_intpm(t);
		unlock_tpm(t);
	}
	lease_unflock(fd);
	return r;
}
