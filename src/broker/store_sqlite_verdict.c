/* SQLite backend: one evidence request's verdict as one transaction
 * (store.h, store_verdict_commit). BEGIN IMMEDIATE holds the write lock
 * from the first read, so the state the release is checked against is the
 * state it commits over; synchronous=FULL makes it, and every lazy write
 * of the request before it (the session's "used"), durable before the
 * broker answers. */
#include <stdio.h>
#include <string.h>

#include "../common/log.h"
#include "store_sqlite.h"

static a11_err read_state(struct sq *q, const struct store_verdict *v,
			  struct store_verdict_state *st)
{
	a11_err r = A11_OK;

	if (v->credential != NULL)
		r = sq_cred_state_tx(q, v->credential, st);
	if (r == A11_OK && v->lease != NULL && v->renewal) {
		r = sq_lease_get_tx(q, v->lease->id, &st->lease);
		st->lease_found = r == A11_OK;
		if (r == A11_ERR_NOT_FOUND)
			r = A11_OK;
	}
	return r;
}

/* A PIN event on a credential that is gone changes nothing. */
static a11_err write_pin(struct sq *q, struct store_verdict *v, struct store_verdict_state *st)
{
	if (v->pin == STORE_PIN_NONE || !st->cred_found)
		return A11_OK;
	store_pin_next(v->pin, v->pin_max_failures, &st->pin_failures, &st->pin_locked);
	v->pin_failures = st->pin_failures;
	v->pin_locked = st->pin_locked;
	if (v->pin == STORE_PIN_WRONG && v->pin_locked && v->locked_code != NULL)
		snprintf(v->audit->code, sizeof(v->audit->code), "%s", v->locked_code);
	return sq_pin_set_tx(q, v->credential, st->pin_failures, st->pin_locked);
}

/* Quotes of one TPM may be appraised out of order: the counters only go
 * up. */
static a11_err raise_tpm(struct sq *q, const struct store_tpm *t)
{
	struct store_tpm cur = { 0 };
	bool known = false;
	a11_err r = sq_tpm_get_tx(q, t->ek_hash, &cur, &known);

	if (r != A11_OK || (known && !store_tpm_newer(t, &cur)))
		return r;
	return sq_tpm_put_tx(q, t);
}

static a11_err write_all(struct sq *q, struct store_verdict *v, struct store_verdict_state *st,
			 struct store_audit *linked)
{
	a11_err r = write_pin(q, v, st);

	if (r == A11_OK && v->tpm != NULL)
		r = raise_tpm(q, v->tpm);
	if (r == A11_OK && v->lease != NULL)
		r = sq_lease_put_tx(q, v->lease, v->renewal);
	if (r == A11_OK)
		r = sq_audit_append_tx(q, v->audit, linked);
	return r;
}

a11_err sq_verdict(void *impl, struct store_verdict *v, enum store_hold *held)
{
	struct sq *q = impl;
	struct store_verdict_state st;
	struct store_audit linked;
	a11_err r = sq_begin(q, true);

	if (r != A11_OK)
		return r;
	memset(&st, 0, sizeof(st));
	if ((r = read_state(q, v, &st)) == A11_OK) {
		*held = store_verdict_hold(v, &st);
		if (*held == STORE_HOLD_OK)
			r = write_all(q, v, &st, &linked);
	}
	/* A release that no longer holds writes nothing: rolled back. */
	r = sq_end(q, r == A11_OK && *held != STORE_HOLD_OK ? A11_ERR_REFUSED : r);
	if (r == A11_ERR_REFUSED)
		return A11_OK;
	if (r == A11_OK)
		*v->audit = linked;
	return r;
}
