/* The lock order of src/p11/locks.h, kept per thread and checked. */
#include <stdlib.h>

#include "../common/log.h"
#include "locks.h"
#include "p11.h"

static const char *const names[LOCK_RANKS] = {
	[LOCK_RENEW] = "renew_lock", [LOCK_FLOCK] = "the state-dir flock",
	[LOCK_TPM] = "tpm_lock", [LOCK_RTHREAD] = "the renewal thread's R.mu",
	[LOCK_MOD] = "mod.lock",
};

/* Bit r: this thread holds a lock of rank r. Kept in every build: fork()
 * asks it whether the forking thread is inside the module. */
static _Thread_local unsigned held;

#ifdef NDEBUG
#define broken(...) ((void)0)
#else
/* A broken lock rule is a bug in the module: stop before it deadlocks. */
#define broken(...) (log_error("lock order: " __VA_ARGS__), abort())
#endif

void lock_note(enum lock_rank rank)
{
	unsigned later = held >> rank;

	if (later != 0)
		broken("taking %s while holding %s (docs/pkcs11.md, \"Threads and fork\")",
		       names[rank], names[rank + (unsigned)__builtin_ctz(later)]);
	held |= 1u << rank;
}

void unlock_note(enum lock_rank rank)
{
	if (!(held & (1u << rank)))
		broken("releasing %s, which this thread does not hold", names[rank]);
	held &= ~(1u << rank);
}

void lock_assert(enum lock_rank rank)
{
	if (!(held & (1u << rank)))
		broken("%s is needed here and not held", names[rank]);
}

bool locks_any_held(void)
{
	return held != 0;
}

void locks_forget(void)
{
	held = 0;
}

void lock_renew(struct p11_token *t)
{
	lock_note(LOCK_RENEW);
	p11_mutex_lock(&t->renew_lock);
}

void unlock_renew(struct p11_token *t)
{
	unlock_note(LOCK_RENEW);
	p11_mutex_unlock(&t->renew_lock);
}

void lock_tpm(struct p11_token *t)
{
	lock_note(LOCK_TPM);
	p11_mutex_lock(&t->tpm_lock);
}

void unlock_tpm(struct p11_token *t)
{
	unlock_note(LOCK_TPM);
	p11_mutex_unlock(&t->tpm_lock);
}

void lock_mod(void)
{
	lock_note(LOCK_MOD);
	p11_mutex_lock(&mod.lock);
}

void unlock_mod(void)
{
	unlock_note(LOCK_MOD);
	p11_mutex_unlock(&mod.lock);
}

void lock_tpm_all(void)
{
	lock_note(LOCK_TPM);
	for (size_t i = 0; i < mod.n_tokens; i++)
		p11_mutex_lock(&mod.tokens[i].tpm_lock);
}

void unlock_tpm_all(void)
{
	unlock_note(LOCK_TPM);
	for (size_t i = 0; i < mod.n_tokens; i++)
		p11_mutex_unlock(&mod.tokens[i].tpm_lock);
}
