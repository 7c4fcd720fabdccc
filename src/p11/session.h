/* Sessions and the functions that work on them (src/p11/session.c). */
#ifndef A11_P11_SESSION_H
#define A11_P11_SESSION_H

#include "p11.h"

bool p11_ready(void);
void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src);

/* A live session with a reference taken; session_put gives it back. */
CK_RV session_get(CK_SESSION_HANDLE h, struct p11_session **out);
void session_put(struct p11_session *s);
/* Close every session (of token t, or all if t is NULL). */
void sessions_close_all(struct p11_token *t);
/* Forked child: free sessions without touching anything else. */
void sessions_drop_all(void);
struct p11_token *token_of_slot(CK_SLOT_ID slot);

CK_RV p11_initialize(CK_VOID_PTR args);
CK_RV p11_finalize(CK_VOID_PTR reserved);
CK_RV p11_get_info(CK_INFO_PTR info);

#endif
