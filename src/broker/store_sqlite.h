/* Private to the SQLite backend (store_sqlite*.c): the connection, its
 * transactions, and cursors that bind parameters and read columns in
 * order, remembering the first failure so a caller checks once. */
#ifndef A11_BROKER_STORE_SQLITE_H
#define A11_BROKER_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>

#include "store_backend.h"

#define SQ_CACHE_MAX 48
/* Connections per store (store_sqlite_pool.c): more than the broker's
 * HTTP threads ever use at once, so a reader rarely waits for one. */
#define SQ_POOL_MAX 16

struct sq_pool;

/* One connection, used by one thread at a time: between sq_begin and
 * sq_end it belongs to the caller. */
struct sq {
	struct sq_pool *pool;
	sqlite3 *db;
	sqlite3_stmt *begin_read, *begin_write, *commit, *rollback;
	bool lazy;                      /* synchronous is NORMAL (sq_begin_lazy) */
	bool writer;                    /* holds the pool's write lock */
	/* The busy handler's view of a wait (store_sqlite_pool.c). */
	int64_t busy_start_ms, busy_seen_ms;
	struct sq_wal { long long size, mtime_ns; } busy_wal;
	struct {
		const char *sql;        /* cache key: the address of a constant */
		sqlite3_stmt *st;
		bool used;              /* touched in the current transaction */
	} cache[SQ_CACHE_MAX];
	size_t ncache;
};

/* Takes a connection of the store impl and starts a transaction on it
 * (*q); write: BEGIN IMMEDIATE, so a read-modify-write holds the write
 * lock from its first read. A call from inside a list callback (a
 * transaction of this thread already open) is A11_ERR_ARG; a database
 * another process keeps write-locked is A11_ERR_BUSY, after at most a
 * bounded wait (store_sqlite_pool.c). */
a11_err sq_begin(void *impl, bool write, struct sq **q);
/* A write transaction whose commit does not wait for the disk: it becomes
 * durable with the next sq_begin(q, true) transaction's commit (in WAL
 * mode that fsync covers every frame before it). For the writes of a
 * broker request that the request's last write, a durable one, always
 * follows before the broker answers (store_sqlite.c, configure). */
a11_err sq_begin_lazy(void *impl, struct sq **q);
/* Commits if r is A11_OK (a failed commit turns r into A11_ERR_STORE),
 * otherwise rolls back; resets every statement used; gives the
 * connection back. Returns r. */
a11_err sq_end(struct sq *q, a11_err r);

/* The same on one connection, without the pool (store_sqlite_sql.c). */
a11_err sq_tx_begin(struct sq *q, bool write, bool lazy);
a11_err sq_tx_end(struct sq *q, a11_err r);
/* Opens one connection to the pool's database, configured and with its
 * transaction statements prepared (store_sqlite.c); wait: with the busy
 * handler, else a busy database fails at once. */
a11_err sq_conn_open(struct sq_pool *p, bool wait, struct sq **out);
void sq_conn_close(struct sq *q);
/* The busy handler sq_conn_open installs (store_sqlite_pool.c). */
int sq_on_busy(void *arg, int n);

/* Parameters ?1, ?2... are bound in order, then after a step columns 0,
 * 1... are read in order. After a failure later calls do nothing and r
 * keeps the first error, so a caller checks once. */
struct sq_cur {
	struct sq *q;
	sqlite3_stmt *st;
	int n;
	a11_err r;
};

/* Points c at the prepared statement for sql (a string constant, cached
 * by its address), reset and unbound. Only between sq_begin and sq_end. */
a11_err sq_prep(struct sq *q, const char *sql, struct sq_cur *c);
/* Logs what failed with sqlite3_errmsg. A primary-key or unique conflict
 * is A11_ERR_EXISTS, a missing foreign row A11_ERR_NOT_FOUND, anything
 * else A11_ERR_STORE. */
a11_err sq_fail(struct sq *q, const char *what, int rc);
/* One step (first the bindings' error, if any); *row tells SQLITE_ROW
 * from SQLITE_DONE. Columns are then read from 0. */
a11_err sq_step(struct sq_cur *c, const char *what, bool *row);
/* Steps a statement that returns no rows. */
a11_err sq_run(struct sq_cur *c, const char *what);
/* Rows changed by the last statement: 0 means nothing matched. */
int sq_changes(struct sq *q);

void sq_bind_text(struct sq_cur *c, const char *s);           /* NULL: SQL NULL */
void sq_bind_blob(struct sq_cur *c, const void *p, size_t len); /* NULL: SQL NULL */
void sq_bind_i64(struct sq_cur *c, int64_t v);

/* Readers refuse a value of the wrong type or size with A11_ERR_STORE:
 * the database holds something this code never wrote. */
void sq_get_text(struct sq_cur *c, char *dst, size_t cap);     /* TEXT, fits with NUL */
void sq_get_strdup(struct sq_cur *c, char **dst);              /* TEXT or NULL */
void sq_get_fixed(struct sq_cur *c, uint8_t *dst, size_t len); /* BLOB of exactly len */
void sq_get_blobdup(struct sq_cur *c, uint8_t **dst, size_t *len); /* BLOB or NULL */
void sq_get_i64(struct sq_cur *c, int64_t *v);
void sq_get_u32(struct sq_cur *c, uint32_t *v);
void sq_get_bool(struct sq_cur *c, bool *v);

/* The pool (store_sqlite_pool.c): open creates the database if need be
 * and brings its schema up to date (sq_migrate, store_sqlite.c). */
a11_err sq_pool_open(const char *path, void **impl);
void sq_pool_close(void *impl);
a11_err sq_pool_ping(void *impl);
const char *sq_pool_path(const struct sq_pool *p);
bool sq_pool_mem(const struct sq_pool *p);
a11_err sq_migrate(struct sq *q);
a11_err sq_precreate(const char *path);

/* The operations, by file. */
a11_err sq_cred_put(void *impl, const struct store_cred *c);
a11_err sq_cred_get(void *impl, const char *name, struct store_cred *out);
a11_err sq_cred_delete(void *impl, const char *name);
a11_err sq_cred_list(void *impl, store_cred_fn fn, void *arg);
a11_err sq_cred_set_policy(void *impl, const char *name, const char *policy_json);
a11_err sq_cred_reseal(void *impl, const struct store_reseal *rs);
a11_err sq_pin_unlock(void *impl, const char *name);

a11_err sq_session_put(void *impl, const struct store_session *ss);
a11_err sq_session_take(void *impl, const char *id, int64_t now, struct store_session *out);
a11_err sq_session_prune(void *impl, int64_t before);
a11_err sq_lease_get(void *impl, const char *id, struct store_lease *out);
a11_err sq_lease_list(void *impl, store_lease_fn fn, void *arg);
a11_err sq_lease_revoke(void *impl, const char *id);
a11_err sq_lease_bind_approver(void *impl, const uint8_t name[34], size_t *n);
a11_err sq_tpm_get(void *impl, const uint8_t ek_hash[32], struct store_tpm *out, bool *known);

a11_err sq_audit_append(void *impl, struct store_audit *rec);
a11_err sq_audit_iter(void *impl, store_audit_fn fn, void *arg, int64_t *bad_seq);
a11_err sq_verdict(void *impl, struct store_verdict *v, enum store_hold *held);

/* The same, inside a transaction the caller began (store_sqlite_verdict.c
 * composes them into one). */
a11_err sq_cred_state_tx(struct sq *q, const char *name, struct store_verdict_state *st);
a11_err sq_pin_set_tx(struct sq *q, const char *name, uint32_t failures, bool locked);
a11_err sq_lease_get_tx(struct sq *q, const char *id, struct store_lease *out);
a11_err sq_lease_put_tx(struct sq *q, const struct store_lease *l, bool renewal);
a11_err sq_tpm_get_tx(struct sq *q, const uint8_t ek_hash[32], struct store_tpm *out, bool *known);
a11_err sq_tpm_put_tx(struct sq *q, const struct store_tpm *t);
a11_err sq_audit_append_tx(struct sq *q, const struct store_audit *rec, struct store_audit *linked);

#endif
