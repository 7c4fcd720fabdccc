/* The renewal thread (src/p11/renew.c). */
#ifndef A11_P11_RENEW_H
#define A11_P11_RENEW_H

#include "p11.h"

void renew_start(void);       /* after a login; once per module */
void renew_kick(void);        /* a renewal was brought forward */
/* Without a renewal thread (CKF_LIBRARY_CANT_CREATE_OS_THREADS): renew
 * t now if due, before an operation takes its TPM lock. */
void renew_inline(struct p11_token *t);
void renew_stop(void);        /* C_Finalize: stop and join */
void renew_forget(void);      /* fork child: the thread is the parent's */

#endif
