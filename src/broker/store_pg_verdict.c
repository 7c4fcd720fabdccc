/* PostgreSQL backend: one evidence request's verdict as one transaction
 * (store.h, store_verdict_commit; the steps are store_verdict.c's). The
 * locks that make it correct across replicas, in the order taken:
 * credential row, renewal's lease row, TPM row, audit table (store_pg.c). */
#include "store_pg.h"

static const struct store_tx_ops tx_ops = {
	.cred_state = pg_cred_state_tx,
	.lease_get = pg_lease_lock_tx,
	.pin_set = pg_pin_set_tx,
	.tpm_raise = pg_tpm_raise_tx,
	.lease_put = pg_lease_put_tx,
	.audit_append = pg_audit_append_tx,
};

struct verdict_op {
	struct store_verdict *v;
	enum store_hold *held;
	struct store_audit orig, linked;
};

/* A release that no longer holds writes nothing: A11_ERR_REFUSED rolls
 * the transaction back. pg_tx may run this again after a deadlock: each
 * try starts from the caller's record and PIN state, not the last try's. */
static a11_err verdict_tx(struct pg_conn *pc, void *arg)
{
	struct verdict_op *op = arg;
	a11_err r;

	*op->v->audit = op->orig;
	op->v->pin_failures = 0;
	op->v->pin_locked = false;
	r = store_verdict_run(&tx_ops, pc, op->v, op->held, &op->linked);

	return r == A11_OK && *op->held != STORE_HOLD_OK ? A11_ERR_REFUSED : r;
}

a11_err pg_verdict(void *impl, struct store_verdict *v, enum store_hold *held)
{
	struct verdict_op op = { .v = v, .held = held, .orig = *v->audit };
	a11_err r = pg_tx(impl, true, verdict_tx, &op);

	if (r == A11_ERR_REFUSED)
		return A11_OK;
	if (r == A11_OK)
		*v->audit = op.linked;
	return r;
}
