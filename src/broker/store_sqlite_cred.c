/* SQLite backend: credentials and their PIN counters. */
#include <string.h>

#include "../common/kind.h"
#include "../common/log.h"
#include "store_sqlite.h"

/* kind is stored by name (cred_kind_name): readable in the sqlite3 shell
 * and stable if the enum is ever reordered. */
static void get_kind(struct sq_cur *c, enum cred_kind *kind)
{
	char name[16];

	sq_get_text(c, name, sizeof(name));
	if (c->r == A11_OK && cred_kind_parse(name, kind) != 0) {
		log_error("stored credential kind is unknown");
		c->r = A11_ERR_STORE;
	}
}

/* A replace keeps the PIN counters (they are the lockout) and never lets
 * policy_version stand still or go back when the policy text changes: the
 * audit log names releases by that version. */
static const char sql_put[] =
	"INSERT INTO credentials (name, kind, policy_json, policy_version, sealed_secret,"
	" chain_pem, pin_verifier, pin_salt, pin_failures, pin_locked)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
	" ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
	" policy_json = excluded.policy_json,"
	" policy_version = max(excluded.policy_version,"
	"  policy_version + (excluded.policy_json IS NOT policy_json)),"
	" sealed_secret = excluded.sealed_secret, chain_pem = excluded.chain_pem,"
	" pin_verifier = excluded.pin_verifier, pin_salt = excluded.pin_salt";

a11_err sq_cred_put(void *impl, const struct store_cred *cr)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_put, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, cr->name);
	sq_bind_text(&c, cred_kind_name(cr->kind));
	sq_bind_text(&c, cr->policy_json);
	sq_bind_i64(&c, cr->policy_version);
	sq_bind_blob(&c, cr->sealed_secret, cr->sealed_secret_len);
	sq_bind_text(&c, cr->chain_pem);
	sq_bind_text(&c, cr->pin_verifier);
	sq_bind_blob(&c, cr->pin_salt, sizeof(cr->pin_salt));
	sq_bind_i64(&c, cr->pin_failures);
	sq_bind_i64(&c, cr->pin_locked);
	r = sq_run(&c, "credential put");
out:
	return sq_end(q, r);
}

static const char sql_get[] =
	"SELECT name, kind, policy_json, policy_version, sealed_secret, chain_pem, pin_verifier,"
	" pin_salt, pin_failures, pin_locked FROM credentials WHERE name = ?1";

/* Reads the current row of sql_get (secret true) or sql_list (false). */
static a11_err read_cred(struct sq_cur *c, bool secret, struct store_cred *out)
{
	sq_get_text(c, out->name, sizeof(out->name));
	get_kind(c, &out->kind);
	sq_get_strdup(c, &out->policy_json);
	sq_get_i64(c, &out->policy_version);
	if (secret)
		sq_get_blobdup(c, &out->sealed_secret, &out->sealed_secret_len);
	sq_get_strdup(c, &out->chain_pem);
	sq_get_strdup(c, &out->pin_verifier);
	sq_get_fixed(c, out->pin_salt, sizeof(out->pin_salt));
	sq_get_u32(c, &out->pin_failures);
	sq_get_bool(c, &out->pin_locked);
	return c->r;
}

a11_err sq_cred_get(void *impl, const char *name, struct store_cred *out)
{
	struct sq *q = NULL;
	struct sq_cur c;
	bool row;
	a11_err r = sq_begin(impl, false, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_get, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, name);
	if ((r = sq_step(&c, "credential get", &row)) != A11_OK)
		goto out;
	r = row ? read_cred(&c, true, out) : A11_ERR_NOT_FOUND;
out:
	r = sq_end(q, r);
	if (r != A11_OK)
		store_cred_clear(out);
	return r;
}

/* Runs sql, which takes the name as ?1 (and text as ?2 if not NULL) and
 * changes at most one row; none changed is A11_ERR_NOT_FOUND. */
static a11_err update_one(void *impl, const char *sql, const char *name, const char *text)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, name);
	if (text != NULL)
		sq_bind_text(&c, text);
	if ((r = sq_run(&c, "credential update")) != A11_OK)
		goto out;
	if (sq_changes(q) == 0)
		r = A11_ERR_NOT_FOUND;
out:
	return sq_end(q, r);
}

static const char sql_delete[] = "DELETE FROM credentials WHERE name = ?1";
static const char sql_set_policy[] =
	"UPDATE credentials SET policy_json = ?2, policy_version = policy_version + 1"
	" WHERE name = ?1";
static const char sql_unlock[] =
	"UPDATE credentials SET pin_failures = 0, pin_locked = 0 WHERE name = ?1";

a11_err sq_cred_delete(void *impl, const char *name)
{
	return update_one(impl, sql_delete, name, NULL);
}

a11_err sq_cred_set_policy(void *impl, const char *name, const char *policy_json)
{
	return update_one(impl, sql_set_policy, name, policy_json);
}

a11_err sq_pin_unlock(void *impl, const char *name)
{
	return update_one(impl, sql_unlock, name, NULL);
}

/* A compare-and-swap: IS compares NULL with NULL as equal. */
static const char sql_reseal[] =
	"UPDATE credentials SET sealed_secret = ?4, pin_verifier = ?5"
	" WHERE name = ?1 AND sealed_secret = ?2 AND pin_verifier IS ?3";

a11_err sq_cred_reseal(void *impl, const struct store_reseal *rs)
{
	struct sq *q = NULL;
	struct sq_cur c;
	a11_err r = sq_begin(impl, true, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_reseal, &c)) != A11_OK)
		goto out;
	sq_bind_text(&c, rs->name);
	sq_bind_blob(&c, rs->old_secret, rs->old_secret_len);
	sq_bind_text(&c, rs->old_pin);
	sq_bind_blob(&c, rs->secret, rs->secret_len);
	sq_bind_text(&c, rs->pin);
	if ((r = sq_run(&c, "credential reseal")) == A11_OK && sq_changes(q) == 0)
		r = A11_ERR_NOT_FOUND;
out:
	return sq_end(q, r);
}

/* The listing leaves out the sealed secret: listing is for names and
 * state (admin, key rotation), and the fewer copies of it the better. The
 * PIN hash stays, as callers show whether a PIN is set. */
static const char sql_list[] =
	"SELECT name, kind, policy_json, policy_version, chain_pem, pin_verifier, pin_salt,"
	" pin_failures, pin_locked FROM credentials ORDER BY name";

a11_err sq_cred_list(void *impl, store_cred_fn fn, void *arg)
{
	struct sq *q = NULL;
	struct store_cred cr;
	struct sq_cur c;
	bool row = true;
	a11_err r = sq_begin(impl, false, &q);

	if (r != A11_OK)
		return r;
	if ((r = sq_prep(q, sql_list, &c)) != A11_OK)
		goto out;
	while (r == A11_OK && row) {
		memset(&cr, 0, sizeof(cr));
		r = sq_step(&c, "credential list", &row);
		if (r == A11_OK && row)
			r = read_cred(&c, false, &cr);
		if (r == A11_OK && row)
			fn(&cr, arg);
		store_cred_clear(&cr);
	}
out:
	return sq_end(q, r);
}

static const char sql_cred_state[] =
	"SELECT policy_version, pin_verifier IS NOT NULL, pin_failures, pin_locked"
	" FROM credentials WHERE name = ?1";
static const char sql_pin_set[] =
	"UPDATE credentials SET pin_failures = ?2, pin_locked = ?3 WHERE name = ?1";

a11_err sq_cred_state_tx(struct sq *q, const char *name, struct store_verdict_state *st)
{
	struct sq_cur c;
	bool row;
	a11_err r = sq_prep(q, sql_cred_state, &c);

	if (r != A11_OK)
		return r;
	sq_bind_text(&c, name);
	if ((r = sq_step(&c, "credential state", &row)) != A11_OK || !row)
		return r;
	sq_get_i64(&c, &st->policy_version);
	sq_get_bool(&c, &st->has_pin);
	sq_get_u32(&c, &st->pin_failures);
	sq_get_bool(&c, &st->pin_locked);
	st->cred_found = c.r == A11_OK;
	return c.r;
}

a11_err sq_pin_set_tx(struct sq *q, const char *name, uint32_t failures, bool locked)
{
	struct sq_cur c;
	a11_err r = sq_prep(q, sql_pin_set, &c);

	if (r != A11_OK)
		return r;
	sq_bind_text(&c, name);
	sq_bind_i64(&c, failures);
	sq_bind_i64(&c, locked);
	return sq_run(&c, "PIN record");
}

