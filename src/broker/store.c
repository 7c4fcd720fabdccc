/* The store's front: picks a backend by URI scheme, checks every argument
 * once for all backends, and owns what must not differ between backends:
 * freeing records and the audit chain's hash. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../common/kind.h"
#include "../common/log.h"
#include "store_backend.h"

struct store {
	const struct store_ops *ops;
	void *impl;
};

static const struct store_ops *const backends[] = { &store_sqlite_ops, &store_pg_ops,
						     &store_pg_short_ops };

/* ---- argument checks --------------------------------------------------- */

/* A caller's name or id: present, non-empty, and short enough to ever have
 * been stored. Over-long is refused rather than truncated, so that two
 * different names can never address the same row. */
static bool key_ok(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

/* A fixed text field must hold its terminator. */
static bool text_ok(const char *f, size_t cap)
{
	return memchr(f, '\0', cap) != NULL;
}
#define TEXT_OK(f) text_ok((f), sizeof(f))
#define KEY_OK(f) (TEXT_OK(f) && (f)[0] != '\0')

/* A length-counted blob: NULL only when empty. */
static bool blob_ok(const void *p, size_t len)
{
	return p != NULL || len == 0;
}

static bool audit_text_ok(const struct store_audit *rec)
{
	return TEXT_OK(rec->code) && TEXT_OK(rec->credential) && TEXT_OK(rec->ek_hash) &&
	       TEXT_OK(rec->ak_name) && TEXT_OK(rec->pcr_digest) && TEXT_OK(rec->ar_digest) &&
	       TEXT_OK(rec->lease) && TEXT_OK(rec->cert_serial);
}

/* A macro so that the log line names the API function refused. */
#define bad_arg(what) (log_warn("invalid %s", (what)), A11_ERR_ARG)

/* ---- open, close, clear ------------------------------------------------ */

a11_err store_open(const char *uri, struct store **out)
{
	const struct store_ops *ops = NULL;
	struct store *s = NULL;
	a11_err r;

	if (out == NULL || uri == NULL)
		return bad_arg("store URI");
	*out = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strncmp(uri, backends[i]->scheme, strlen(backends[i]->scheme)) == 0)
			ops = backends[i];
	if (ops == NULL) {
		log_error("store URI has no supported scheme (want sqlite:PATH or postgresql://...)");
		return A11_ERR_UNSUPPORTED;
	}
	if (uri[strlen(ops->scheme)] == '\0')
		return bad_arg("store URI: nothing after the scheme");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return A11_ERR_NOMEM;
	s->ops = ops;
	r = ops->open(uri + strlen(ops->scheme), &s->impl);
	if (r != A11_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	free(s);
	return r;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->impl);
	free(s);
}

a11_err store_ping(struct store *s)
{
	if (s == NULL)
		return bad_arg("store");
	return s->ops->ping(s->impl);
}

void store_cred_clear(struct store_cred *c)
{
	if (c == NULL)
		return;
	if (c->sealed_secret != NULL)
		OPENSSL_cleanse(c->sealed_secret, c->sealed_secret_len);
	if (c->pin_verifier != NULL)
		OPENSSL_cleanse(c->pin_verifier, strlen(c->pin_verifier));
	free(c->sealed_secret);
	free(c->pin_verifier);
	free(c->policy_json);
	free(c->chain_pem);
	memset(c, 0, sizeof(*c));
}

void store_session_clear(struct store_session *ss)
{
	if (ss == NULL)
		return;
	free(ss->ek_cert);
	free(ss->ek_public);
	free(ss->ak_public);
	memset(ss, 0, sizeof(*ss));
}

/* ---- credentials --------------------------------------------------------- */

a11_err store_cred_put(struct store *s, const struct store_cred *c)
{
	if (s == NULL || c == NULL || !KEY_OK(c->name))
		return bad_arg("credential name");
	if (cred_kind_name(c->kind) == NULL || !blob_ok(c->sealed_secret, c->sealed_secret_len))
		return bad_arg("credential");
	return s->ops->cred_put(s->impl, c);
}

a11_err store_cred_get(struct store *s, const char *name, struct store_cred *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || !key_ok(name, STORE_NAME_MAX))
		return bad_arg("credential name");
	return s->ops->cred_get(s->impl, name, out);
}

a11_err store_cred_delete(struct store *s, const char *name)
{
	if (s == NULL || !key_ok(name, STORE_NAME_MAX))
		return bad_arg("credential name");
	return s->ops->cred_delete(s->impl, name);
}

a11_err store_cred_list(struct store *s, void (*fn)(const struct store_cred *, void *), void *arg)
{
	if (s == NULL || fn == NULL)
		return bad_arg("list callback");
	return s->ops->cred_list(s->impl, fn, arg);
}

a11_err store_cred_set_policy(struct store *s, const char *name, const char *policy_json)
{
	if (s == NULL || !key_ok(name, STORE_NAME_MAX) || policy_json == NULL)
		return bad_arg("credential name or policy");
	return s->ops->cred_set_policy(s->impl, name, policy_json);
}

a11_err store_pin_unlock(struct store *s, const char *name)
{
	if (s == NULL || !key_ok(name, STORE_NAME_MAX))
		return bad_arg("credential name");
	return s->ops->pin_unlock(s->impl, name);
}

a11_err store_cred_reseal(struct store *s, const struct store_reseal *rs)
{
	if (s == NULL || rs == NULL || !key_ok(rs->name, STORE_NAME_MAX))
		return bad_arg("credential name");
	if (!blob_ok(rs->old_secret, rs->old_secret_len) || !blob_ok(rs->secret, rs->secret_len) ||
	    (rs->old_pin == NULL) != (rs->pin == NULL))
		return bad_arg("sealed values");
	return s->ops->cred_reseal(s->impl, rs);
}

/* ---- sessions ------------------------------------------------------------ */

a11_err store_session_put(struct store *s, const struct store_session *ss)
{
	if (s == NULL || ss == NULL || !KEY_OK(ss->id) || !KEY_OK(ss->credential) ||
	    !TEXT_OK(ss->lease))
		return bad_arg("session");
	if (!blob_ok(ss->ek_cert, ss->ek_cert_len) || !blob_ok(ss->ek_public, ss->ek_public_len) ||
	    !blob_ok(ss->ak_public, ss->ak_public_len))
		return bad_arg("session keys");
	return s->ops->session_put(s->impl, ss);
}

a11_err store_session_take(struct store *s, const char *id, int64_t now,
			   struct store_session *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || !key_ok(id, STORE_ID_MAX))
		return bad_arg("session id");
	return s->ops->session_take(s->impl, id, now, out);
}

a11_err store_session_prune(struct store *s, int64_t before)
{
	if (s == NULL)
		return bad_arg("store");
	return s->ops->session_prune(s->impl, before);
}

/* ---- leases and TPM counters --------------------------------------------- */

a11_err store_lease_get(struct store *s, const char *id, struct store_lease *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || !key_ok(id, STORE_ID_MAX))
		return bad_arg("lease id");
	return s->ops->lease_get(s->impl, id, out);
}

a11_err store_lease_list(struct store *s, void (*fn)(const struct store_lease *, void *), void *arg)
{
	if (s == NULL || fn == NULL)
		return bad_arg("list callback");
	return s->ops->lease_list(s->impl, fn, arg);
}

a11_err store_lease_bind_approver(struct store *s, const uint8_t name[34], size_t *n)
{
	if (n != NULL)
		*n = 0;
	if (s == NULL || name == NULL || n == NULL)
		return bad_arg("approver name");
	return s->ops->lease_bind_approver(s->impl, name, n);
}

a11_err store_lease_approver(struct store_lease *l, const uint8_t *name, size_t len)
{
	if (len != 0 && len != sizeof(l->approver)) {
		log_error("stored approver of lease %s is %zu bytes, not %zu", l->id, len,
			  sizeof(l->approver));
		return A11_ERR_STORE;
	}
	if (len != 0)
		memcpy(l->approver, name, len);
	l->approver_len = len;
	return A11_OK;
}

a11_err store_lease_key_name(struct store_lease *l, const uint8_t *name, size_t len)
{
	if (len > sizeof(l->key_name)) {
		log_error("stored key_name of lease %s is too long", l->id);
		return A11_ERR_STORE;
	}
	if (len > 0)
		memcpy(l->key_name, name, len);
	l->key_name_len = len;
	return A11_OK;
}

a11_err store_lease_revoke(struct store *s, const char *id)
{
	if (s == NULL || !key_ok(id, STORE_ID_MAX))
		return bad_arg("lease id");
	return s->ops->lease_revoke(s->impl, id);
}

a11_err store_tpm_get(struct store *s, const uint8_t ek_hash[32], struct store_tpm *out, bool *known)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (known != NULL)
		*known = false;
	if (s == NULL || ek_hash == NULL || out == NULL || known == NULL)
		return bad_arg("TPM lookup");
	return s->ops->tpm_get(s->impl, ek_hash, out, known);
}

bool store_tpm_newer(const struct store_tpm *a, const struct store_tpm *b)
{
	if (a->reset_count != b->reset_count)
		return a->reset_count > b->reset_count;
	if (a->restart_count != b->restart_count)
		return a->restart_count > b->restart_count;
	return a->clock > b->clock;
}

/* ---- verdicts ------------------------------------------------------------ */

static bool lease_ok(const struct store_lease *l)
{
	return KEY_OK(l->id) && KEY_OK(l->credential) && TEXT_OK(l->cert_serial) &&
	       l->key_name_len <= sizeof(l->key_name) &&
	       (l->approver_len == 0 || l->approver_len == sizeof(l->approver));
}

static bool verdict_ok(const struct store_verdict *v)
{
	bool named = v->credential != NULL && key_ok(v->credential, STORE_NAME_MAX);

	if (v->audit == NULL || (v->pin != STORE_PIN_NONE && !named) ||
	    (v->locked_code != NULL && strnlen(v->locked_code, sizeof(v->audit->code)) ==
					   sizeof(v->audit->code)) ||
	    (v->pin == STORE_PIN_WRONG && (v->pin_max_failures == 0 || v->lease != NULL)) ||
	    (v->pin == STORE_PIN_RIGHT && v->lease == NULL))
		return false;
	return v->lease == NULL ||
	       (named && lease_ok(v->lease) && strcmp(v->lease->credential, v->credential) == 0);
}

/* A renewal renews its own lease: this TPM, this credential, this
 * policyRef, this key. Kinds whose renewal presents no key carry the
 * stored Name over (src/broker/evidence.c); a ca renewal names the key it
 * presents, and a lease stored without a Name (before schema 4) matches
 * no presented key: its host attests afresh. */
static enum store_hold renewal_hold(const struct store_lease *want, const struct store_verdict_state *st)
{
	const struct store_lease *got = &st->lease;

	if (!st->lease_found || memcmp(got->ek_hash, want->ek_hash, 32) != 0 ||
	    strcmp(got->credential, want->credential) != 0 ||
	    memcmp(got->policy_ref, want->policy_ref, 32) != 0)
		return STORE_HOLD_LEASE_UNKNOWN;
	if (got->revoked)
		return STORE_HOLD_LEASE_REVOKED;
	if (got->key_name_len != want->key_name_len ||
	    memcmp(got->key_name, want->key_name, got->key_name_len) != 0)
		return STORE_HOLD_KEY;
	return STORE_HOLD_OK;
}

enum store_hold store_verdict_hold(const struct store_verdict *v,
				   const struct store_verdict_state *st)
{
	if (v->lease == NULL)
		return STORE_HOLD_OK;
	if (!st->cred_found)
		return STORE_HOLD_CREDENTIAL;
	if (st->policy_version != v->policy_version)
		return STORE_HOLD_POLICY;
	if (st->has_pin && st->pin_locked)
		return STORE_HOLD_PIN_LOCKED;
	return v->renewal ? renewal_hold(v->lease, st) : STORE_HOLD_OK;
}

/* A locked credential stays as it is, even on a right PIN: only
 * store_pin_unlock (an operator) lifts the lock, or the lock would just
 * slow a guesser down. */
void store_pin_next(enum store_pin_event ev, uint32_t max_failures, uint32_t *failures,
		    bool *locked)
{
	if (*locked || ev == STORE_PIN_NONE)
		return;
	if (ev == STORE_PIN_RIGHT)
		*failures = 0;
	else if (*failures < UINT32_MAX)
		(*failures)++;
	*locked = ev == STORE_PIN_WRONG && *failures >= max_failures;
}

a11_err store_verdict_commit(struct store *s, struct store_verdict *v, enum store_hold *held)
{
	if (held != NULL)
		*held = STORE_HOLD_OK;
	if (s == NULL || v == NULL || held == NULL || !verdict_ok(v))
		return bad_arg("verdict");
	if (!KEY_OK(v->audit->event) || !audit_text_ok(v->audit))
		return bad_arg("audit record");
	v->pin_failures = 0;
	v->pin_locked = false;
	return s->ops->verdict(s->impl, v, held);
}

/* ---- audit ------------------------------------------------------------- */

/* canonical(record), the bytes each hash covers, in this order:
 *   i64 seq, i64 time, str event, str code, str credential, str ek_hash,
 *   str ak_name, str pcr_digest, str ar_digest, i64 policy_version,
 *   str lease, str cert_serial
 * i64: 8 bytes, big-endian two's complement. str: u32 big-endian byte
 * length, then the bytes without terminator. Fixed order plus length
 * prefixes make it injective: no two records share an encoding, whatever
 * their texts contain. prev_hash and hash are outside it (prev_hash is
 * hashed in front of it). Changing any of this breaks every stored chain:
 * it would need a new schema version and a re-anchored log. */
struct enc {
	uint8_t buf[32 + sizeof(struct store_audit) + 12 * 8];
	size_t len;
};

static void put_u64(struct enc *e, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		e->buf[e->len++] = (uint8_t)(v >> (8 * i));
}

static void put_str(struct enc *e, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap - 1);

	for (int i = 3; i >= 0; i--)
		e->buf[e->len++] = (uint8_t)(n >> (8 * i));
	memcpy(e->buf + e->len, s, n);
	e->len += n;
}
#define PUT_STR(e, f) put_str((e), (f), sizeof(f))

a11_err store_audit_hash(const struct store_audit *rec, uint8_t out[32])
{
	struct enc e = { .len = 0 };

	memcpy(e.buf, rec->prev_hash, 32);
	e.len = 32;
	put_u64(&e, (uint64_t)rec->seq);
	put_u64(&e, (uint64_t)rec->time);
	PUT_STR(&e, rec->event);
	PUT_STR(&e, rec->code);
	PUT_STR(&e, rec->credential);
	PUT_STR(&e, rec->ek_hash);
	PUT_STR(&e, rec->ak_name);
	PUT_STR(&e, rec->pcr_digest);
	PUT_STR(&e, rec->ar_digest);
	put_u64(&e, (uint64_t)rec->policy_version);
	PUT_STR(&e, rec->lease);
	PUT_STR(&e, rec->cert_serial);
	if (EVP_Digest(e.buf, e.len, out, NULL, EVP_sha256(), NULL) != 1) {
		log_error("SHA-256 failed");
		return A11_ERR_CRYPTO;
	}
	return A11_OK;
}

a11_err store_audit_link(struct store_audit *rec, int64_t prev_seq, const uint8_t *prev_hash)
{
	if (prev_seq < 0 || prev_seq == INT64_MAX) {
		log_error("audit seq %lld cannot be followed", (long long)prev_seq);
		return A11_ERR_STORE;
	}
	rec->seq = prev_seq + 1;
	if (prev_hash != NULL)
		memcpy(rec->prev_hash, prev_hash, 32);
	else
		memset(rec->prev_hash, 0, 32);
	return store_audit_hash(rec, rec->hash);
}

a11_err store_audit_append(struct store *s, struct store_audit *rec)
{
	if (s == NULL || rec == NULL || !KEY_OK(rec->event) || !audit_text_ok(rec))
		return bad_arg("audit record");
	return s->ops->audit_append(s->impl, rec);
}

a11_err store_audit_iter(struct store *s, int (*fn)(const struct store_audit *, void *), void *arg)
{
	int64_t bad = 0;

	if (s == NULL || fn == NULL)
		return bad_arg("audit callback");
	return s->ops->audit_iter(s->impl, fn, arg, &bad);
}

/* The walk of store_audit_verify: the next seq expected, the hash the next
 * record must name as its predecessor, and where the chain broke. */
struct walk {
	int64_t want_seq;
	uint8_t prev[32];
	int64_t bad_seq;
	a11_err err;
};

static int verify_one(const struct store_audit *rec, void *arg)
{
	struct walk *w = arg;
	uint8_t h[32];

	/* A missing record is reported by its own seq: that is where an
	 * operator has to look, the record after it is intact. */
	if (rec->seq != w->want_seq) {
		w->bad_seq = w->want_seq;
		return 1;
	}
	w->err = store_audit_hash(rec, h);
	if (w->err != A11_OK)
		return 1;
	if (memcmp(rec->prev_hash, w->prev, 32) != 0 || memcmp(rec->hash, h, 32) != 0) {
		w->bad_seq = rec->seq;
		return 1;
	}
	memcpy(w->prev, rec->hash, 32);
	w->want_seq++;
	return 0;
}

/* Checks seq is 1, 2, 3... without gaps, each prev_hash is the hash
 * before it (zeros for the first) and each hash is recomputed from the
 * stored fields. Removing records from the end is not visible here: that
 * needs the last hash kept somewhere else. */
a11_err store_audit_verify(struct store *s, int64_t *bad_seq)
{
	struct walk w = { .want_seq = 1, .bad_seq = 0, .err = A11_OK };
	int64_t malformed = 0;
	a11_err r;

	if (bad_seq != NULL)
		*bad_seq = 0;
	if (s == NULL || bad_seq == NULL)
		return bad_arg("audit verify");
	memset(w.prev, 0, sizeof(w.prev));
	r = s->ops->audit_iter(s->impl, verify_one, &w, &malformed);
	/* A malformed row ends the walk; a gap before it still comes first. */
	if (r == A11_ERR_AUDIT)
		w.bad_seq = malformed > w.want_seq ? w.want_seq : malformed;
	else if (r != A11_OK)
		return r;
	if (w.err != A11_OK)
		return w.err;
	if (w.bad_seq != 0) {
		log_error("audit chain broken at seq %lld", (long long)w.bad_seq);
		*bad_seq = w.bad_seq;
		return A11_ERR_AUDIT;
	}
	return A11_OK;
}
