/* SQLite backend: errors, transactions, the statement cache, and cursors
 * that bind parameters and read columns with every sqlite3_* result
 * checked. The locking model is explained in store_sqlite.c. */
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "store_sqlite.h"

/* ---- errors, transactions, statements ---------------------------------- */

a11_err sq_fail(struct sq *q, const char *what, int rc)
{
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
		log_info("%s: %s", what, sqlite3_errmsg(q->db));
		return A11_ERR_EXISTS;
	}
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		log_info("%s: %s (no such credential)", what, sqlite3_errmsg(q->db));
		return A11_ERR_NOT_FOUND;
	}
	/* Another process holds the lock past what the busy handler waits:
	 * the request is refused as store_busy and retried later. */
	if ((rc & 0xff) == SQLITE_BUSY) {
		log_warn("%s: database locked by another process", what);
		return A11_ERR_BUSY;
	}
	log_error("%s: %s (%s)", what, sqlite3_errmsg(q->db), sqlite3_errstr(rc));
	return A11_ERR_STORE;
}

/* Steps one of the transaction-control statements and makes it reusable.
 * The reset repeats the step's error, which is already reported. */
static a11_err tx_step(struct sq *q, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	a11_err r = rc == SQLITE_DONE ? A11_OK : sq_fail(q, what, rc);

	(void)sqlite3_reset(st);
	return r;
}

a11_err sq_tx_begin(struct sq *q, bool write, bool lazy)
{
	a11_err r = A11_OK;
	int e;

	/* Outside a transaction, and compiled afresh: a pragma acts when it is
	 * prepared, so a cached statement would not switch it reliably. */
	if (write && lazy != q->lazy) {
		e = sqlite3_exec(q->db, lazy ? "PRAGMA synchronous = NORMAL"
					     : "PRAGMA synchronous = FULL", NULL, NULL, NULL);
		r = e == SQLITE_OK ? A11_OK : sq_fail(q, "synchronous", e);
		if (r == A11_OK)
			q->lazy = lazy;
	}
	if (r == A11_OK)
		r = tx_step(q, write ? q->begin_write : q->begin_read, "begin");
	return r;
}

a11_err sq_tx_end(struct sq *q, a11_err r)
{
	/* Reset first: a statement left mid-rows would keep its read snapshot
	 * past the commit, and its bindings would point at caller memory. Both
	 * calls only repeat errors already reported. */
	for (size_t i = 0; i < q->ncache; i++) {
		if (!q->cache[i].used)
			continue;
		(void)sqlite3_reset(q->cache[i].st);
		(void)sqlite3_clear_bindings(q->cache[i].st);
		q->cache[i].used = false;
	}
	if (r == A11_OK)
		r = tx_step(q, q->commit, "commit");
	/* A failed statement may already have ended the transaction. */
	if (r != A11_OK && !sqlite3_get_autocommit(q->db))
		(void)tx_step(q, q->rollback, "rollback");
	return r;
}

a11_err sq_prep(struct sq *q, const char *sql, struct sq_cur *c)
{
	size_t i;
	int rc;

	for (i = 0; i < q->ncache && q->cache[i].sql != sql; i++)
		;
	if (i == q->ncache) {
		if (i == SQ_CACHE_MAX) {
			log_error("statement cache full: raise SQ_CACHE_MAX");
			return A11_ERR_STORE;
		}
		rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->cache[i].st,
					NULL);
		if (rc != SQLITE_OK)
			return sq_fail(q, "prepare", rc);
		q->cache[i].sql = sql;
		q->ncache++;
	} else if (q->cache[i].used) {
		/* Second use in one transaction: start it over. */
		(void)sqlite3_reset(q->cache[i].st);
		(void)sqlite3_clear_bindings(q->cache[i].st);
	}
	q->cache[i].used = true;
	*c = (struct sq_cur){ .q = q, .st = q->cache[i].st, .n = 0, .r = A11_OK };
	return A11_OK;
}

a11_err sq_step(struct sq_cur *c, const char *what, bool *row)
{
	int rc;

	*row = false;
	if (c->r != A11_OK)
		return c->r;
	rc = sqlite3_step(c->st);
	c->n = 0;
	*row = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		c->r = sq_fail(c->q, what, rc);
	return c->r;
}

a11_err sq_run(struct sq_cur *c, const char *what)
{
	int rc;

	if (c->r != A11_OK)
		return c->r;
	rc = sqlite3_step(c->st);
	if (rc != SQLITE_DONE)
		c->r = sq_fail(c->q, what, rc);
	return c->r;
}

int sq_changes(struct sq *q)
{
	return sqlite3_changes(q->db);
}

/* ---- cursors ----------------------------------------------------------- */

static bool cur_next(struct sq_cur *c, int *i)
{
	if (c->r != A11_OK)
		return false;
	*i = c->n++;
	return true;
}

static void bind_done(struct sq_cur *c, int rc)
{
	if (rc != SQLITE_OK)
		c->r = sq_fail(c->q, "bind", rc);
}

void sq_bind_text(struct sq_cur *c, const char *s)
{
	int i;

	if (!cur_next(c, &i))
		return;
	/* STATIC: sq_end clears the bindings before the caller's data goes. */
	bind_done(c, s == NULL ? sqlite3_bind_null(c->st, i + 1) :
		  sqlite3_bind_text64(c->st, i + 1, s, strlen(s), SQLITE_STATIC, SQLITE_UTF8));
}

void sq_bind_blob(struct sq_cur *c, const void *p, size_t len)
{
	int i;

	if (!cur_next(c, &i))
		return;
	bind_done(c, p == NULL ? sqlite3_bind_null(c->st, i + 1) :
		  sqlite3_bind_blob64(c->st, i + 1, p, len, SQLITE_STATIC));
}

void sq_bind_i64(struct sq_cur *c, int64_t v)
{
	int i;

	if (cur_next(c, &i))
		bind_done(c, sqlite3_bind_int64(c->st, i + 1, v));
}

static void bad_col(struct sq_cur *c, int i, const char *why)
{
	const char *name = sqlite3_column_name(c->st, i);

	log_error("stored %s %s", name != NULL ? name : "column", why);
	c->r = A11_ERR_STORE;
}

/* The column's text, NULL for SQL NULL; refused if it holds a NUL byte,
 * which C would silently cut (and the audit hash with it). */
static const char *col_text(struct sq_cur *c, int i, size_t *len)
{
	const unsigned char *p;
	int type = sqlite3_column_type(c->st, i);

	if (type == SQLITE_NULL)
		return NULL;
	if (type != SQLITE_TEXT) {
		bad_col(c, i, "is not text");
		return NULL;
	}
	p = sqlite3_column_text(c->st, i);
	*len = (size_t)sqlite3_column_bytes(c->st, i);
	if (p == NULL && *len == 0)
		return "";
	if (p == NULL) {
		c->r = A11_ERR_NOMEM;
		return NULL;
	}
	if (memchr(p, '\0', *len) != NULL) {
		bad_col(c, i, "holds a NUL byte");
		return NULL;
	}
	return (const char *)p;
}

void sq_get_text(struct sq_cur *c, char *dst, size_t cap)
{
	const char *p;
	size_t len = 0;
	int i;

	if (!cur_next(c, &i))
		return;
	p = col_text(c, i, &len);
	if (c->r != A11_OK)
		return;
	if (p == NULL || len >= cap) {
		bad_col(c, i, p == NULL ? "is NULL" : "is too long");
		return;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
}

void sq_get_strdup(struct sq_cur *c, char **dst)
{
	const char *p;
	size_t len = 0;
	int i;

	*dst = NULL;
	if (!cur_next(c, &i))
		return;
	p = col_text(c, i, &len);
	if (p == NULL || c->r != A11_OK)
		return;
	*dst = malloc(len + 1);
	if (*dst == NULL) {
		c->r = A11_ERR_NOMEM;
		return;
	}
	memcpy(*dst, p, len);
	(*dst)[len] = '\0';
}

/* The column's blob and length; NULL with *ok false if it is not one. */
static const void *col_blob(struct sq_cur *c, int i, size_t *len, bool *ok)
{
	const void *p;

	*ok = sqlite3_column_type(c->st, i) == SQLITE_BLOB;
	if (!*ok)
		return NULL;
	p = sqlite3_column_blob(c->st, i);
	*len = (size_t)sqlite3_column_bytes(c->st, i);
	if (p == NULL && *len != 0)
		c->r = A11_ERR_NOMEM;
	return p;
}

void sq_get_fixed(struct sq_cur *c, uint8_t *dst, size_t len)
{
	const void *p;
	size_t n = 0;
	bool ok;
	int i;

	if (!cur_next(c, &i))
		return;
	p = col_blob(c, i, &n, &ok);
	if (c->r != A11_OK)
		return;
	if (!ok || n != len) {
		bad_col(c, i, "has the wrong type or size");
		return;
	}
	memcpy(dst, p, len);
}

void sq_get_blobdup(struct sq_cur *c, uint8_t **dst, size_t *len)
{
	const void *p;
	size_t n = 0;
	bool ok;
	int i;

	*dst = NULL;
	*len = 0;
	if (!cur_next(c, &i))
		return;
	if (sqlite3_column_type(c->st, i) == SQLITE_NULL)
		return;
	p = col_blob(c, i, &n, &ok);
	if (!ok)
		bad_col(c, i, "is not a blob");
	if (c->r != A11_OK || n == 0)
		return;
	*dst = malloc(n);
	if (*dst == NULL) {
		c->r = A11_ERR_NOMEM;
		return;
	}
	memcpy(*dst, p, n);
	*len = n;
}

void sq_get_i64(struct sq_cur *c, int64_t *v)
{
	int i;

	*v = 0;
	if (!cur_next(c, &i))
		return;
	if (sqlite3_column_type(c->st, i) != SQLITE_INTEGER) {
		bad_col(c, i, "is not an integer");
		return;
	}
	*v = sqlite3_column_int64(c->st, i);
}

void sq_get_u32(struct sq_cur *c, uint32_t *v)
{
	int64_t x;

	*v = 0;
	sq_get_i64(c, &x);
	if (c->r != A11_OK)
		return;
	if (x < 0 || x > UINT32_MAX) {
		bad_col(c, c->n - 1, "is out of range");
		return;
	}
	*v = (uint32_t)x;
}

void sq_get_bool(struct sq_cur *c, bool *v)
{
	int64_t x;

	*v = false;
	sq_get_i64(c, &x);
	if (c->r != A11_OK)
		return;
	if (x != 0 && x != 1) {
		bad_col(c, c->n - 1, "is not 0 or 1");
		return;
	}
	*v = x == 1;
}
