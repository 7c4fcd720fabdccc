/* C_Login and C_Logout of a token, and the objects they show
 * (src/p11/token_login.c). Locks: src/p11/locks.h. */
#ifndef A11_P11_TOKEN_LOGIN_H
#define A11_P11_TOKEN_LOGIN_H

#include "p11.h"

/* Takes renew_lock, the state-dir flock and tpm_lock itself. */
CK_RV token_login(struct p11_token *t, const char *pin);
CK_RV token_logout(struct p11_token *t);
/* Rebuild t's objects from t->cred in place and plan the next renewal;
 * logged_in false leaves the public ones. */
CK_RV token_show_intpm(struct p11_token *t, bool logged_in);
/* What the attester needs for t (pin NULL: no PIN, e.g. a renewal). */
struct attester_config token_attester_conf(struct p11_token *t, const char *pin);

#endif
