/* Private to the store: the operations a storage backend implements, and
 * the pieces every backend shares. store.c validates arguments, picks a
 * backend by URI scheme and dispatches through its store_ops; a backend
 * only sees well-formed input (names and ids within bounds, fixed text
 * fields NUL-terminated, enums in range, out-structures zeroed).
 *
 * Each operation is one transaction of the backend's database. The audit
 * chain (seq, prev_hash, hash) is defined here, not by a backend, so that a
 * log moved between backends still verifies. */
#ifndef A11_BROKER_STORE_BACKEND_H
#define A11_BROKER_STORE_BACKEND_H

#include "store.h"

typedef void (*store_cred_fn)(const struct store_cred *, void *);
typedef void (*store_lease_fn)(const struct store_lease *, void *);
typedef int (*store_audit_fn)(const struct store_audit *, void *);

struct store_ops {
	const char *scheme;     /* URI prefix, colon included: "sqlite:" */
	/* rest: the URI after the scheme, never empty. */
	a11_err (*open)(const char *rest, void **impl);
	void (*close)(void *impl);
	/* One trivial read transaction. */
	a11_err (*ping)(void *impl);

	a11_err (*cred_put)(void *impl, const struct store_cred *c);
	a11_err (*cred_get)(void *impl, const char *name, struct store_cred *out);
	a11_err (*cred_delete)(void *impl, const char *name);
	a11_err (*cred_list)(void *impl, store_cred_fn fn, void *arg);
	a11_err (*cred_set_policy)(void *impl, const char *name, const char *policy_json);
	a11_err (*pin_unlock)(void *impl, const char *name);
	a11_err (*cred_reseal)(void *impl, const struct store_reseal *rs);

	a11_err (*session_put)(void *impl, const struct store_session *ss);
	a11_err (*session_take)(void *impl, const char *id, int64_t now,
				struct store_session *out);
	a11_err (*session_prune)(void *impl, int64_t before);

	a11_err (*lease_get)(void *impl, const char *id, struct store_lease *out);
	a11_err (*lease_list)(void *impl, store_lease_fn fn, void *arg);
	a11_err (*lease_revoke)(void *impl, const char *id);
	a11_err (*lease_bind_approver)(void *impl, const uint8_t name[34], size_t *n);

	a11_err (*tpm_get)(void *impl, const uint8_t ek_hash[32], struct store_tpm *out,
			   bool *known);

	/* Reads the last record and calls store_audit_link inside the append
	 * transaction, so concurrent appenders (threads or processes) form one
	 * chain. */
	a11_err (*audit_append)(void *impl, struct store_audit *rec);
	/* In seq order. A stored row that cannot be a record (a text too long
	 * for its field, a hash that is not 32 bytes) is A11_ERR_AUDIT with
	 * *bad_seq set to its seq. */
	a11_err (*audit_iter)(void *impl, store_audit_fn fn, void *arg, int64_t *bad_seq);

	/* One transaction: read the state (store_verdict_state), ask
	 * store_verdict_hold, and if the release holds (or there is none)
	 * write the PIN counter (store_pin_next), the TPM counters (only if
	 * store_tpm_newer), the lease, and the audit record. */
	a11_err (*verdict)(void *impl, struct store_verdict *v, enum store_hold *held);
};

/* What a backend reads inside the verdict's transaction, and the rule
 * that decides whether a release still holds (store.c, one place). */
struct store_verdict_state {
	bool cred_found;
	int64_t policy_version;
	bool has_pin, pin_locked;
	uint32_t pin_failures;
	bool lease_found;
	struct store_lease lease;           /* the stored lease of a renewal */
};
enum store_hold store_verdict_hold(const struct store_verdict *v,
				   const struct store_verdict_state *st);
/* The PIN counter after v (a locked credential stays locked). */
void store_pin_next(enum store_pin_event ev, uint32_t max_failures, uint32_t *failures,
		    bool *locked);

/* The steps of a verdict inside a backend's transaction (tx), each
 * taking whatever lock the backend needs so that what is read is what
 * the verdict commits over. */
struct store_tx_ops {
	/* Leaves st->cred_found false if the credential is absent. */
	a11_err (*cred_state)(void *tx, const char *name, struct store_verdict_state *st);
	a11_err (*lease_get)(void *tx, const char *id, struct store_lease *out);
	a11_err (*pin_set)(void *tx, const char *name, uint32_t failures, bool locked);
	/* Raises the TPM's counters to t if store_tpm_newer, else nothing. */
	a11_err (*tpm_raise)(void *tx, const struct store_tpm *t);
	a11_err (*lease_put)(void *tx, const struct store_lease *l, bool renewal);
	/* Links a copy of rec to the last record and inserts it. */
	a11_err (*audit_append)(void *tx, const struct store_audit *rec,
				struct store_audit *linked);
};
/* Reads the state, sets *held (store_verdict_hold), and if it holds
 * writes the PIN counter, TPM counters, lease and audit record (linked
 * gets the record as inserted). The caller commits only if this returns
 * A11_OK with *held STORE_HOLD_OK, and rolls back otherwise. */
a11_err store_verdict_run(const struct store_tx_ops *ops, void *tx, struct store_verdict *v,
			  enum store_hold *held, struct store_audit *linked);

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;       /* "postgresql:" */
extern const struct store_ops store_pg_short_ops; /* "postgres:" */

/* Sets l's key Name from a stored value (len 0: none); one too long for
 * a Name is A11_ERR_STORE. */
a11_err store_lease_key_name(struct store_lease *l, const uint8_t *name, size_t len);
/* Sets l's approver Name from a stored value: 0 or 34 bytes, else
 * A11_ERR_STORE. */
a11_err store_lease_approver(struct store_lease *l, const uint8_t *name, size_t len);

/* Makes rec the successor of the record (prev_seq, prev_hash): sets seq,
 * prev_hash and hash. For the first record pass prev_seq 0 and NULL. */
a11_err store_audit_link(struct store_audit *rec, int64_t prev_seq, const uint8_t *prev_hash);
/* SHA-256(rec->prev_hash || canonical(rec)), see store.c. */
a11_err store_audit_hash(const struct store_audit *rec, uint8_t out[32]);

#endif
