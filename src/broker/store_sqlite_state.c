/* SQLite backend: challenge sessions, leases and per-TPM clock counters. */
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "store_sqlite.h"

/* ---- sessions ------------------------------------------------------------ */

/* The counters seen at the challenge, NULL for a TPM never seen. The
 * clock is a u64 kept in SQLite's signed 64-bit integer: the bits go
 * through unchanged both ways. */
static void bind_seen(struct sq_cur *c, const struct store_session *ss)
{
	if (!ss->seen_known) {
		sq_bind_blob(c, NULL, 0);
		sq_bind_blob(c, NULL, 0);
		sq_bind_blob(c, NULL, 0);
		return;
	}
	sq_bind_i64(c, ss->seen_reset_count);
	sq_bind_i64(c, ss->seen_restart_count);
	sq_bind_i64(c, (int64_t)ss->seen_clock);
}

static void get_seen(struct sq_cur *c, struct store_session *out)
{
	int64_t clock = 0;

	out->seen_known = sqlite3_column_type(c->st, c->n) != SQLITE_NULL;
	if (!out->seen_known) {
		c->n += 3;
		return;
	}
	sq_get_u32(c, &out->seen_reset_count);
	sq_get_u32(c, &out->seen_restart_count);
	sq_get_i64(c, &clock);
	out->seen_clock = (uint64_t)clock;
}

static const char sql_session_put[] =
	"INSERT INTO sessions (id, credential, lease, nonce, secret_hash, ek_cert, ek_public,"
	" ak_public, expires, policy_ref, seen_reset, seen_restart, seen_clock, used)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0)";

/* A plain INSERT: a second session with the same id is A11_ERR_EXISTS,
 * never a reset of one that may already be used. */
a11_err sq_session_put(void *impl, const struct store_session *ss)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin_lazy(impl, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_session_put, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, ss->id);
	sq_bind_text(&c, ss->credential);
	sq_bind_text(&c, ss->lease);
	sq_bind_blob(&c, ss->nonce, sizeof(ss->nonce));
	sq_bind_blob(&c, ss->secret_hash, sizeof(ss->secret_hash));
	sq_bind_blob(&c, ss->ek_cert, ss->ek_cert_len);
	sq_bind_blob(&c, ss->ek_public, ss->ek_public_len);
	sq_bind_blob(&c, ss->ak_public, ss->ak_public_len);
	sq_bind_i64(&c, ss->expires);
	sq_bind_blob(&c, ss->policy_ref, sizeof(ss->policy_ref));
	bind_seen(&c, ss);
	r = sq_run(&c, "session put");
out:
	return sq_end(q, r);
}

static const char sql_session_get[] =
	"SELECT id, credential, lease, nonce, secret_hash, ek_cert, ek_public, ak_public,"
	" expires, used, policy_ref, seen_reset, seen_restart, seen_clock FROM sessions"
	" WHERE id = ?1";
static const char sql_session_use[] = "UPDATE sessions SET used = 1 WHERE id = ?1";

static a11_err read_session(struct sq_cur *c, struct store_session *out, bool *used)
{
	sq_get_text(c, out->id, sizeof(out->id));
	sq_get_text(c, out->credential, sizeof(out->credential));
	sq_get_text(c, out->lease, sizeof(out->lease));
	sq_get_fixed(c, out->nonce, sizeof(out->nonce));
	sq_get_fixed(c, out->secret_hash, sizeof(out->secret_hash));
	sq_get_blobdup(c, &out->ek_cert, &out->ek_cert_len);
	sq_get_blobdup(c, &out->ek_public, &out->ek_public_len);
	sq_get_blobdup(c, &out->ak_public, &out->ak_public_len);
	sq_get_i64(c, &out->expires);
	sq_get_bool(c, used);
	sq_get_fixed(c, out->policy_ref, sizeof(out->policy_ref));
	get_seen(c, out);
	return c->r;
}

/* The verdict (REUSED, EXPIRED) is kept apart from r so that an expired
 * session's "used" mark is still committed. */
a11_err sq_session_take(void *impl, const char *id, int64_t now, struct store_session *out)
{
	struct sq *q = NULL;
	a11_err verdict = A11_OK;
	struct sq_cur c;
	bool row, used = false;
	a11_err r = sq_begin_lazy(impl, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_session_get, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, id);
	if ((r = sq_step(&c, "session get", &row)) != A11_OK)
		goto out;
	if (!row) {
		r = A11_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = read_session(&c, out, &used)) != A11_OK)
		goto out;
	if (used) {
		verdict = A11_ERR_REUSED;
		goto out;
	}
	if (now > out->expires)
		verdict = A11_ERR_EXPIRED;
	if ((r = sq_prep(q, sql_session_use, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, id);
	r = sq_run(&c, "session take");
out:
	r = sq_end(q, r);
	if (r == A11_OK)
		r = verdict;
	if (r != A11_OK)
		store_session_clear(out);
	return r;
}

static const char sql_session_prune[] = "DELETE FROM sessions WHERE expires < ?1";

/* Used sessions stay until they expire, so that a replay within the
 * lifetime is reported as a reuse, not as an unknown session. */
a11_err sq_session_prune(void *impl, int64_t before)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_session_prune, &c)) != A11_OK)
		goto out;
	sq_bind_i64(&c, before);
	r = sq_run(&c, "session prune");
	if (r == A11_OK)
		log_debug("pruned %d expired sessions", sq_changes(q));
out:
	return sq_end(q, r);
}

/* ---- leases -------------------------------------------------------------- */

/* A new lease is a plain INSERT: it never overwrites another. A renewal
 * moves the expiry (and the ca kind's certificate) of its lease and
 * nothing else: revocation, key and policyRef stay as they are. */
static const char sql_lease_insert[] =
	"INSERT INTO leases (id, credential, ek_hash, issued, expires, revoked, cert_serial,"
	" policy_ref, key_name, approver) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_lease_renew[] =
	"UPDATE leases SET expires = ?2, cert_serial = ?3 WHERE id = ?1";
#define LEASE_COLUMNS "id, credential, ek_hash, issued, expires, revoked, cert_serial," \
	" policy_ref, key_name, approver"
static const char sql_lease_get[] = "SELECT " LEASE_COLUMNS " FROM leases WHERE id = ?1";
static const char sql_lease_list[] = "SELECT " LEASE_COLUMNS " FROM leases ORDER BY issued, id";
static const char sql_lease_revoke[] = "UPDATE leases SET revoked = 1 WHERE id = ?1";

a11_err sq_lease_put_tx(struct sq *q, const struct store_lease *l, bool renewal)
{
	struct sq_cur c;
	a11_err r = sq_prep(q, renewal ? sql_lease_renew : sql_lease_insert, &c);

	if (r != A11_OK)
		return r;
	sq_bind_text(&c, l->id);
	if (renewal) {
		sq_bind_i64(&c, l->expires);
		sq_bind_text(&c, l->cert_serial);
		return sq_run(&c, "lease renew");
	}
	sq_bind_text(&c, l->credential);
	sq_bind_blob(&c, l->ek_hash, sizeof(l->ek_hash));
	sq_bind_i64(&c, l->issued);
	sq_bind_i64(&c, l->expires);
	sq_bind_i64(&c, l->revoked);
	sq_bind_text(&c, l->cert_serial);
	sq_bind_blob(&c, l->policy_ref, sizeof(l->policy_ref));
	sq_bind_blob(&c, l->key_name_len ? l->key_name : NULL, l->key_name_len);
	sq_bind_blob(&c, l->approver_len ? l->approver : NULL, l->approver_len);
	return sq_run(&c, "lease put");
}

static a11_err read_lease(struct sq_cur *c, struct store_lease *out)
{
	uint8_t *name = NULL;
	size_t len = 0;

	sq_get_text(c, out->id, sizeof(out->id));
	sq_get_text(c, out->credential, sizeof(out->credential));
	sq_get_fixed(c, out->ek_hash, sizeof(out->ek_hash));
	sq_get_i64(c, &out->issued);
	sq_get_i64(c, &out->expires);
	sq_get_bool(c, &out->revoked);
	sq_get_text(c, out->cert_serial, sizeof(out->cert_serial));
	sq_get_fixed(c, out->policy_ref, sizeof(out->policy_ref));
	sq_get_blobdup(c, &name, &len);
	if (c->r == A11_OK)
		c->r = store_lease_key_name(out, name, len);
	free(name);
	name = NULL;
	len = 0;
	sq_get_blobdup(c, &name, &len);
	if (c->r == A11_OK)
		c->r = store_lease_approver(out, name, len);
	free(name);
	return c->r;
}

a11_err sq_lease_get_tx(struct sq *q, const char *id, struct store_lease *out)
{
	struct sq_cur c;
	bool row;
	a11_err r = sq_prep(q, sql_lease_get, &c);

	if (r != A11_OK)
		return r;
	sq_bind_text(&c, id);
	if ((r = sq_step(&c, "lease get", &row)) != A11_OK)
		return r;
	return row ? read_lease(&c, out) : A11_ERR_NOT_FOUND;
}

a11_err sq_lease_get(void *impl, const char *id, struct store_lease *out)
{
	struct sq *q = NULL;
	a11_err r = sq_begin(impl, false, &q);

	if (r != A11_OK)
		return r;
	r = sq_end(q, sq_lease_get_tx(q, id, out));
	if (r != A11_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

a11_err sq_lease_list(void *impl, store_lease_fn fn, void *arg)
{
	struct sq *q = NULL;
	struct store_lease l;
	struct sq_cur c;
	bool row = true;
	a11_err r = sq_begin(impl, false, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_lease_list, &c)) != A11_OK)
		goto out;
	while (r == A11_OK && row) {
		memset(&l, 0, sizeof(l));
		r = sq_step(&c, "lease list", &row);
		if (r == A11_OK && row)
			r = read_lease(&c, &l);
		if (r == A11_OK && row)
			fn(&l, arg);
	}
out:
	return sq_end(q, r);
}

a11_err sq_lease_revoke(void *impl, const char *id)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_lease_revoke, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, id);
	if ((r = sq_run(&c, "lease revoke")) == A11_OK && sq_changes(q) == 0)
		r = A11_ERR_NOT_FOUND;
out:
	return sq_end(q, r);
}

a11_err sq_lease_bind_approver(void *impl, const uint8_t name[34], size_t *n)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, "UPDATE leases SET approver = ?1 WHERE approver IS NULL", &c)) != A11_OK)
		goto out;
	sq_bind_blob(&c, name, 34);
	if ((r = sq_run(&c, "lease bind approver")) == A11_OK)
		*n = (size_t)sq_changes(q);
out:
	return sq_end(q, r);
}

/* ---- TPM clock counters -------------------------------------------------- */

static const char sql_tpm_get[] =
	"SELECT reset_count, restart_count, clock, last_seen FROM tpms WHERE ek_hash = ?1";
static const char sql_tpm_put[] =
	"INSERT INTO tpms (ek_hash, reset_count, restart_count, clock, last_seen)"
	" VALUES (?1, ?2, ?3, ?4, ?5)"
	" ON CONFLICT (ek_hash) DO UPDATE SET reset_count = excluded.reset_count,"
	" restart_count = excluded.restart_count, clock = excluded.clock,"
	" last_seen = excluded.last_seen";

a11_err sq_tpm_get_tx(struct sq *q, const uint8_t ek_hash[32], struct store_tpm *out, bool *known)
{
	struct sq_cur c;
	int64_t clock = 0;
	bool row;
	a11_err r = sq_prep(q, sql_tpm_get, &c);

	if (r != A11_OK)
		return r;
	sq_bind_blob(&c, ek_hash, 32);
	if ((r = sq_step(&c, "TPM get", &row)) != A11_OK || !row)
		return r;
	memcpy(out->ek_hash, ek_hash, 32);
	sq_get_u32(&c, &out->reset_count);
	sq_get_u32(&c, &out->restart_count);
	sq_get_i64(&c, &clock);
	sq_get_i64(&c, &out->last_seen);
	/* The TPM clock is a u64 kept in SQLite's signed 64-bit integer: the
	 * bits go through unchanged both ways. */
	out->clock = (uint64_t)clock;
	*known = c.r == A11_OK;
	return c.r;
}

a11_err sq_tpm_get(void *impl, const uint8_t ek_hash[32], struct store_tpm *out, bool *known)
{
	struct sq *q = NULL;
	a11_err r = sq_begin(impl, false, &q);

	if (r != A11_OK)
		return r;
	r = sq_end(q, sq_tpm_get_tx(q, ek_hash, out, known));
	if (r != A11_OK) {
		memset(out, 0, sizeof(*out));
		*known = false;
	}
	return r;
}

a11_err sq_tpm_put_tx(struct sq *q, const struct store_tpm *t)
{
	struct sq_cur c;
	a11_err r = sq_prep(q, sql_tpm_put, &c);

	if (r != A11_OK)
		return r;
	sq_bind_blob(&c, t->ek_hash, sizeof(t->ek_hash));
	sq_bind_i64(&c, t->reset_count);
	sq_bind_i64(&c, t->restart_count);
	sq_bind_i64(&c, (int64_t)t->clock);
	sq_bind_i64(&c, t->last_seen);
	return sq_run(&c, "TPM update");
}
