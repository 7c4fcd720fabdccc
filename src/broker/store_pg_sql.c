/* PostgreSQL backend: the connection pool, transactions with retry, and
 * cursors that bind parameters and read columns with every libpq result
 * checked. Why a pool and which locks each operation takes: store_pg.c. */
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "store_pg.h"

/* Type OIDs of the built-in types (pg_type.dat; fixed since 7.x). */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_TEXT = 25 };

/* A deadlock or serialization failure rolls the whole transaction back;
 * running it again is safe. Contention here is a few rows per
 * credential, so a handful of tries is plenty. */
#define PG_TRIES 5

/* ---- the pool ------------------------------------------------------------ */

void pg_conn_close(struct pg_conn *pc)
{
	if (pc->db != NULL)
		PQfinish(pc->db);
	pc->db = NULL;
	for (size_t i = 0; i < pc->nprep; i++)
		free(pc->prep[i].text);
	pc->nprep = 0;
	pc->unprepared = false;
}

static a11_err conn_open(struct pg *p, struct pg_conn *pc)
{
	pc->db = PQconnectdb(p->conninfo);
	if (pc->db == NULL)
		return A11_ERR_NOMEM;
	if (PQstatus(pc->db) != CONNECTION_OK || PQsetClientEncoding(pc->db, "UTF8") != 0) {
		/* PQerrorMessage names host and reason, never the password. */
		log_error("cannot connect to PostgreSQL: %s", PQerrorMessage(pc->db));
		pg_conn_close(pc);
		return A11_ERR_STORE;
	}
	return A11_OK;
}

/* The slot to use: an open idle connection, else an empty slot (opened by
 * the caller), else NULL: all are busy. */
static struct pg_conn *pick_inlock(struct pg *p)
{
	struct pg_conn *empty = NULL;

	for (size_t i = 0; i < PG_POOL_MAX; i++) {
		if (p->conns[i].busy)
			continue;
		if (p->conns[i].db != NULL)
			return &p->conns[i];
		if (empty == NULL)
			empty = &p->conns[i];
	}
	return empty;
}

static bool held_by_me_inlock(struct pg *p)
{
	for (size_t i = 0; i < PG_POOL_MAX; i++)
		if (p->conns[i].busy && pthread_equal(p->conns[i].owner, pthread_self()))
			return true;
	return false;
}

static void pool_give(struct pg *p, struct pg_conn *pc)
{
	/* A connection that broke, or is stuck in a transaction (a failed
	 * ROLLBACK), is not handed to the next caller. */
	bool bad = pc->db != NULL && (PQstatus(pc->db) != CONNECTION_OK ||
				      PQtransactionStatus(pc->db) != PQTRANS_IDLE);

	if (bad)
		pg_conn_close(pc);
	pthread_mutex_lock(&p->lock);
	pc->busy = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

static a11_err pool_take(struct pg *p, struct pg_conn **out)
{
	struct pg_conn *pc;
	a11_err r = A11_OK;

	pthread_mutex_lock(&p->lock);
	if (held_by_me_inlock(p)) {
		pthread_mutex_unlock(&p->lock);
		log_error("store used from inside one of its own callbacks");
		return A11_ERR_ARG;
	}
	while ((pc = pick_inlock(p)) == NULL)
		pthread_cond_wait(&p->freed, &p->lock);
	pc->busy = true;
	pc->owner = pthread_self();
	pthread_mutex_unlock(&p->lock);
	/* Connecting happens outside the lock: it waits on the network. */
	if (pc->db == NULL)
		r = conn_open(p, pc);
	if (r != A11_OK)
		pool_give(p, pc);
	else
		*out = pc;
	return r;
}

/* ---- transactions -------------------------------------------------------- */

static a11_err run_const(struct pg_conn *pc, const char *sql, const char *what)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	r = pg_exec(&c, sql, what, &rows);
	pg_clear(&c);
	return r;
}

/* READ COMMITTED for writes: each statement sees what committed before
 * it, so a row read after its lock is taken (FOR NO KEY UPDATE, the audit
 * table's lock) is the latest version, never a snapshot from before the
 * wait. */
static a11_err tx_once(struct pg_conn *pc, bool write, pg_tx_fn fn, void *arg)
{
	a11_err r = run_const(pc, write ? "BEGIN ISOLATION LEVEL READ COMMITTED"
					: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");

	if (r != A11_OK)
		return r;
	r = fn(pc, arg);
	if (r == A11_OK)
		r = run_const(pc, "COMMIT", "commit");
	else if (run_const(pc, "ROLLBACK", "rollback") != A11_OK)
		log_error("rollback failed: the connection is dropped");
	return r;
}

static a11_err one_once(struct pg_conn *pc, pg_tx_fn fn, void *arg)
{
	a11_err r;

	pc->single = true;
	pc->ran = 0;
	r = fn(pc, arg);
	pc->single = false;
	return r;
}

/* single: pg_one's body, else a transaction (write or read only). */
static a11_err run(struct pg *p, bool single, bool write, pg_tx_fn fn, void *arg)
{
	struct pg_conn *pc = NULL;
	a11_err r = pool_take(p, &pc);
	int tries = 0;

	if (r != A11_OK)
		return r;
	do {
		pc->retry = false;
		r = single ? one_once(pc, fn, arg) : tx_once(pc, write, fn, arg);
	} while (r != A11_OK && pc->retry && ++tries < PG_TRIES);
	pool_give(p, pc);
	return r;
}

a11_err pg_tx(struct pg *p, bool write, pg_tx_fn fn, void *arg)
{
	return run(p, false, write, fn, arg);
}

a11_err pg_one(struct pg *p, pg_tx_fn fn, void *arg)
{
	return run(p, true, false, fn, arg);
}

/* ---- statements ---------------------------------------------------------- */

void pg_start(struct pg_cur *c, struct pg_conn *pc)
{
	memset(c, 0, sizeof(*c));
	c->pc = pc;
	c->r = A11_OK;
}

void pg_clear(struct pg_cur *c)
{
	PQclear(c->res);
	c->res = NULL;
	c->n = 0;
	c->row = c->col = 0;
}

static a11_err fail(struct pg_cur *c, const char *what)
{
	const char *state = PQresultErrorField(c->res, PG_DIAG_SQLSTATE);
	const char *msg = c->res != NULL ? PQresultErrorMessage(c->res) : PQerrorMessage(c->pc->db);

	if (state == NULL)
		state = "";
	if (strcmp(state, "23505") == 0) {
		log_info("%s: %s", what, msg);
		return A11_ERR_EXISTS;
	}
	if (strcmp(state, "23503") == 0) {
		log_info("%s: %s (no such credential)", what, msg);
		return A11_ERR_NOT_FOUND;
	}
	c->pc->retry = strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
	if (c->pc->retry)
		log_info("%s: %s (retried)", what, msg);
	else
		log_error("%s: %s", what, msg);
	return A11_ERR_STORE;
}

/* ---- prepared statements --------------------------------------------------
 * Parsing and planning every statement anew was most of PostgreSQL's CPU
 * per attestation, more than the broker's own (docs/performance.md): each
 * connection prepares a statement at its first use and runs it by name
 * after. The key is the caller's SQL literal and its parameter types (a
 * NULL's type 0 is a statement of its own: the server infers that type);
 * a literal whose text is not the one prepared, or a full table, runs
 * unprepared. Schema changes by another broker's migration are the
 * server's to handle: it plans a statement again when a table changes. */
static bool same_key(const struct pg_prepared *s, const struct pg_cur *c, const char *sql)
{
	return s->sql == sql && s->n == c->n &&
	       memcmp(s->types, c->types, sizeof(Oid) * (size_t)c->n) == 0;
}

/* The name of sql's statement on c's connection, prepared now if new;
 * NULL: run it unprepared (c->r says whether preparing failed). */
static const char *prepared(struct pg_cur *c, const char *sql, const char *what)
{
	struct pg_conn *pc = c->pc;
	struct pg_prepared *s;

	if (pc->unprepared)
		return NULL;
	for (size_t i = 0; i < pc->nprep; i++)
		if (same_key(&pc->prep[i], c, sql))
			return strcmp(pc->prep[i].text, sql) == 0 ? pc->prep[i].name : NULL;
	if (pc->nprep == PG_PREPARED_MAX)
		return NULL;
	s = &pc->prep[pc->nprep];
	if ((s->text = strdup(sql)) == NULL) {
		c->r = A11_ERR_NOMEM;
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "a11_%zu", pc->nprep);
	PQclear(c->res);
	c->res = PQprepare(pc->db, s->name, sql, c->n, c->types);
	if (PQresultStatus(c->res) != PGRES_COMMAND_OK) {
		free(s->text);
		c->r = fail(c, what);
		return NULL;
	}
	s->sql = sql;
	s->n = c->n;
	memcpy(s->types, c->types, sizeof(Oid) * (size_t)c->n);
	pc->nprep++;
	return s->name;
}

/* A statement this connection prepared is gone from the server
 * (26000), or a name it prepares exists there already (42P05): the
 * session is not the one that prepared it, as behind a proxy that pools
 * transactions. The connection prepares no more; the transaction runs
 * again. */
static void lost_prepared(struct pg_cur *c)
{
	const char *state = PQresultErrorField(c->res, PG_DIAG_SQLSTATE);

	if (state == NULL || (strcmp(state, "26000") != 0 && strcmp(state, "42P05") != 0))
		return;
	log_warn("PostgreSQL lost a statement this connection prepared (a transaction-pooling "
		 "proxy?): the connection runs its statements unprepared from now on");
	c->pc->unprepared = true;
	c->pc->retry = true;
}

a11_err pg_exec(struct pg_cur *c, const char *sql, const char *what, int *rows)
{
	ExecStatusType st;
	const char *name;

	*rows = 0;
	if (c->r != A11_OK)
		return c->r;
	if (c->pc->single && c->pc->ran++ > 0) {
		log_error("%s: a second statement outside a transaction (pg_one): refused", what);
		return c->r = A11_ERR_STORE;
	}
	name = prepared(c, sql, what);
	if (c->r != A11_OK) {
		lost_prepared(c);
		return c->r;
	}
	PQclear(c->res);
	c->res = name != NULL ? PQexecPrepared(c->pc->db, name, c->n, c->vals, c->lens, c->fmts, 1)
			      : PQexecParams(c->pc->db, sql, c->n, c->types, c->vals, c->lens,
					     c->fmts, 1);
	st = PQresultStatus(c->res);
	c->row = c->col = 0;
	if (st == PGRES_TUPLES_OK)
		*rows = PQntuples(c->res);
	else if (st == PGRES_COMMAND_OK)
		*rows = atoi(PQcmdTuples(c->res));
	else if ((c->r = fail(c, what)) != A11_OK && name != NULL)
		lost_prepared(c);
	c->n = 0;
	return c->r;
}

void pg_row(struct pg_cur *c, int i)
{
	c->row = i;
	c->col = 0;
}

/* ---- parameters ---------------------------------------------------------- */

static int param(struct pg_cur *c, Oid type)
{
	if (c->r != A11_OK)
		return -1;
	if (c->n == PG_PARAMS_MAX) {
		log_error("too many parameters: raise PG_PARAMS_MAX");
		c->r = A11_ERR_STORE;
		return -1;
	}
	c->types[c->n] = type;
	c->fmts[c->n] = 1;
	c->vals[c->n] = NULL;
	c->lens[c->n] = 0;
	return c->n++;
}

static void bind_bytes(struct pg_cur *c, Oid type, const void *p, size_t len)
{
	int i = param(c, type);

	if (i < 0 || p == NULL)
		return;
	if (len > INT32_MAX) {
		log_error("parameter of %zu bytes is too long", len);
		c->r = A11_ERR_STORE;
		return;
	}
	/* An empty value still needs a non-NULL pointer: NULL means SQL NULL. */
	c->vals[i] = len > 0 ? p : "";
	c->lens[i] = (int)len;
}

void pg_bind_text(struct pg_cur *c, const char *s)
{
	bind_bytes(c, OID_TEXT, s, s != NULL ? strlen(s) : 0);
}

void pg_bind_blob(struct pg_cur *c, const void *p, size_t len)
{
	bind_bytes(c, OID_BYTEA, p, len);
}

void pg_bind_i64(struct pg_cur *c, int64_t v)
{
	int i = param(c, OID_INT8);

	if (i < 0)
		return;
	for (int k = 0; k < 8; k++)
		c->ints[i][k] = (uint8_t)((uint64_t)v >> (56 - 8 * k));
	c->vals[i] = (const char *)c->ints[i];
	c->lens[i] = 8;
}

void pg_bind_bool(struct pg_cur *c, bool v)
{
	int i = param(c, OID_BOOL);

	if (i < 0)
		return;
	c->ints[i][0] = v ? 1 : 0;
	c->vals[i] = (const char *)c->ints[i];
	c->lens[i] = 1;
}

void pg_bind_null(struct pg_cur *c)
{
	(void)param(c, 0);
}

/* ---- columns ------------------------------------------------------------- */

static void bad_col(struct pg_cur *c, int i, const char *why)
{
	const char *name = PQfname(c->res, i);

	log_error("stored %s %s", name != NULL ? name : "column", why);
	c->r = A11_ERR_STORE;
}

/* The next column's value, if it has the type wanted: NULL for SQL NULL
 * (*ok true) or for a failure (*ok false, c->r set). */
static const char *col(struct pg_cur *c, Oid type, size_t *len, bool *ok)
{
	int i;

	*ok = false;
	*len = 0;
	if (c->r != A11_OK)
		return NULL;
	i = c->col++;
	if (c->res == NULL || i >= PQnfields(c->res) || c->row >= PQntuples(c->res)) {
		log_error("reading past the last column or row");
		c->r = A11_ERR_STORE;
		return NULL;
	}
	if (PQftype(c->res, i) != type || PQfformat(c->res, i) != 1) {
		bad_col(c, i, "has the wrong type");
		return NULL;
	}
	*ok = true;
	if (PQgetisnull(c->res, c->row, i))
		return NULL;
	*len = (size_t)PQgetlength(c->res, c->row, i);
	return PQgetvalue(c->res, c->row, i);
}

bool pg_is_null(struct pg_cur *c)
{
	return c->r == A11_OK && c->res != NULL && c->col < PQnfields(c->res) &&
	       c->row < PQntuples(c->res) && PQgetisnull(c->res, c->row, c->col);
}

/* A text column's bytes; a NUL in them (which PostgreSQL's text cannot
 * hold, so never from this code) is refused all the same: C would cut
 * it, and the audit hash with it. */
static const char *col_text(struct pg_cur *c, size_t *len, bool *ok)
{
	const char *p = col(c, OID_TEXT, len, ok);

	if (p != NULL && memchr(p, '\0', *len) != NULL) {
		bad_col(c, c->col - 1, "holds a NUL byte");
		*ok = false;
		return NULL;
	}
	return p;
}

void pg_get_text(struct pg_cur *c, char *dst, size_t cap)
{
	size_t len;
	bool ok;
	const char *p = col_text(c, &len, &ok);

	if (!ok)
		return;
	if (p == NULL || len >= cap) {
		bad_col(c, c->col - 1, p == NULL ? "is NULL" : "is too long");
		return;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
}

static void dup_bytes(struct pg_cur *c, const char *p, size_t len, size_t extra, void **dst)
{
	*dst = malloc(len + extra);
	if (*dst == NULL) {
		c->r = A11_ERR_NOMEM;
		return;
	}
	memcpy(*dst, p, len);
	memset((uint8_t *)*dst + len, 0, extra);
}

void pg_get_strdup(struct pg_cur *c, char **dst)
{
	size_t len;
	bool ok;
	const char *p = col_text(c, &len, &ok);

	*dst = NULL;
	if (ok && p != NULL)
		dup_bytes(c, p, len, 1, (void **)dst);
}

void pg_get_fixed(struct pg_cur *c, uint8_t *dst, size_t len)
{
	size_t n;
	bool ok;
	const char *p = col(c, OID_BYTEA, &n, &ok);

	if (!ok)
		return;
	if (p == NULL || n != len) {
		bad_col(c, c->col - 1, "has the wrong size");
		return;
	}
	memcpy(dst, p, len);
}

void pg_get_blobdup(struct pg_cur *c, uint8_t **dst, size_t *len)
{
	size_t n;
	bool ok;
	const char *p = col(c, OID_BYTEA, &n, &ok);

	*dst = NULL;
	*len = 0;
	if (!ok || p == NULL || n == 0)
		return;
	dup_bytes(c, p, n, 0, (void **)dst);
	if (c->r == A11_OK)
		*len = n;
}

void pg_get_i64(struct pg_cur *c, int64_t *v)
{
	size_t n;
	bool ok;
	const char *p = col(c, OID_INT8, &n, &ok);
	uint64_t x = 0;

	*v = 0;
	if (!ok)
		return;
	if (p == NULL || n != 8) {
		bad_col(c, c->col - 1, "is not an integer");
		return;
	}
	for (int k = 0; k < 8; k++)
		x = x << 8 | (uint8_t)p[k];
	*v = (int64_t)x;
}

void pg_get_u32(struct pg_cur *c, uint32_t *v)
{
	int64_t x;

	*v = 0;
	pg_get_i64(c, &x);
	if (c->r != A11_OK)
		return;
	if (x < 0 || x > UINT32_MAX) {
		bad_col(c, c->col - 1, "is out of range");
		return;
	}
	*v = (uint32_t)x;
}

void pg_get_bool(struct pg_cur *c, bool *v)
{
	size_t n;
	bool ok;
	const char *p = col(c, OID_BOOL, &n, &ok);

	*v = false;
	if (!ok)
		return;
	if (p == NULL || n != 1 || (p[0] != 0 && p[0] != 1)) {
		bad_col(c, c->col - 1, "is not a boolean");
		return;
	}
	*v = p[0] == 1;
}
