/* The module's locks and their one order (docs/pkcs11.md, "Threads and
 * fork"). A thread takes them in this order only: never one while it
 * holds one further down the list.
 *
 *   1. renew_lock   per token. A login, a logout or a renewal of the
 *                   token: they never overlap. Held across the network.
 *   2. state-dir flock  per credential (src/p11/token_lease.c): one
 *                   process of the host attests at a time. Held across
 *                   the network; waits for other processes.
 *   3. tpm_lock     per token. The token's TPM connection (t->tpm) and
 *                   what is loaded on it (t->cred). Held only around TPM
 *                   commands and the opening of a connection, never
 *                   across the network or a wait for the flock: fork()
 *                   takes it (src/p11/fork.c) and must never wait for a
 *                   broker or another process. A login's connection
 *                   opener (src/p11/token_login.c) is a thread that takes
 *                   it and nothing else, while the login thread holds
 *                   renew_lock and the flock and waits for it (a join,
 *                   not a lock: the opener needs nothing the login holds).
 *   4. R.mu         the renewal thread's sleep (src/p11/renew.c).
 *   5. mod.lock     sessions, objects, login state. Holders call neither
 *                   the TPM nor the network.
 *
 * A function that needs a lock held says so by its name's suffix, and
 * checks it (lock_assert):
 *   _inrenew  renew_lock   _inflock  the state-dir flock
 *   _intpm    tpm_lock     _inlock   mod.lock
 *
 * Each thread keeps a mask of the ranks it holds. Unless NDEBUG is
 * defined, taking a lock out of order, releasing one not held, or a
 * function entered without its lock aborts the process with a log line:
 * the tests run every path with the checks on. */
#ifndef A11_P11_LOCKS_H
#define A11_P11_LOCKS_H

#include <stdbool.h>

struct p11_token;

enum lock_rank {
	LOCK_RENEW,     /* token->renew_lock */
	LOCK_FLOCK,     /* the state directory's flock of a credential */
	LOCK_TPM,       /* token->tpm_lock */
	LOCK_RTHREAD,   /* the renewal thread's R.mu */
	LOCK_MOD,       /* mod.lock */
	LOCK_RANKS
};

void lock_renew(struct p11_token *t);
void unlock_renew(struct p11_token *t);
void lock_tpm(struct p11_token *t);
void unlock_tpm(struct p11_token *t);
void lock_mod(void);
void unlock_mod(void);
/* fork() (src/p11/fork.c): every token's tpm_lock, in slot order; with
 * no other lock held. */
void lock_tpm_all(void);
void unlock_tpm_all(void);

/* Locks that are not a struct p11_mutex (the flock, R.mu): record that
 * this thread is about to take rank (checked as above) or has given it
 * back. */
void lock_note(enum lock_rank rank);
void unlock_note(enum lock_rank rank);

/* Abort (unless NDEBUG) if this thread does not hold rank. */
void lock_assert(enum lock_rank rank);
/* Does this thread hold any of the module's locks? */
bool locks_any_held(void);
/* A fork child: the only thread, holding nothing of ours. */
void locks_forget(void);

#endif
