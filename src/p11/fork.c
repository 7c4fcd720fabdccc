/* pthread_atfork handlers. Before fork() every token gives up its TPM
 * connection (after flushing what it loaded): a child must never share
 * the parent's connection, and the tpm2-abrmd TCTI's D-Bus connection
 * does not survive fork() in the child if the parent still holds it. The
 * parent reconnects and reloads the key at its next use. Only tpm_lock is
 * taken, which no one holds across the network or a file lock
 * (src/p11/locks.h): a renewal or a login waiting for the broker finds
 * its connection gone when it comes back, and starts over on a new one.
 * A login's opener thread holds tpm_lock while it opens a connection:
 * prepare waits for it, so that the child gets no lock of the TCTI's
 * libraries (GLib, the loader) copied held, and the connection it made
 * is closed here like any other.
 * The child forgets everything and must call C_Initialize again. */
#include <pthread.h>

#include "fork.h"
#include "locks.h"
#include "p11.h"
#include "renew.h"
#include "token_tpm.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* A fork() by a thread that holds one of our locks comes from inside our
 * own TPM code (the cmd TCTI spawns its helper, which execs at once): the
 * handlers then leave every token alone instead of waiting for locks that
 * this thread, or another one waiting for it, holds. */
static _Thread_local bool fork_ours;
/* A fork child's copies of the parent's HTTPS clients: never used (libcurl
 * handles do not cross fork()) and never closed (that would end the TLS
 * session on the parent's socket); kept reachable, not leaked. */
static struct client *orphan_http[P11_MAX_TOKENS];

static void prepare(void)
{
	fork_ours = locks_any_held();
	if (!mod.initialized || mod.forked || fork_ours)
		return;
	lock_tpm_all();
	for (size_t i = 0; i < mod.n_tokens; i++)
		token_tpm_drop_intpm(&mod.tokens[i], true);
}

static void parent(void)
{
	if (fork_ours) {
		fork_ours = false;
		return;
	}
	if (mod.initialized && !mod.forked)
		unlock_tpm_all();
}

/* In a fork child the parent's TPM connections, sessions and mutexes are
 * not ours: forget them (never finalize: that would talk on the parent's
 * connection) and demand a new C_Initialize, as PKCS#11 §5.1 allows. The
 * child's only thread is the forking one: it holds nothing of ours. */
static void child(void)
{
	locks_forget();
	fork_ours = false;
	if (!mod.initialized)
		return;
	mod.forked = true;
	renew_forget();
	p11_mutex_forget(&mod.lock);
	for (size_t i = 0; i < mod.n_tokens; i++) {
		p11_mutex_forget(&mod.tokens[i].renew_lock);
		p11_mutex_forget(&mod.tokens[i].tpm_lock);
		mod.tokens[i].tpm = NULL;
		orphan_http[i] = mod.tokens[i].http;
		mod.tokens[i].http = NULL;
	}
}

static void install(void)
{
	pthread_atfork(prepare, parent, child);
}

void fork_watch(void)
{
	pthread_once(&once, install);
}
