/* Object queries: C_FindObjects*, C_GetAttributeValue, C_GetObjectSize. */
#include <stdlib.h>
#include <string.h>

#include "find.h"
#include "locks.h"
#include "object.h"
#include "session.h"

CK_RV p11_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	struct p11_session *s;
	struct p11_token *t;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (tmpl == NULL && n != 0) {
		session_put(s);
		return CKR_ARGUMENTS_BAD;
	}
	lock_mod();
	t = s->token;
	if (s->finding) {
		rv = CKR_OPERATION_ACTIVE;
	} else {
		/* Snapshot the matching handles: later logins do not move them. */
		free(s->found);
		s->found = calloc(t->n_objects ? t->n_objects : 1, sizeof(*s->found));
		s->n_found = s->found_pos = 0;
		if (s->found == NULL)
			rv = CKR_HOST_MEMORY;
		for (size_t i = 0; s->found && i < t->n_objects; i++)
			if (object_visible_inlock(s, t->objects[i]) &&
			    object_matches(t->objects[i], tmpl, n))
				s->found[s->n_found++] = t->objects[i]->handle;
		s->finding = rv == CKR_OK;
	}
	unlock_mod();
	session_put(s);
	return rv;
}

CK_RV p11_find(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
	struct p11_session *s;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (out == NULL || count == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (!s->finding)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	if (rv == CKR_OK) {
		*count = 0;
		while (*count < max && s->found_pos < s->n_found)
			out[(*count)++] = s->found[s->found_pos++];
	}
	session_put(s);
	return rv;
}

CK_RV p11_find_final(CK_SESSION_HANDLE h)
{
	struct p11_session *s;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (!s->finding)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	s->finding = false;
	free(s->found);
	s->found = NULL;
	s->n_found = s->found_pos = 0;
	session_put(s);
	return rv;
}

CK_RV p11_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl,
			      CK_ULONG n)
{
	struct p11_session *s;
	struct p11_object *o;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (tmpl == NULL && n != 0) {
		session_put(s);
		return CKR_ARGUMENTS_BAD;
	}
	lock_mod();
	o = object_find_inlock(s, oh);
	rv = o ? object_get_attrs(o, tmpl, n) : CKR_OBJECT_HANDLE_INVALID;
	unlock_mod();
	session_put(s);
	return rv;
}

CK_RV p11_get_object_size(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size)
{
	struct p11_session *s;
	struct p11_object *o;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	lock_mod();
	o = object_find_inlock(s, oh);
	if (o == NULL)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else if (size == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else
		*size = object_size(o);
	unlock_mod();
	session_put(s);
	return rv;
}
