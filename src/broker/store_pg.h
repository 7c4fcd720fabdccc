/* Private to the PostgreSQL backend (store_pg*.c): the connection pool,
 * transactions with retry, and cursors that bind parameters and read
 * columns in order, remembering the first failure so a caller checks
 * once (the same shape as store_sqlite.h's). */
#ifndef A11_BROKER_STORE_PG_H
#define A11_BROKER_STORE_PG_H

#include <pthread.h>
#include <libpq-fe.h>

#include "store_backend.h"

#define PG_POOL_MAX 16
#define PG_PARAMS_MAX 16
#define PG_PREPARED_MAX 64      /* the backend has about 40 statements */

/* A statement prepared on one connection, keyed by the caller's SQL
 * literal and its parameter types (store_pg_sql.c, "prepared
 * statements"). */
struct pg_prepared {
	const char *sql;
	char *text;             /* a copy: the key's text, checked at each use */
	int n;
	Oid types[PG_PARAMS_MAX];
	char name[16];
};

/* One pooled connection; owner is the thread holding it (reentry check).
 * retry: the last statement failed on a deadlock or serialization
 * failure, which PostgreSQL resolves by rolling the transaction back.
 * unprepared: the server lost a statement this connection prepared (a
 * transaction-pooling proxy in between): it prepares no more.
 * single, ran: inside pg_one, and how many statements ran. */
struct pg_conn {
	PGconn *db;
	bool busy, retry, unprepared, single;
	int ran;
	pthread_t owner;
	struct pg_prepared prep[PG_PREPARED_MAX];
	size_t nprep;
};

/* Closes pc's connection (if open) and forgets what it prepared. */
void pg_conn_close(struct pg_conn *pc);

struct pg {
	char *conninfo;                 /* the full libpq URI */
	pthread_mutex_t lock;           /* guards conns[] */
	pthread_cond_t freed;
	struct pg_conn conns[PG_POOL_MAX];
};

/* A transaction's body: runs on pc between BEGIN and COMMIT. */
typedef a11_err (*pg_tx_fn)(struct pg_conn *pc, void *arg);

/* Runs fn in one transaction on a pooled connection. write: READ
 * COMMITTED, with the locks each body takes (store_pg.c explains why),
 * retried from the start on a deadlock or serialization failure (both
 * mean PostgreSQL rolled it back, so nothing of it stands); otherwise
 * REPEATABLE READ READ ONLY, one snapshot for a listing. A call from a
 * thread that already holds a connection of this pool (a list callback
 * calling the store) is A11_ERR_ARG. fn's own verdicts (A11_ERR_REFUSED
 * and the like) roll back and are returned as they are. */
a11_err pg_tx(struct pg *p, bool write, pg_tx_fn fn, void *arg);

/* fn's one statement outside a transaction block: PostgreSQL runs a lone
 * statement atomically, on a snapshot of its own, so BEGIN and COMMIT
 * would be two round trips of each exchange's few for nothing. A second
 * statement in fn is refused (A11_ERR_STORE, logged): a body that grows
 * must move to pg_tx, never lose its atomicity unseen. Retried as pg_tx
 * is. */
a11_err pg_one(struct pg *p, pg_tx_fn fn, void *arg);

/* Parameters $1, $2... are bound in order, then, after pg_exec, columns
 * of the current row are read in order. After a failure later calls do
 * nothing and r keeps the first error. Parameters are sent in binary,
 * with their types, and results come back in binary. */
struct pg_cur {
	struct pg_conn *pc;
	int n;
	const char *vals[PG_PARAMS_MAX];
	int lens[PG_PARAMS_MAX], fmts[PG_PARAMS_MAX];
	Oid types[PG_PARAMS_MAX];
	uint8_t ints[PG_PARAMS_MAX][8];  /* int8 and bool parameters, network order */
	PGresult *res;
	int row, col;
	a11_err r;
};

void pg_start(struct pg_cur *c, struct pg_conn *pc);
void pg_bind_text(struct pg_cur *c, const char *s);             /* NULL: SQL NULL */
void pg_bind_blob(struct pg_cur *c, const void *p, size_t len); /* NULL: SQL NULL */
void pg_bind_i64(struct pg_cur *c, int64_t v);
void pg_bind_bool(struct pg_cur *c, bool v);
void pg_bind_null(struct pg_cur *c);    /* typed by where it goes */
/* Runs sql with the bound parameters. *rows gets the rows returned (or
 * changed, for a statement without RETURNING); the cursor is on row 0. A
 * unique conflict is A11_ERR_EXISTS, a missing foreign row
 * A11_ERR_NOT_FOUND, anything else A11_ERR_STORE (a deadlock or
 * serialization failure also sets pc->retry, for pg_tx). */
a11_err pg_exec(struct pg_cur *c, const char *sql, const char *what, int *rows);
/* Moves to row i of the last result, column 0. */
void pg_row(struct pg_cur *c, int i);
/* Frees the result; the cursor can run another statement. */
void pg_clear(struct pg_cur *c);

/* Readers refuse a value of the wrong type or size with A11_ERR_STORE:
 * the database holds something this code never wrote. */
bool pg_is_null(struct pg_cur *c);                               /* the next column */
void pg_get_text(struct pg_cur *c, char *dst, size_t cap);      /* text, fits with NUL */
void pg_get_strdup(struct pg_cur *c, char **dst);               /* text or NULL */
void pg_get_fixed(struct pg_cur *c, uint8_t *dst, size_t len);  /* bytea of exactly len */
void pg_get_blobdup(struct pg_cur *c, uint8_t **dst, size_t *len); /* bytea or NULL */
void pg_get_i64(struct pg_cur *c, int64_t *v);
void pg_get_u32(struct pg_cur *c, uint32_t *v);
void pg_get_bool(struct pg_cur *c, bool *v);

/* The operations, by file. */
a11_err pg_cred_put(void *impl, const struct store_cred *c);
a11_err pg_cred_get(void *impl, const char *name, struct store_cred *out);
a11_err pg_cred_delete(void *impl, const char *name);
a11_err pg_cred_list(void *impl, store_cred_fn fn, void *arg);
a11_err pg_cred_set_policy(void *impl, const char *name, const char *policy_json);
a11_err pg_cred_reseal(void *impl, const struct store_reseal *rs);
a11_err pg_pin_unlock(void *impl, const char *name);

a11_err pg_session_put(void *impl, const struct store_session *ss);
a11_err pg_session_take(void *impl, const char *id, int64_t now, struct store_session *out);
a11_err pg_session_prune(void *impl, int64_t before);
a11_err pg_lease_get(void *impl, const char *id, struct store_lease *out);
a11_err pg_lease_list(void *impl, store_lease_fn fn, void *arg);
a11_err pg_lease_revoke(void *impl, const char *id);
a11_err pg_lease_bind_approver(void *impl, const uint8_t name[34], size_t *n);
a11_err pg_tpm_get(void *impl, const uint8_t ek_hash[32], struct store_tpm *out, bool *known);

a11_err pg_audit_append(void *impl, struct store_audit *rec);
a11_err pg_audit_iter(void *impl, store_audit_fn fn, void *arg, int64_t *bad_seq);
a11_err pg_verdict(void *impl, struct store_verdict *v, enum store_hold *held);

/* Inside a transaction the caller began (the verdict composes them). */
a11_err pg_cred_state_tx(void *tx, const char *name, struct store_verdict_state *st);
a11_err pg_pin_set_tx(void *tx, const char *name, uint32_t failures, bool locked);
a11_err pg_lease_lock_tx(void *tx, const char *id, struct store_lease *out);
a11_err pg_lease_put_tx(void *tx, const struct store_lease *l, bool renewal);
a11_err pg_tpm_raise_tx(void *tx, const struct store_tpm *t);
a11_err pg_audit_append_tx(void *tx, const struct store_audit *rec, struct store_audit *linked);

#endif
