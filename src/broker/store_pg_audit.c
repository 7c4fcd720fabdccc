/* PostgreSQL backend: the append-only, hash-chained audit log. The chain
 * itself (what is hashed) is store.c's; this file only keeps the rows. */
#include <string.h>

#include "../common/log.h"
#include "store_pg.h"

/* Appends from every replica form one chain: EXCLUSIVE mode conflicts
 * with itself, so appenders take turns from here to their commit, while
 * readers (ACCESS SHARE: audit_iter, verify) go on. Under READ COMMITTED
 * the read of the last record after the lock sees every append that
 * committed before it. */
static const char sql_lock[] = "LOCK TABLE audit IN EXCLUSIVE MODE";
static const char sql_last[] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
static const char sql_insert[] =
	"INSERT INTO audit (seq, time, event, code, credential, ek_hash, ak_name, pcr_digest,"
	" ar_digest, policy_version, lease, cert_serial, prev_hash, hash)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
/* Read in pages by seq, inside one snapshot: a log of years need not fit
 * in memory at once. */
#define AUDIT_PAGE "500"
static const char sql_page[] =
	"SELECT seq, time, event, code, credential, ek_hash, ak_name, pcr_digest, ar_digest,"
	" policy_version, lease, cert_serial, prev_hash, hash FROM audit WHERE seq > $1"
	" ORDER BY seq LIMIT " AUDIT_PAGE;

/* Links rec to the last record (after the lock). */
static a11_err link_last(struct pg_cur *c, struct store_audit *rec)
{
	uint8_t prev_hash[32];
	int64_t prev_seq = 0;
	int rows;
	a11_err r = pg_exec(c, sql_lock, "audit lock", &rows);

	if (r == A11_OK)
		r = pg_exec(c, sql_last, "audit head", &rows);
	if (r != A11_OK)
		return r;
	if (rows == 1) {
		pg_get_i64(c, &prev_seq);
		pg_get_fixed(c, prev_hash, sizeof(prev_hash));
		if ((r = c->r) != A11_OK)
			return r;
	}
	return store_audit_link(rec, prev_seq, rows == 1 ? prev_hash : NULL);
}

static a11_err insert(struct pg_cur *c, const struct store_audit *rec)
{
	int rows;

	pg_bind_i64(c, rec->seq);
	pg_bind_i64(c, rec->time);
	pg_bind_text(c, rec->event);
	pg_bind_text(c, rec->code);
	pg_bind_text(c, rec->credential);
	pg_bind_text(c, rec->ek_hash);
	pg_bind_text(c, rec->ak_name);
	pg_bind_text(c, rec->pcr_digest);
	pg_bind_text(c, rec->ar_digest);
	pg_bind_i64(c, rec->policy_version);
	pg_bind_text(c, rec->lease);
	pg_bind_text(c, rec->cert_serial);
	pg_bind_blob(c, rec->prev_hash, sizeof(rec->prev_hash));
	pg_bind_blob(c, rec->hash, sizeof(rec->hash));
	return pg_exec(c, sql_insert, "audit append", &rows);
}

/* Links and inserts a copy: the caller's record gets seq and hashes once
 * its transaction commits. */
a11_err pg_audit_append_tx(void *tx, const struct store_audit *rec, struct store_audit *linked)
{
	struct pg_cur c;
	a11_err r;

	*linked = *rec;
	pg_start(&c, tx);
	r = link_last(&c, linked);
	if (r == A11_OK)
		r = insert(&c, linked);
	pg_clear(&c);
	return r;
}

struct append_op {
	struct store_audit *rec, linked;
};

static a11_err append_tx(struct pg_conn *pc, void *arg)
{
	struct append_op *op = arg;

	return pg_audit_append_tx(pc, op->rec, &op->linked);
}

a11_err pg_audit_append(void *impl, struct store_audit *rec)
{
	struct append_op op = { .rec = rec };
	a11_err r = pg_tx(impl, true, append_tx, &op);

	if (r == A11_OK)
		*rec = op.linked;
	return r;
}

static a11_err read_audit(struct pg_cur *c, struct store_audit *out)
{
	pg_get_i64(c, &out->seq);
	pg_get_i64(c, &out->time);
	pg_get_text(c, out->event, sizeof(out->event));
	pg_get_text(c, out->code, sizeof(out->code));
	pg_get_text(c, out->credential, sizeof(out->credential));
	pg_get_text(c, out->ek_hash, sizeof(out->ek_hash));
	pg_get_text(c, out->ak_name, sizeof(out->ak_name));
	pg_get_text(c, out->pcr_digest, sizeof(out->pcr_digest));
	pg_get_text(c, out->ar_digest, sizeof(out->ar_digest));
	pg_get_i64(c, &out->policy_version);
	pg_get_text(c, out->lease, sizeof(out->lease));
	pg_get_text(c, out->cert_serial, sizeof(out->cert_serial));
	pg_get_fixed(c, out->prev_hash, sizeof(out->prev_hash));
	pg_get_fixed(c, out->hash, sizeof(out->hash));
	return c->r;
}

struct iter_op {
	store_audit_fn fn;
	void *arg;
	int64_t *bad_seq;
	int64_t after;                  /* the last seq read */
	bool stop;
};

/* One page's rows to fn. A row this code could not have written is
 * tampering: A11_ERR_AUDIT at its seq (a BIGINT key, read first). */
static a11_err iter_rows(struct pg_cur *c, int rows, struct iter_op *op)
{
	struct store_audit rec;
	a11_err r = A11_OK;

	for (int i = 0; r == A11_OK && i < rows && !op->stop; i++) {
		memset(&rec, 0, sizeof(rec));
		pg_row(c, i);
		r = read_audit(c, &rec);
		if (r == A11_ERR_STORE) {
			log_error("audit record %lld is malformed", (long long)rec.seq);
			*op->bad_seq = rec.seq;
			return A11_ERR_AUDIT;
		}
		op->after = rec.seq;
		op->stop = r == A11_OK && op->fn(&rec, op->arg) != 0;
	}
	return r;
}

/* One snapshot (REPEATABLE READ, pg_tx): the walk sees one consistent
 * log while appends go on. */
static a11_err iter_tx(struct pg_conn *pc, void *arg)
{
	struct iter_op *op = arg;
	struct pg_cur c;
	int rows = 1;
	a11_err r = A11_OK;

	pg_start(&c, pc);
	while (r == A11_OK && rows > 0 && !op->stop) {
		pg_bind_i64(&c, op->after);
		r = pg_exec(&c, sql_page, "audit read", &rows);
		if (r == A11_OK)
			r = iter_rows(&c, rows, op);
	}
	pg_clear(&c);
	return r;
}

a11_err pg_audit_iter(void *impl, store_audit_fn fn, void *arg, int64_t *bad_seq)
{
	/* From the lowest BIGINT: a row with a seq store_audit_link never
	 * writes (zero, negative) is still shown to the walk, which reports it. */
	struct iter_op op = { .fn = fn, .arg = arg, .bad_seq = bad_seq, .after = INT64_MIN };

	return pg_tx(impl, false, iter_tx, &op);
}
