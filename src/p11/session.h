/* Sessions and the functions that work on them (src/p11/session.c). */
#ifndef A11_P11_SESSION_H
#define A11_P11_SESSION_H

#include "p11.h"

/* A live session with a reference taken; session_put gives it back. */
CK_RV session_get(CK_SESSION_HANDLE h, struct p11_session **out);
void session_put(struct p11_session *s);
/* Close every session (of token t, or all if t is NULL). */
void sessions_close_all(struct p11_token *t);
/* Forked child: free sessions without touching anything else. */
void sessions_drop_all(void);
struct p11_token *token_of_slot(CK_SLOT_ID slot);

CK_RV p11_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out);
CK_RV p11_close_session(CK_SESSION_HANDLE h);
CK_RV p11_close_all_sessions(CK_SLOT_ID slot);
CK_RV p11_get_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info);
CK_RV p11_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len);
CK_RV p11_logout(CK_SESSION_HANDLE h);

#endif
