/* PostgreSQL backend: credentials and their PIN counters. */
#include <string.h>

#include "../common/kind.h"
#include "../common/log.h"
#include "store_pg.h"

/* What an operation's transaction body needs; each uses a few members. */
struct cred_op {
	const struct store_cred *in;
	struct store_cred *out;
	const char *name, *text, *sql;
	store_cred_fn fn;
	void *arg;
};

static void get_kind(struct pg_cur *c, enum cred_kind *kind)
{
	char name[16];

	pg_get_text(c, name, sizeof(name));
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
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	" ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
	" policy_json = excluded.policy_json,"
	" policy_version = greatest(excluded.policy_version, credentials.policy_version +"
	"  CASE WHEN excluded.policy_json IS DISTINCT FROM credentials.policy_json"
	"  THEN 1 ELSE 0 END),"
	" sealed_secret = excluded.sealed_secret, chain_pem = excluded.chain_pem,"
	" pin_verifier = excluded.pin_verifier, pin_salt = excluded.pin_salt";

static a11_err put_tx(struct pg_conn *pc, void *arg)
{
	const struct store_cred *cr = ((struct cred_op *)arg)->in;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, cr->name);
	pg_bind_text(&c, cred_kind_name(cr->kind));
	pg_bind_text(&c, cr->policy_json);
	pg_bind_i64(&c, cr->policy_version);
	pg_bind_blob(&c, cr->sealed_secret, cr->sealed_secret_len);
	pg_bind_text(&c, cr->chain_pem);
	pg_bind_text(&c, cr->pin_verifier);
	pg_bind_blob(&c, cr->pin_salt, sizeof(cr->pin_salt));
	pg_bind_i64(&c, cr->pin_failures);
	pg_bind_bool(&c, cr->pin_locked);
	r = pg_exec(&c, sql_put, "credential put", &rows);
	pg_clear(&c);
	return r;
}

a11_err pg_cred_put(void *impl, const struct store_cred *c)
{
	struct cred_op op = { .in = c };

	return pg_tx(impl, true, put_tx, &op);
}

static const char sql_get[] =
	"SELECT name, kind, policy_json, policy_version, sealed_secret, chain_pem, pin_verifier,"
	" pin_salt, pin_failures, pin_locked FROM credentials WHERE name = $1";
/* The listing leaves out the sealed secret (store_sqlite_cred.c says why). */
static const char sql_list[] =
	"SELECT name, kind, policy_json, policy_version, chain_pem, pin_verifier, pin_salt,"
	" pin_failures, pin_locked FROM credentials ORDER BY name";

/* Reads the current row of sql_get (secret true) or sql_list (false). */
static a11_err read_cred(struct pg_cur *c, bool secret, struct store_cred *out)
{
	pg_get_text(c, out->name, sizeof(out->name));
	get_kind(c, &out->kind);
	pg_get_strdup(c, &out->policy_json);
	pg_get_i64(c, &out->policy_version);
	if (secret)
		pg_get_blobdup(c, &out->sealed_secret, &out->sealed_secret_len);
	pg_get_strdup(c, &out->chain_pem);
	pg_get_strdup(c, &out->pin_verifier);
	pg_get_fixed(c, out->pin_salt, sizeof(out->pin_salt));
	pg_get_u32(c, &out->pin_failures);
	pg_get_bool(c, &out->pin_locked);
	return c->r;
}

static a11_err get_tx(struct pg_conn *pc, void *arg)
{
	struct cred_op *op = arg;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, op->name);
	r = pg_exec(&c, sql_get, "credential get", &rows);
	if (r == A11_OK)
		r = rows == 1 ? read_cred(&c, true, op->out) : A11_ERR_NOT_FOUND;
	pg_clear(&c);
	return r;
}

a11_err pg_cred_get(void *impl, const char *name, struct store_cred *out)
{
	struct cred_op op = { .name = name, .out = out };
	a11_err r = pg_one(impl, get_tx, &op);

	if (r != A11_OK)
		store_cred_clear(out);
	return r;
}

/* Runs op->sql, which takes the name as $1 (and op->text as $2 if not
 * NULL) and changes at most one row; none changed is A11_ERR_NOT_FOUND. */
static a11_err update_tx(struct pg_conn *pc, void *arg)
{
	struct cred_op *op = arg;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, op->name);
	if (op->text != NULL)
		pg_bind_text(&c, op->text);
	r = pg_exec(&c, op->sql, "credential update", &rows);
	pg_clear(&c);
	return r == A11_OK && rows == 0 ? A11_ERR_NOT_FOUND : r;
}

static a11_err update_one(void *impl, const char *sql, const char *name, const char *text)
{
	struct cred_op op = { .sql = sql, .name = name, .text = text };

	return pg_tx(impl, true, update_tx, &op);
}

a11_err pg_cred_delete(void *impl, const char *name)
{
	return update_one(impl, "DELETE FROM credentials WHERE name = $1", name, NULL);
}

a11_err pg_cred_set_policy(void *impl, const char *name, const char *policy_json)
{
	return update_one(impl, "UPDATE credentials SET policy_json = $2,"
			  " policy_version = policy_version + 1 WHERE name = $1", name, policy_json);
}

a11_err pg_pin_unlock(void *impl, const char *name)
{
	return update_one(impl, "UPDATE credentials SET pin_failures = 0, pin_locked = false"
			  " WHERE name = $1", name, NULL);
}

static a11_err reseal_tx(struct pg_conn *pc, void *arg)
{
	const struct store_reseal *rs = arg;
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, pc);
	pg_bind_text(&c, rs->name);
	pg_bind_blob(&c, rs->old_secret, rs->old_secret_len);
	pg_bind_text(&c, rs->old_pin);
	pg_bind_blob(&c, rs->secret, rs->secret_len);
	pg_bind_text(&c, rs->pin);
	/* A compare-and-swap: NOT DISTINCT compares NULL with NULL as equal. */
	r = pg_exec(&c, "UPDATE credentials SET sealed_secret = $4, pin_verifier = $5"
		    " WHERE name = $1 AND sealed_secret = $2"
		    " AND pin_verifier IS NOT DISTINCT FROM $3", "credential reseal", &rows);
	pg_clear(&c);
	return r == A11_OK && rows == 0 ? A11_ERR_NOT_FOUND : r;
}

a11_err pg_cred_reseal(void *impl, const struct store_reseal *rs)
{
	return pg_tx(impl, true, reseal_tx, (void *)rs);
}

/* Every row comes in one result: credentials are an operator's list,
 * tens or hundreds, never a log. */
static a11_err list_tx(struct pg_conn *pc, void *arg)
{
	struct cred_op *op = arg;
	struct store_cred cr;
	struct pg_cur c;
	int rows = 0;
	a11_err r;

	pg_start(&c, pc);
	r = pg_exec(&c, sql_list, "credential list", &rows);
	for (int i = 0; r == A11_OK && i < rows; i++) {
		memset(&cr, 0, sizeof(cr));
		pg_row(&c, i);
		r = read_cred(&c, false, &cr);
		if (r == A11_OK)
			op->fn(&cr, op->arg);
		store_cred_clear(&cr);
	}
	pg_clear(&c);
	return r;
}

a11_err pg_cred_list(void *impl, store_cred_fn fn, void *arg)
{
	struct cred_op op = { .fn = fn, .arg = arg };

	return pg_tx(impl, false, list_tx, &op);
}

/* The verdict's read of the credential locks its row until the verdict
 * commits: a concurrent verdict on any replica waits here, then reads the
 * counter this one wrote (READ COMMITTED reads the latest version after a
 * wait). NO KEY UPDATE, since the name never changes: sessions and
 * leases being inserted for it (their foreign key's KEY SHARE lock) need
 * not wait. */
static const char sql_state[] =
	"SELECT policy_version, pin_verifier IS NOT NULL, pin_failures, pin_locked"
	" FROM credentials WHERE name = $1 FOR NO KEY UPDATE";

a11_err pg_cred_state_tx(void *tx, const char *name, struct store_verdict_state *st)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, tx);
	pg_bind_text(&c, name);
	r = pg_exec(&c, sql_state, "credential state", &rows);
	if (r == A11_OK && rows == 1) {
		pg_get_i64(&c, &st->policy_version);
		pg_get_bool(&c, &st->has_pin);
		pg_get_u32(&c, &st->pin_failures);
		pg_get_bool(&c, &st->pin_locked);
		st->cred_found = (r = c.r) == A11_OK;
	}
	pg_clear(&c);
	return r;
}

a11_err pg_pin_set_tx(void *tx, const char *name, uint32_t failures, bool locked)
{
	struct pg_cur c;
	int rows;
	a11_err r;

	pg_start(&c, tx);
	pg_bind_text(&c, name);
	pg_bind_i64(&c, failures);
	pg_bind_bool(&c, locked);
	r = pg_exec(&c, "UPDATE credentials SET pin_failures = $2, pin_locked = $3 WHERE name = $1",
		    "PIN record", &rows);
	pg_clear(&c);
	return r;
}
