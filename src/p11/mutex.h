#ifndef A11_P11_MUTEX_H
#define A11_P11_MUTEX_H

#include "p11.h"

/* Choose the locking model from C_Initialize's arguments (NULL: pthreads). */
void p11_mutex_use(const CK_C_INITIALIZE_ARGS *args);
void p11_mutex_forget(struct p11_mutex *mx);

#endif
