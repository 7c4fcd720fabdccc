/* One mutex: pthreads, or the application's callbacks (C_Initialize).
 * The module's locks are taken through src/p11/locks.h, which checks
 * their order; this is the mutex underneath. */
#ifndef A11_P11_MUTEX_H
#define A11_P11_MUTEX_H

#include "../../include/attest11/pkcs11.h"

struct p11_mutex {
	void *m;
};

/* Choose the locking model from C_Initialize's arguments (NULL: pthreads). */
void p11_mutex_use(const CK_C_INITIALIZE_ARGS *args);
void p11_mutex_init(struct p11_mutex *mx);
void p11_mutex_destroy(struct p11_mutex *mx);
void p11_mutex_lock(struct p11_mutex *mx);
void p11_mutex_unlock(struct p11_mutex *mx);
void p11_mutex_forget(struct p11_mutex *mx);

#endif
