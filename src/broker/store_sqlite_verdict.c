/* SQLite backend: one evidence request's verdict as one transaction
 * (store.h, store_verdict_commit; the steps are store_verdict.c's).
 * BEGIN IMMEDIATE holds the write lock from the first read, so the state
 * the release is checked against is the state it commits over;
 * synchronous=FULL makes it, and every lazy write of the request before
 * it (the session's "used"), durable before the broker answers. */
#include <string.h>

#include "store_sqlite.h"

/* Quotes of one TPM may be appraised out of order: the counters only go
 * up. The write lock is already held: nobody moves them in between. */
static a11_err raise_tpm(void *tx, const struct store_tpm *t)
{
	struct store_tpm cur = { 0 };
	bool known = false;
	a11_err r = sq_tpm_get_tx(tx, t->ek_hash, &cur, &known);

	if (r != A11_OK || (known && !store_tpm_newer(t, &cur)))
		return r;
	return sq_tpm_put_tx(tx, t);
}

static a11_err cred_state(void *tx, const char *name, struct store_verdict_state *st)
{
	return sq_cred_state_tx(tx, name, st);
}

static a11_err lease_get(void *tx, const char *id, struct store_lease *out)
{
	return sq_lease_get_tx(tx, id, out);
}

static a11_err pin_set(void *tx, const char *name, uint32_t failures, bool locked)
{
	return sq_pin_set_tx(tx, name, failures, locked);
}

static a11_err lease_put(void *tx, const struct store_lease *l, bool renewal)
{
	return sq_lease_put_tx(tx, l, renewal);
}

static a11_err audit_append(void *tx, const struct store_audit *rec, struct store_audit *linked)
{
	return sq_audit_append_tx(tx, rec, linked);
}

static const struct store_tx_ops tx_ops = {
	.cred_state = cred_state,
	.lease_get = lease_get,
	.pin_set = pin_set,
	.tpm_raise = raise_tpm,
	.lease_put = lease_put,
	.audit_append = audit_append,
};

a11_err sq_verdict(void *impl, struct store_verdict *v, enum store_hold *held)
{
	struct sq *q = NULL;
	struct store_audit linked;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	r = store_verdict_run(&tx_ops, q, v, held, &linked);
	/* A release that no longer holds writes nothing: rolled back. */
	r = sq_end(q, r == A11_OK && *held != STORE_HOLD_OK ? A11_ERR_REFUSED : r);
	if (r == A11_ERR_REFUSED)
		return A11_OK;
	if (r == A11_OK)
		*v->audit = linked;
	return r;
}
