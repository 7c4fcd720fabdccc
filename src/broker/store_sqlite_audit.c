/* SQLite backend: the append-only, hash-chained audit log. The chain
 * itself (what is hashed) is store.c's; this file only keeps the rows. */
#include <string.h>

#include "../common/log.h"
#include "store_sqlite.h"

static const char sql_last[] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
static const char sql_insert[] =
	"INSERT INTO audit (seq, time, event, code, credential, ek_hash, ak_name, pcr_digest,"
	" ar_digest, policy_version, lease, cert_serial, prev_hash, hash)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
static const char sql_all[] =
	"SELECT seq, time, event, code, credential, ek_hash, ak_name, pcr_digest, ar_digest,"
	" policy_version, lease, cert_serial, prev_hash, hash FROM audit ORDER BY seq";

/* Links rec to the last record. */
static a11_err link_last(struct sq *q, struct store_audit *rec)
{
	uint8_t prev_hash[32];
	int64_t prev_seq = 0;
	struct sq_cur c;
	bool row;
	a11_err r = sq_prep(q, sql_last, &c);

	if (r != A11_OK)
		return r;
	if ((r = sq_step(&c, "audit head", &row)) != A11_OK)
		return r;
	if (row) {
		sq_get_i64(&c, &prev_seq);
		sq_get_fixed(&c, prev_hash, sizeof(prev_hash));
		if ((r = c.r) != A11_OK)
			return r;
	}
	return store_audit_link(rec, prev_seq, row ? prev_hash : NULL);
}

static a11_err insert(struct sq *q, const struct store_audit *rec)
{
	struct sq_cur c;
	a11_err r = sq_prep(q, sql_insert, &c);

	if (r != A11_OK)
		return r;
	sq_bind_i64(&c, rec->seq);
	sq_bind_i64(&c, rec->time);
	sq_bind_text(&c, rec->event);
	sq_bind_text(&c, rec->code);
	sq_bind_text(&c, rec->credential);
	sq_bind_text(&c, rec->ek_hash);
	sq_bind_text(&c, rec->ak_name);
	sq_bind_text(&c, rec->pcr_digest);
	sq_bind_text(&c, rec->ar_digest);
	sq_bind_i64(&c, rec->policy_version);
	sq_bind_text(&c, rec->lease);
	sq_bind_text(&c, rec->cert_serial);
	sq_bind_blob(&c, rec->prev_hash, sizeof(rec->prev_hash));
	sq_bind_blob(&c, rec->hash, sizeof(rec->hash));
	return sq_run(&c, "audit append");
}

/* Inside a write transaction (BEGIN IMMEDIATE: no other appender can
 * read the same last record). Links and inserts a copy: the caller's
 * record gets seq and hashes once its transaction commits. */
a11_err sq_audit_append_tx(struct sq *q, const struct store_audit *rec, struct store_audit *linked)
{
	a11_err r;

	*linked = *rec;
	if ((r = link_last(q, linked)) != A11_OK)
		return r;
	return insert(q, linked);
}

a11_err sq_audit_append(void *impl, struct store_audit *rec)
{
	struct sq *q = NULL;
	struct store_audit tmp;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	r = sq_end(q, sq_audit_append_tx(q, rec, &tmp));
	if (r == A11_OK)
		*rec = tmp;
	return r;
}

static a11_err read_audit(struct sq_cur *c, struct store_audit *out)
{
	sq_get_i64(c, &out->seq);
	sq_get_i64(c, &out->time);
	sq_get_text(c, out->event, sizeof(out->event));
	sq_get_text(c, out->code, sizeof(out->code));
	sq_get_text(c, out->credential, sizeof(out->credential));
	sq_get_text(c, out->ek_hash, sizeof(out->ek_hash));
	sq_get_text(c, out->ak_name, sizeof(out->ak_name));
	sq_get_text(c, out->pcr_digest, sizeof(out->pcr_digest));
	sq_get_text(c, out->ar_digest, sizeof(out->ar_digest));
	sq_get_i64(c, &out->policy_version);
	sq_get_text(c, out->lease, sizeof(out->lease));
	sq_get_text(c, out->cert_serial, sizeof(out->cert_serial));
	sq_get_fixed(c, out->prev_hash, sizeof(out->prev_hash));
	sq_get_fixed(c, out->hash, sizeof(out->hash));
	return c->r;
}

/* One read transaction, so the walk sees one consistent log while
 * appends wait (in this process) or go on in the WAL (in others). A row
 * this code could not have written is tampering: A11_ERR_AUDIT at its
 * seq (seq is the rowid, always an integer, so it is read first). */
a11_err sq_audit_iter(void *impl, store_audit_fn fn, void *arg, int64_t *bad_seq)
{
	struct sq *q = NULL;
	struct store_audit rec;
	struct sq_cur c;
	bool row = true;
	a11_err r = sq_begin(impl, false, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_all, &c)) != A11_OK)
		goto out;
	while (r == A11_OK && row) {
		memset(&rec, 0, sizeof(rec));
		if ((r = sq_step(&c, "audit read", &row)) != A11_OK || !row)
			break;
		r = read_audit(&c, &rec);
		if (r == A11_ERR_STORE) {
			log_error("audit record %lld is malformed", (long long)rec.seq);
			*bad_seq = rec.seq;
			r = A11_ERR_AUDIT;
		}
		if (r == A11_OK && fn(&rec, arg) != 0)
			break;
	}
out:
	return sq_end(q, r);
}
