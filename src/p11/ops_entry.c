/* The operation entry points: find the session and key, then let ops.c
 * do the work. No lock is held while ops.c calls the TPM. The arguments
 * of operations are checked in ops.c alone (it owns the operation and
 * ends it on a bad one), never here as well. */
#include <stdlib.h>
#include <string.h>

#include "locks.h"
#include "object.h"
#include "ops.h"
#include "ops_entry.h"
#include "session.h"
#include "token_tpm.h"

/* Copy what an operation needs out of the key object (mod.lock held). */
static CK_RV key_of_inlock(struct p11_session *s, CK_OBJECT_HANDLE h, struct p11_key *k)
{
	struct p11_object *o = object_find_inlock(s, h);
	const CK_ATTRIBUTE *type, *allowed;

	lock_assert(LOCK_MOD);
	if (o == NULL)
		return CKR_KEY_HANDLE_INVALID;
	type = object_attr(o, CKA_KEY_TYPE);
	if (type == NULL || o->pub == NULL)
		return CKR_KEY_TYPE_INCONSISTENT;
	allowed = object_attr(o, CKA_ALLOWED_MECHANISMS);
	*k = (struct p11_key){
		.handle = h, .type = *(CK_KEY_TYPE *)type->pValue, .cls = o->cls,
		.bits = (size_t)EVP_PKEY_get_bits(o->pub), .pub = o->pub, .token = s->token,
		.generation = s->token->generation,
		.allowed = allowed ? allowed->pValue : NULL,
		.n_allowed = allowed ? allowed->ulValueLen / sizeof(CK_MECHANISM_TYPE) : 0,
	};
	return CKR_OK;
}

CK_RV p11_op_init(CK_SESSION_HANDLE h, enum p11_op_kind kind, CK_MECHANISM_PTR m,
		  CK_OBJECT_HANDLE key)
{
	struct p11_session *s;
	struct p11_key k;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (kind != OP_DIGEST) {
		lock_mod();
		rv = key_of_inlock(s, key, &k);
		/* ops_init takes its own reference on k.pub before we unlock:
		 * a logout can then free the object but not the key. */
		if (rv == CKR_OK)
			rv = ops_init(&s->op, kind, m, &k);
		unlock_mod();
	} else {
		rv = ops_init(&s->op, kind, m, NULL);
	}
	session_put(s);
	return rv;
}

/* Run fn on the session's active operation of that kind. */
static CK_RV with_op(CK_SESSION_HANDLE h, enum p11_op_kind kind, struct p11_session **out)
{
	CK_RV rv = session_get(h, out);

	if (rv == CKR_OK && (*out)->op.kind != kind) {
		session_put(*out);
		return CKR_OPERATION_NOT_INITIALIZED;
	}
	return rv;
}

CK_RV p11_op_update(CK_SESSION_HANDLE h, enum p11_op_kind kind, CK_BYTE_PTR data, CK_ULONG len)
{
	struct p11_session *s;
	CK_RV rv = with_op(h, kind, &s);

	if (rv != CKR_OK)
		return rv;
	rv = ops_update(&s->op, data, len);
	session_put(s);
	return rv;
}

/* single: C_Sign/C_Decrypt/C_Digest; else the *Final call. */
CK_RV p11_op_produce(CK_SESSION_HANDLE h, enum p11_op_kind kind, bool single, CK_BYTE_PTR data,
		     CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct p11_session *s;
	CK_RV rv = with_op(h, kind, &s);

	if (rv != CKR_OK)
		return rv;
	switch (kind) {
	case OP_SIGN: rv = ops_sign(&s->op, single, data, len, out, out_len); break;
	case OP_DECRYPT: rv = ops_decrypt(&s->op, single, data, len, out, out_len); break;
	default: rv = ops_digest(&s->op, single, data, len, out, out_len); break;
	}
	session_put(s);
	return rv;
}

CK_RV p11_op_verify(CK_SESSION_HANDLE h, bool single, CK_BYTE_PTR data, CK_ULONG len,
		    CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	struct p11_session *s;
	CK_RV rv = with_op(h, OP_VERIFY, &s);

	if (rv != CKR_OK)
		return rv;
	rv = ops_verify(&s->op, single, data, len, sig, sig_len);
	session_put(s);
	return rv;
}

CK_RV p11_generate_random(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	struct p11_session *s;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	rv = out == NULL && len != 0 ? CKR_ARGUMENTS_BAD : token_random(s->token, out, len);
	session_put(s);
	return rv;
}

/* The TPM's generator takes no seed (PKCS#11 §5.15): the session and the
 * arguments are checked first, as for any call. */
CK_RV p11_seed_random(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	struct p11_session *s;
	CK_RV rv = session_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	rv = seed == NULL && len != 0 ? CKR_ARGUMENTS_BAD : CKR_RANDOM_SEED_NOT_SUPPORTED;
	session_put(s);
	return rv;
}
