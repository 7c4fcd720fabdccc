/* What fork() does to the module (src/p11/fork.c; docs/pkcs11.md,
 * "Threads and fork"). */
#ifndef A11_P11_FORK_H
#define A11_P11_FORK_H

/* Install the pthread_atfork handlers (once per process). */
void fork_watch(void);

#endif
