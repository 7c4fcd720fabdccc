/* The verdict's steps inside a backend's transaction (store.h,
 * store_verdict_commit): what is read, what the release is checked
 * against, and what is written, in one order for every backend. The
 * backend brings the transaction and its locks (store_sqlite_verdict.c,
 * store_pg_verdict.c); the rules are store.c's. */
#include <stdio.h>
#include <string.h>

#include "store_backend.h"

static a11_err read_state(const struct store_tx_ops *ops, void *tx,
			  const struct store_verdict *v, struct store_verdict_state *st)
{
	a11_err r = A11_OK;

	if (v->credential != NULL)
		r = ops->cred_state(tx, v->credential, st);
	if (r == A11_OK && v->lease != NULL && v->renewal) {
		r = ops->lease_get(tx, v->lease->id, &st->lease);
		st->lease_found = r == A11_OK;
		if (r == A11_ERR_NOT_FOUND)
			r = A11_OK;
	}
	return r;
}

/* A PIN event on a credential that is gone changes nothing. */
static a11_err write_pin(const struct store_tx_ops *ops, void *tx, struct store_verdict *v,
			 struct store_verdict_state *st)
{
	if (v->pin == STORE_PIN_NONE || !st->cred_found)
		return A11_OK;
	store_pin_next(v->pin, v->pin_max_failures, &st->pin_failures, &st->pin_locked);
	v->pin_failures = st->pin_failures;
	v->pin_locked = st->pin_locked;
	if (v->pin == STORE_PIN_WRONG && v->pin_locked && v->locked_code != NULL)
		snprintf(v->audit->code, sizeof(v->audit->code), "%s", v->locked_code);
	return ops->pin_set(tx, v->credential, st->pin_failures, st->pin_locked);
}

static a11_err write_all(const struct store_tx_ops *ops, void *tx, struct store_verdict *v,
			 struct store_verdict_state *st, struct store_audit *linked)
{
	a11_err r = write_pin(ops, tx, v, st);

	if (r == A11_OK && v->tpm != NULL)
		r = ops->tpm_raise(tx, v->tpm);
	if (r == A11_OK && v->lease != NULL)
		r = ops->lease_put(tx, v->lease, v->renewal);
	if (r == A11_OK)
		r = ops->audit_append(tx, v->audit, linked);
	return r;
}

a11_err store_verdict_run(const struct store_tx_ops *ops, void *tx, struct store_verdict *v,
			  enum store_hold *held, struct store_audit *linked)
{
	struct store_verdict_state st;
	a11_err r;

	memset(&st, 0, sizeof(st));
	*held = STORE_HOLD_OK;
	if ((r = read_state(ops, tx, v, &st)) != A11_OK)
		return r;
	*held = store_verdict_hold(v, &st);
	return *held == STORE_HOLD_OK ? write_all(ops, tx, v, &st, linked) : A11_OK;
}
