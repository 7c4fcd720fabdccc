/* The renewal thread: one per module, started at the first login, gone
 * at C_Finalize. It sleeps until the earliest token's renewal is due,
 * renews it (src/p11/token_lease.c) and plans the next one. Applications that
 * forbid library threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS) get none:
 * the operation that finds a renewal due does it first (renew_inline),
 * so that call waits for the broker (docs/pkcs11.md). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../proto/refusal.h"
#include "locks.h"
#include "renew.h"
#include "token_lease.h"
#include "token_login.h"

#define RETRY_MIN_S 2
#define RETRY_MAX_S 60

/* R.mu is LOCK_RTHREAD of src/p11/locks.h: taken through mu_lock. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop;
} R = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void mu_lock(void)
{
	lock_note(LOCK_RTHREAD);
	pthread_mutex_lock(&R.mu);
}

static void mu_unlock(void)
{
	unlock_note(LOCK_RTHREAD);
	pthread_mutex_unlock(&R.mu);
}

/* Refusals no retry can change: the key stops at the lease's end. */
static bool final(const struct attester_result *c)
{
	enum refusal r = refusal_parse(c->refusal);

	return r == REF_LEASE_REVOKED || r == REF_LEASE_UNKNOWN;
}

static int64_t backoff(unsigned failures)
{
	int64_t s = RETRY_MIN_S;

	while (failures-- > 1 && s < RETRY_MAX_S)
		s *= 2;
	return s < RETRY_MAX_S ? s : RETRY_MAX_S;
}

/* Is t's renewal due? (mod.lock free.) */
static bool due(struct p11_token *t)
{
	int64_t now = (int64_t)time(NULL);
	bool d;

	lock_mod();
	d = t->logged_in && t->renew_due != 0 && t->renew_due <= now;
	unlock_mod();
	return d;
}

static void renew_token(struct p11_token *t)
{
	a11_err r;
	bool go;

	lock_renew(t);
	/* Asked again under renew_lock: whoever waited for it may find the
	 * renewal done (or the token logged out). */
	go = due(t);
	r = go ? lease_renew_inrenew(t) : A11_OK;
	if (go && r == A11_OK) {
		lock_tpm(t);
		if (token_show_intpm(t, true) != CKR_OK)
			log_error("token %s: cannot update its objects after the renewal",
				  t->conf->label);
		unlock_tpm(t);
	} else if (go) {
		lock_mod();
		t->renew_failures++;
		t->renew_due = final(&t->cred) ? 0 : time(NULL) + backoff(t->renew_failures);
		unlock_mod();
		log_error("token %s: renewal of lease %s failed: %s%s%s; %s", t->conf->label,
			  t->cred.rel.lease, a11_strerror(r), t->cred.refusal[0] ? ", broker: " : "",
			  t->cred.refusal, final(&t->cred) ? "the key stops at the lease's end"
							  : "retrying");
	}
	unlock_renew(t);
}

void renew_inline(struct p11_token *t)
{
	if (mod.no_threads && due(t))
		renew_token(t);
}

/* The token whose renewal is due, or NULL and when the next one is. */
static struct p11_token *next_due(time_t now, time_t *next)
{
	struct p11_token *due = NULL;

	*next = now + 3600;
	lock_mod();
	for (size_t i = 0; i < mod.n_tokens && due == NULL; i++) {
		struct p11_token *t = &mod.tokens[i];

		if (!t->logged_in || t->renew_due == 0)
			continue;
		if (t->renew_due <= now)
			due = t;
		else if (t->renew_due < *next)
			*next = (time_t)t->renew_due;
	}
	unlock_mod();
	return due;
}

static void *loop(void *arg)
{
	(void)arg;
	mu_lock();
	while (!R.stop) {
		time_t next;
		struct p11_token *due = next_due(time(NULL), &next);
		struct timespec until = { .tv_sec = next };

		if (due != NULL) {
			mu_unlock();
			renew_token(due);
			mu_lock();
			continue;
		}
		pthread_cond_timedwait(&R.cv, &R.mu, &until);
	}
	mu_unlock();
	return NULL;
}

void renew_start(void)
{
	int e;

	if (mod.no_threads)
		return;
	mu_lock();
	if (!R.running) {
		R.stop = false;
		if ((e = pthread_create(&R.thread, NULL, loop, NULL)) == 0)
			R.running = true;
		else
			log_error("cannot start the renewal thread (error %d): leases will end", e);
	}
	pthread_cond_signal(&R.cv);
	mu_unlock();
}

void renew_kick(void)
{
	mu_lock();
	pthread_cond_signal(&R.cv);
	mu_unlock();
}

void renew_stop(void)
{
	bool running;

	mu_lock();
	running = R.running;
	R.stop = true;
	pthread_cond_signal(&R.cv);
	mu_unlock();
	if (running)
		pthread_join(R.thread, NULL);
	R.running = false;
}

void renew_forget(void)
{
	/* Only the forking thread exists in the child: whatever R's mutex
	 * was doing in the parent, start over. */
	pthread_mutex_init(&R.mu, NULL);
	pthread_cond_init(&R.cv, NULL);
	R.running = false;
	R.stop = false;
}
