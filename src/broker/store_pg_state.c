/* PostgreSQL backend: challenge sessions, leases and per-TPM clock
 * counters. */
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "store_pg.h"

/* What an operation's transaction body needs; each uses a few members. */
struct state_op {
	const char *id;
	int64_t when;
	const struct store_session *ss_in;
	struct store_session *ss_out;
	a11_err verdict;                /* of a take: kept apart from the commit */
	struct store_lease *lease;
	store_lease_fn fn;
	void *arg;
	const uint8_t *ek_hash;
	struct store_tpm *tpm;
	bool *known;
};

/* ---- sessions ------------------------------------------------------------ */

/* The counters seen at the challenge, NULL for a TPM never seen. The
 * clock is a u64 kept in the signed BIGINT: the bits go through
 * unchanged both ways. */
static void bind_seen(struct pg_cur *c, const struct store_session *ss)
{
	if (!ss->seen_known) {
		for (int i = 0; i < 3; i++)
			pg_bind_null(c);
		return;
	}
	pg_bind_i64(c, ss->seen_reset_count);
	pg_bind_i64(c, ss->seen_restart_count);
	pg_bind_i64(c, (int64_t)ss->seen_clock);
}

static void get_seen(struct pg_cur *c, struct store_session *out)
{
	int64_t clock = 0;

	out->seen_known = !pg_is_null(c);
	if (!out->seen_known) {
		c->col += 3;
		return;
	}
	pg_get_u32(c, &out->seen_reset_count);
	pg_get_u32(c, &out->seen_restart_count);
	pg_get_i64(c, &clock);
	out->seen_clock = (uint64_t)clock;
}

/* A plain INSERT: a second session with the same id is A11_ERR_EXISTS,
 * never a reset of one that may already be used. */
static const char sql_session_put[] =
	"INSERT INTO sessions (id, credential, lease, nonce, secret_hash, ek_cert, ek_public,"
	" ak_public, expires, policy_ref, seen_reset, seen_restart, seen_clock)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

static a11_err session_put_tx(struct pg_conn *pc, void *arg)
{
	const struct store_session *ss = ((struct state_op *)arg)->ss_in;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, ss->id);
	pg_bind_text(&c, ss->credential);
	pg_bind_text(&c, ss->lease);
	pg_bind_blob(&c, ss->nonce, sizeof(ss->nonce));
	pg_bind_blob(&c, ss->secret_hash, sizeof(ss->secret_hash));
	pg_bind_blob(&c, ss->ek_cert, ss->ek_cert_len);
	pg_bind_blob(&c, ss->ek_public, ss->ek_public_len);
	pg_bind_blob(&c, ss->ak_public, ss->ak_public_len);
	pg_bind_i64(&c, ss->expires);
	pg_bind_blob(&c, ss->policy_ref, sizeof(ss->policy_ref));
	bind_seen(&c, ss);
	r = pg_exec(&c, sql_session_put, "session put", &rows);
	pg_clear(&c);
	return r;
}

a11_err pg_session_put(void *impl, const struct store_session *ss)
{
	struct state_op op = { .ss_in = ss };

	return pg_one(impl, session_put_tx, &op);
}

/* Single use across replicas: the UPDATE takes the row's lock, and a
 * second taker (on any replica) waits for it, re-reads the row and finds
 * it used: no row comes back. Expiry is judged after the mark, so an
 * expired session is used up too. */
static const char sql_session_take[] =
	"UPDATE sessions SET used = true WHERE id = $1 AND NOT used RETURNING"
	" id, credential, lease, nonce, secret_hash, ek_cert, ek_public, ak_public,"
	" expires, policy_ref, seen_reset, seen_restart, seen_clock";
static const char sql_session_exists[] = "SELECT used FROM sessions WHERE id = $1";

static a11_err read_session(struct pg_cur *c, struct store_session *out)
{
	pg_get_text(c, out->id, sizeof(out->id));
	pg_get_text(c, out->credential, sizeof(out->credential));
	pg_get_text(c, out->lease, sizeof(out->lease));
	pg_get_fixed(c, out->nonce, sizeof(out->nonce));
	pg_get_fixed(c, out->secret_hash, sizeof(out->secret_hash));
	pg_get_blobdup(c, &out->ek_cert, &out->ek_cert_len);
	pg_get_blobdup(c, &out->ek_public, &out->ek_public_len);
	pg_get_blobdup(c, &out->ak_public, &out->ak_public_len);
	pg_get_i64(c, &out->expires);
	pg_get_fixed(c, out->policy_ref, sizeof(out->policy_ref));
	get_seen(c, out);
	return c->r;
}

/* op->verdict A11_ERR_REUSED if no row came back (session_exists_tx
 * tells which). */
static a11_err session_take_tx(struct pg_conn *pc, void *arg)
{
	struct state_op *op = arg;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, op->id);
	r = pg_exec(&c, sql_session_take, "session take", &rows);
	if (r == A11_OK && rows == 1 && (r = read_session(&c, op->ss_out)) == A11_OK)
		op->verdict = op->when > op->ss_out->expires ? A11_ERR_EXPIRED : A11_OK;
	if (r == A11_OK && rows == 0)
		op->verdict = A11_ERR_REUSED;
	pg_clear(&c);
	return r;
}

static a11_err session_exists_tx(struct pg_conn *pc, void *arg)
{
	struct state_op *op = arg;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, op->id);
	r = pg_exec(&c, sql_session_exists, "session get", &rows);
	if (r == A11_OK && rows == 0)
		op->verdict = A11_ERR_NOT_FOUND;
	pg_clear(&c);
	return r;
}

/* The UPDATE alone decides (one statement, atomic); a refusal then asks
 * whether the session exists, only to name the refusal: reused, or
 * unknown (never issued, or pruned after it expired). */
a11_err pg_session_take(void *impl, const char *id, int64_t now, struct store_session *out)
{
	struct state_op op = { .id = id, .when = now, .ss_out = out, .verdict = A11_OK };
	a11_err r = pg_one(impl, session_take_tx, &op);

	if (r == A11_OK && op.verdict == A11_ERR_REUSED)
		r = pg_one(impl, session_exists_tx, &op);

	if (r == A11_OK)
		r = op.verdict;
	if (r != A11_OK)
		store_session_clear(out);
	return r;
}

/* Used sessions stay until they expire, so that a replay within the
 * lifetime is reported as a reuse, not as an unknown session. */
static a11_err session_prune_tx(struct pg_conn *pc, void *arg)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_i64(&c, ((struct state_op *)arg)->when);
	r = pg_exec(&c, "DELETE FROM sessions WHERE expires < $1", "session prune", &rows);
	if (r == A11_OK)
		log_debug("pruned %d expired sessions", rows);
	pg_clear(&c);
	return r;
}

a11_err pg_session_prune(void *impl, int64_t before)
{
	struct state_op op = { .when = before };

	return pg_tx(impl, true, session_prune_tx, &op);
}

/* ---- leases -------------------------------------------------------------- */

/* A new lease is a plain INSERT: it never overwrites another. A renewal
 * moves the expiry (and the ca kind's certificate) of its lease and
 * nothing else: revocation, key and policyRef stay as they are. */
static const char sql_lease_insert[] =
	"INSERT INTO leases (id, credential, ek_hash, issued, expires, revoked, cert_serial,"
	" policy_ref, key_name, approver) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
static const char sql_lease_renew[] =
	"UPDATE leases SET expires = $2, cert_serial = $3 WHERE id = $1";
#define LEASE_COLUMNS "id, credential, ek_hash, issued, expires, revoked, cert_serial," \
	" policy_ref, key_name, approver"
static const char sql_lease_get[] = "SELECT " LEASE_COLUMNS " FROM leases WHERE id = $1";
/* The verdict's read of a renewal's lease: a revocation on any replica
 * either committed before (and is read here) or waits for this verdict. */
static const char sql_lease_lock[] =
	"SELECT " LEASE_COLUMNS " FROM leases WHERE id = $1 FOR UPDATE";
static const char sql_lease_list[] =
	"SELECT " LEASE_COLUMNS " FROM leases ORDER BY issued, id";

a11_err pg_lease_put_tx(void *tx, const struct store_lease *l, bool renewal)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, tx);
	pg_bind_text(&c, l->id);
	if (renewal) {
		pg_bind_i64(&c, l->expires);
		pg_bind_text(&c, l->cert_serial);
		r = pg_exec(&c, sql_lease_renew, "lease renew", &rows);
		pg_clear(&c);
		return r;
	}
	pg_bind_text(&c, l->credential);
	pg_bind_blob(&c, l->ek_hash, sizeof(l->ek_hash));
	pg_bind_i64(&c, l->issued);
	pg_bind_i64(&c, l->expires);
	pg_bind_bool(&c, l->revoked);
	pg_bind_text(&c, l->cert_serial);
	pg_bind_blob(&c, l->policy_ref, sizeof(l->policy_ref));
	pg_bind_blob(&c, l->key_name_len ? l->key_name : NULL, l->key_name_len);
	pg_bind_blob(&c, l->approver_len ? l->approver : NULL, l->approver_len);
	r = pg_exec(&c, sql_lease_insert, "lease put", &rows);
	pg_clear(&c);
	return r;
}

static a11_err read_lease(struct pg_cur *c, struct store_lease *out)
{
	uint8_t *name = NULL;
	size_t len = 0;

	pg_get_text(c, out->id, sizeof(out->id));
	pg_get_text(c, out->credential, sizeof(out->credential));
	pg_get_fixed(c, out->ek_hash, sizeof(out->ek_hash));
	pg_get_i64(c, &out->issued);
	pg_get_i64(c, &out->expires);
	pg_get_bool(c, &out->revoked);
	pg_get_text(c, out->cert_serial, sizeof(out->cert_serial));
	pg_get_fixed(c, out->policy_ref, sizeof(out->policy_ref));
	pg_get_blobdup(c, &name, &len);
	if (c->r == A11_OK)
		c->r = store_lease_key_name(out, name, len);
	free(name);
	name = NULL;
	len = 0;
	pg_get_blobdup(c, &name, &len);
	if (c->r == A11_OK)
		c->r = store_lease_approver(out, name, len);
	free(name);
	return c->r;
}

static a11_err lease_read_one(void *tx, const char *sql, const char *id, struct store_lease *out)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, tx);
	pg_bind_text(&c, id);
	r = pg_exec(&c, sql, "lease get", &rows);
	if (r == A11_OK)
		r = rows == 1 ? read_lease(&c, out) : A11_ERR_NOT_FOUND;
	pg_clear(&c);
	return r;
}

a11_err pg_lease_lock_tx(void *tx, const char *id, struct store_lease *out)
{
	return lease_read_one(tx, sql_lease_lock, id, out);
}

static a11_err lease_get_tx(struct pg_conn *pc, void *arg)
{
	struct state_op *op = arg;

	return lease_read_one(pc, sql_lease_get, op->id, op->lease);
}

a11_err pg_lease_get(void *impl, const char *id, struct store_lease *out)
{
	struct state_op op = { .id = id, .lease = out };
	a11_err r = pg_one(impl, lease_get_tx, &op);

	if (r != A11_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* One result: a lease per host and credential, for an operator's list. */
static a11_err lease_list_tx(struct pg_conn *pc, void *arg)
{
	struct state_op *op = arg;
	struct store_lease l;
	struct pg_cur c;
	int rows = 0;
	a11_err r;

	pg_start(&c, pc);
	r = pg_exec(&c, sql_lease_list, "lease list", &rows);
	for (int i = 0; r == A11_OK && i < rows; i++) {
		memset(&l, 0, sizeof(l));
		pg_row(&c, i);
		if ((r = read_lease(&c, &l)) == A11_OK)
			op->fn(&l, op->arg);
	}
	pg_clear(&c);
	return r;
}

a11_err pg_lease_list(void *impl, store_lease_fn fn, void *arg)
{
	struct state_op op = { .fn = fn, .arg = arg };

	return pg_tx(impl, false, lease_list_tx, &op);
}

static a11_err lease_revoke_tx(struct pg_conn *pc, void *arg)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, ((struct state_op *)arg)->id);
	r = pg_exec(&c, "UPDATE leases SET revoked = true WHERE id = $1", "lease revoke", &rows);
	pg_clear(&c);
	return r == A11_OK && rows == 0 ? A11_ERR_NOT_FOUND : r;
}

a11_err pg_lease_revoke(void *impl, const char *id)
{
	struct state_op op = { .id = id };

	return pg_tx(impl, true, lease_revoke_tx, &op);
}

struct bind_op {
	const uint8_t *name;
	size_t *n;
};

static a11_err bind_approver_tx(struct pg_conn *pc, void *arg)
{
	struct bind_op *op = arg;
	struct pg_cur c;
	int rows = 0;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_blob(&c, op->name, 34);
	r = pg_exec(&c, "UPDATE leases SET approver = $1 WHERE approver IS NULL",
		    "lease bind approver", &rows);
	pg_clear(&c);
	*op->n = r == A11_OK ? (size_t)rows : 0;
	return r;
}

a11_err pg_lease_bind_approver(void *impl, const uint8_t name[34], size_t *n)
{
	struct bind_op op = { name, n };

	return pg_tx(impl, true, bind_approver_tx, &op);
}

/* ---- TPM clock counters -------------------------------------------------- */

static const char sql_tpm_get[] =
	"SELECT reset_count, restart_count, clock, last_seen FROM tpms WHERE ek_hash = $1";
static const char sql_tpm_lock[] =
	"SELECT reset_count, restart_count, clock, last_seen FROM tpms WHERE ek_hash = $1"
	" FOR UPDATE";
/* A TPM seen for the first time: of two replicas inserting at once, the
 * second waits for the first to commit and then inserts nothing. */
static const char sql_tpm_insert[] =
	"INSERT INTO tpms (ek_hash, reset_count, restart_count, clock, last_seen)"
	" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ek_hash) DO NOTHING";
static const char sql_tpm_update[] =
	"UPDATE tpms SET reset_count = $2, restart_count = $3, clock = $4, last_seen = $5"
	" WHERE ek_hash = $1";

static a11_err tpm_read(void *tx, const char *sql, const uint8_t ek_hash[32],
			struct store_tpm *out, bool *known)
{
	struct pg_cur c;
	int64_t clock = 0;
	int rows;
	a11_err r;

	pg_start(&c, tx);
	pg_bind_blob(&c, ek_hash, 32);
	r = pg_exec(&c, sql, "TPM get", &rows);
	if (r == A11_OK && rows == 1) {
		memcpy(out->ek_hash, ek_hash, 32);
		pg_get_u32(&c, &out->reset_count);
		pg_get_u32(&c, &out->restart_count);
		pg_get_i64(&c, &clock);
		pg_get_i64(&c, &out->last_seen);
		/* The u64 clock, bit for bit in the signed BIGINT. */
		out->clock = (uint64_t)clock;
		*known = (r = c.r) == A11_OK;
	}
	pg_clear(&c);
	return r;
}

static a11_err tpm_get_tx(struct pg_conn *pc, void *arg)
{
	struct state_op *op = arg;

	return tpm_read(pc, sql_tpm_get, op->ek_hash, op->tpm, op->known);
}

a11_err pg_tpm_get(void *impl, const uint8_t ek_hash[32], struct store_tpm *out, bool *known)
{
	struct state_op op = { .ek_hash = ek_hash, .tpm = out, .known = known };
	a11_err r = pg_one(impl, tpm_get_tx, &op);

	if (r != A11_OK) {
		memset(out, 0, sizeof(*out));
		*known = false;
	}
	return r;
}

static a11_err tpm_write(void *tx, const char *sql, const struct store_tpm *t, int *rows)
{
	struct pg_cur c;
	a11_err r;

	pg_start(&c, tx);
	pg_bind_blob(&c, t->ek_hash, sizeof(t->ek_hash));
	pg_bind_i64(&c, t->reset_count);
	pg_bind_i64(&c, t->restart_count);
	pg_bind_i64(&c, (int64_t)t->clock);
	pg_bind_i64(&c, t->last_seen);
	r = pg_exec(&c, sql, "TPM update", rows);
	pg_clear(&c);
	return r;
}

/* Quotes of one TPM may be appraised out of order, on any replica: the
 * counters only go up. Inserted if new, else raised under the row's
 * lock, compared by store_tpm_newer (the one rule, store.c). */
a11_err pg_tpm_raise_tx(void *tx, const struct store_tpm *t)
{
	struct store_tpm cur = { 0 };
	bool known = false;
	int rows = 0;
	a11_err r = tpm_write(tx, sql_tpm_insert, t, &rows);

	if (r != A11_OK || rows == 1)
		return r;
	r = tpm_read(tx, sql_tpm_lock, t->ek_hash, &cur, &known);
	if (r != A11_OK || (known && !store_tpm_newer(t, &cur)))
		return r;
	return tpm_write(tx, sql_tpm_update, t, &rows);
}
