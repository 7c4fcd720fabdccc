/* Sessions: handles from a counter that never repeats, a reference count
 * so a session outlives a concurrent C_CloseSession while in use. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../wire/pin.h"
#include "init.h"
#include "locks.h"
#include "ops.h"
#include "session.h"
#include "token_login.h"

struct p11_token *token_of_slot(CK_SLOT_ID slot)
{
	return slot < mod.n_tokens ? &mod.tokens[slot] : NULL;
}

static void session_free(struct p11_session *s)
{
	ops_clear(&s->op);
	free(s->found);
	free(s);
}

CK_RV session_get(CK_SESSION_HANDLE h, struct p11_session **out)
{
	CK_RV rv = CKR_SESSION_HANDLE_INVALID;

	*out = NULL;
	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	lock_mod();
	for (size_t i = 0; i < mod.n_sessions; i++)
		if (mod.sessions[i]->handle == h && !mod.sessions[i]->closed) {
			*out = mod.sessions[i];
			(*out)->refs++;
			rv = CKR_OK;
			break;
		}
	unlock_mod();
	return rv;
}

/* With mod.lock held: drop a reference; the last one of a closed session frees it. */
static void put_inlock(struct p11_session *s)
{
	lock_assert(LOCK_MOD);
	if (--s->refs > 0 || !s->closed)
		return;
	for (size_t i = 0; i < mod.n_sessions; i++)
		if (mod.sessions[i] == s) {
			mod.sessions[i] = mod.sessions[--mod.n_sessions];
			break;
		}
	session_free(s);
}

void session_put(struct p11_session *s)
{
	if (s == NULL)
		return;
	lock_mod();
	put_inlock(s);
	unlock_mod();
}

CK_RV p11_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out)
{
	struct p11_token *t;
	struct p11_session *s, **v;

	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((t = token_of_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CKR_HOST_MEMORY;
	s->token = t;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	lock_mod();
	v = realloc(mod.sessions, (mod.n_sessions + 1) * sizeof(*v));
	if (v == NULL) {
		unlock_mod();
		free(s);
		return CKR_HOST_MEMORY;
	}
	mod.sessions = v;
	s->handle = mod.next_handle++;
	mod.sessions[mod.n_sessions++] = s;
	*out = s->handle;
	unlock_mod();
	return CKR_OK;
}

/* Mark closed; freed when the last user lets go. Returns whether t has
 * sessions left (login state ends with the last one). */
static bool close_inlock(struct p11_session *s)
{
	struct p11_token *t = s->token;
	bool left = false;

	lock_assert(LOCK_MOD);
	s->closed = true;
	s->refs++;
	put_inlock(s);
	for (size_t i = 0; i < mod.n_sessions; i++)
		if (mod.sessions[i]->token == t && !mod.sessions[i]->closed)
			left = true;
	return left;
}

CK_RV p11_close_session(CK_SESSION_HANDLE h)
{
	struct p11_session *s;
	struct p11_token *t;
	bool left;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	t = s->token;
	lock_mod();
	left = close_inlock(s);
	put_inlock(s);
	unlock_mod();
	/* PKCS#11 §5.6: closing the last session logs the token out. */
	if (!left && t->logged_in)
		token_logout(t);
	return CKR_OK;
}

void sessions_close_all(struct p11_token *t)
{
	bool was = false;

	lock_mod();
	for (size_t i = mod.n_sessions; i-- > 0;) {
		struct p11_session *s = mod.sessions[i];
		if ((t == NULL || s->token == t) && !s->closed)
			close_inlock(s);
	}
	was = t != NULL && t->logged_in;
	unlock_mod();
	if (was)
		token_logout(t);
}

CK_RV p11_close_all_sessions(CK_SLOT_ID slot)
{
	struct p11_token *t;

	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((t = token_of_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	sessions_close_all(t);
	return CKR_OK;
}

void sessions_drop_all(void)
{
	for (size_t i = 0; i < mod.n_sessions; i++)
		session_free(mod.sessions[i]);
	free(mod.sessions);
	mod.sessions = NULL;
	mod.n_sessions = 0;
}

CK_RV p11_get_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct p11_session *s;
	CK_RV rv = session_get(h, &s);
	bool rw, user;

	if (rv != CKR_OK)
		return rv;
	if (info == NULL) {
		session_put(s);
		return CKR_ARGUMENTS_BAD;
	}
	lock_mod();
	rw = s->flags & CKF_RW_SESSION;
	user = s->token->logged_in;
	info->slotID = s->token->slot;
	info->flags = s->flags;
	info->ulDeviceError = 0;
	info->state = user ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS)
			   : (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
	put_inlock(s);
	unlock_mod();
	return CKR_OK;
}

/* No SO, no context-specific login: the broker does administration. The
 * state comes before the type (PKCS#11 §5.6): while the user is logged in,
 * any other user is CKR_USER_ANOTHER_ALREADY_LOGGED_IN. */
static CK_RV login_other(struct p11_token *t, CK_USER_TYPE user)
{
	bool user_in;

	lock_mod();
	user_in = t->logged_in;
	unlock_mod();
	return user == CKU_SO && user_in ? CKR_USER_ANOTHER_ALREADY_LOGGED_IN
					 : CKR_USER_TYPE_INVALID;
}

CK_RV p11_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	struct p11_session *s;
	char buf[WIRE_PIN_MAX + 1];
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (user != CKU_USER)
		rv = login_other(s->token, user);
	else if (pin == NULL && len != 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (len > WIRE_PIN_MAX)
		rv = CKR_PIN_LEN_RANGE;
	if (rv == CKR_OK) {
		memcpy(buf, pin ? (const char *)pin : "", len);
		buf[len] = '\0';
		rv = token_login(s->token, len ? buf : NULL);
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	session_put(s);
	return rv;
}

CK_RV p11_logout(CK_SESSION_HANDLE h)
{
	struct p11_session *s;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	rv = token_logout(s->token);
	session_put(s);
	return rv;
}
