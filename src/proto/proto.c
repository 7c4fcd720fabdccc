#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "json.h"
#include "proto.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)

/* An optional member: absent is fine, malformed is not. */
static a11_err opt(a11_err r, bool *present)
{
	if (present != NULL)
		*present = r == A11_OK;
	return r == A11_ERR_NOT_FOUND ? A11_OK : r;
}

static bool all_of(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

static a11_err j_name(json_t *o, const char *key, char *out, size_t cap, const char *set)
{
	a11_err r = j_str(o, key, out, cap);

	if (r == A11_OK && (out[0] == '\0' || !all_of(out, set))) {
		log_debug("member %s: empty or bad characters", key);
		r = A11_ERR_PARSE;
	}
	return r;
}

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
static json_t *parse_object(const char *json, size_t len, size_t max)
{
	json_error_t err;
	json_t *o;

	if (len > max)
		return NULL;
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL)
		log_debug("not a JSON object: %s", err.text);
	return o;
}

static char *dump(json_t *o, a11_err r)
{
	char *s = r == A11_OK ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

static a11_err put_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, json_string(v)) == 0 ? A11_OK : A11_ERR_NOMEM;
}

static a11_err put_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer(v)) == 0 ? A11_OK : A11_ERR_NOMEM;
}

/* ---- challenge ---- */

char *challenge_req_encode(const struct challenge_req *m)
{
	json_t *o = json_object();
	a11_err r = o ? A11_OK : A11_ERR_NOMEM;

	TRY(put_str(o, "credential", m->credential));
	TRY(j_put_bytes(o, "ek_cert", m->ek_cert, m->ek_cert_len));
	TRY(j_put_TPM2B_PUBLIC(o, "ek_public", &m->ek));
	TRY(j_put_TPM2B_PUBLIC(o, "ak_public", &m->ak));
	if (m->lease[0] != '\0')
		TRY(put_str(o, "lease", m->lease));
out:
	return dump(o, r);
}

a11_err challenge_req_decode(const char *json, size_t len, struct challenge_req *m)
{
	json_t *o = parse_object(json, len, PROTO_MAX_BODY);
	a11_err r = o ? A11_OK : A11_ERR_PARSE;

	memset(m, 0, sizeof(*m));
	if (r != A11_OK)
		goto out;
	TRY(j_name(o, "credential", m->credential, sizeof(m->credential), NAME_CHARS));
	TRY(j_bytes(o, "ek_cert", m->ek_cert, sizeof(m->ek_cert), &m->ek_cert_len));
	TRY(j_get_TPM2B_PUBLIC(o, "ek_public", &m->ek));
	TRY(j_get_TPM2B_PUBLIC(o, "ak_public", &m->ak));
	TRY(opt(j_hex_id(o, "lease", PROTO_LEASE_LEN, m->lease), NULL));
	if (m->ek_cert_len == 0)
		r = A11_ERR_PARSE;
out:
	json_decref(o);
	return r == A11_OK ? A11_OK : A11_ERR_PARSE;
}

char *challenge_resp_encode(const struct challenge_resp *m)
{
	json_t *o = json_object(), *ka = NULL;
	a11_err r = o ? A11_OK : A11_ERR_NOMEM;

	TRY(put_str(o, "session", m->session));
	TRY(j_put_bytes(o, "nonce", m->nonce.buffer, m->nonce.size));
	TRY(put_int(o, "expires", m->expires));
	TRY(j_put_TPML_PCR_SELECTION(o, "pcr_selection", &m->pcr_selection));
	TRY(j_put_TPM2B_ID_OBJECT(o, "credential_blob", &m->credential_blob));
	TRY(j_put_TPM2B_ENCRYPTED_SECRET(o, "encrypted_secret", &m->encrypted_secret));
	TRY(put_str(o, "kind", cred_kind_name(m->kind)));
	TRY(json_object_set_new(o, "bind_pcrs", json_boolean(m->bind_pcrs)) == 0 ? A11_OK
										  : A11_ERR_NOMEM);
	if (m->key_auth) {
		TRY((ka = json_object()) ? A11_OK : A11_ERR_NOMEM);
		TRY(j_put_bytes(ka, "salt", m->salt, sizeof(m->salt)));
		TRY(put_int(ka, "iterations", m->iterations));
		TRY(json_object_set_new(o, "key_auth", ka) == 0 ? A11_OK : A11_ERR_NOMEM);
		ka = NULL;
	}
	TRY(j_put_anchor(o, "lease_anchor", &m->anchor));
	if (m->eventlog)
		TRY(json_object_set_new(o, "eventlog", json_true()) == 0 ? A11_OK : A11_ERR_NOMEM);
out:
	json_decref(ka);
	return dump(o, r);
}

a11_err challenge_resp_decode(const char *json, size_t len, struct challenge_resp *m)
{
	json_t *o = parse_object(json, len, PROTO_MAX_BODY), *ka;
	char kind[16];
	int64_t v;
	size_t n;
	a11_err r = o ? A11_OK : A11_ERR_PARSE;

	memset(m, 0, sizeof(*m));
	if (r != A11_OK)
		goto out;
	TRY(j_hex_id(o, "session", PROTO_SESSION_LEN, m->session));
	TRY(j_bytes(o, "nonce", m->nonce.buffer, sizeof(m->nonce.buffer), &n));
	m->nonce.size = (UINT16)n;
	TRY(j_int(o, "expires", 0, PROTO_TIME_MAX, &m->expires));
	TRY(j_get_TPML_PCR_SELECTION(o, "pcr_selection", &m->pcr_selection));
	TRY(j_get_TPM2B_ID_OBJECT(o, "credential_blob", &m->credential_blob));
	TRY(j_get_TPM2B_ENCRYPTED_SECRET(o, "encrypted_secret", &m->encrypted_secret));
	TRY(j_str(o, "kind", kind, sizeof(kind)));
	TRY(cred_kind_parse(kind, &m->kind) == 0 ? A11_OK : A11_ERR_PARSE);
	TRY(json_is_boolean(json_object_get(o, "bind_pcrs")) ? A11_OK : A11_ERR_PARSE);
	m->bind_pcrs = json_is_true(json_object_get(o, "bind_pcrs"));
	if ((ka = json_object_get(o, "key_auth")) != NULL) {
		TRY(json_is_object(ka) ? A11_OK : A11_ERR_PARSE);
		TRY(j_bytes(ka, "salt", m->salt, sizeof(m->salt), &n));
		TRY(n == sizeof(m->salt) ? A11_OK : A11_ERR_PARSE);
		TRY(j_int(ka, "iterations", 1, 10000000, &v));
		m->iterations = (uint32_t)v;
		m->key_auth = true;
	}
	TRY(j_get_anchor(o, "lease_anchor", &m->anchor));
	/* Absent: a broker that does not appraise event logs. */
	if ((ka = json_object_get(o, "eventlog")) != NULL) {
		TRY(json_is_boolean(ka) ? A11_OK : A11_ERR_PARSE);
		m->eventlog = json_is_true(ka);
	}
	if (m->nonce.size < 16)
		r = A11_ERR_PARSE;
out:
	json_decref(o);
	return r == A11_OK ? A11_OK : A11_ERR_PARSE;
}

/* ---- evidence ---- */

static a11_err put_pcrs(json_t *o, const struct a11_pcr_values *p)
{
	json_t *a = json_array();
	a11_err r = a ? A11_OK : A11_ERR_NOMEM;

	for (uint32_t i = 0; r == A11_OK && i < p->count; i++) {
		char *b = b64_encode(p->v[i].buffer, p->v[i].size);
		r = b && json_array_append_new(a, json_string(b)) == 0 ? A11_OK : A11_ERR_NOMEM;
		free(b);
	}
	if (r == A11_OK)
		return json_object_set_new(o, "pcr_values", a) == 0 ? A11_OK : A11_ERR_NOMEM;
	json_decref(a);
	return r;
}

static a11_err get_pcrs(json_t *o, struct a11_pcr_values *p)
{
	json_t *a = json_object_get(o, "pcr_values");
	size_t n;

	if (!json_is_array(a) || json_array_size(a) > A11_PCR_MAX_VALUES)
		return A11_ERR_PARSE;
	p->count = (uint32_t)json_array_size(a);
	for (uint32_t i = 0; i < p->count; i++) {
		json_t *v = json_array_get(a, i);

		if (!json_is_string(v) ||
		    b64_decode(json_string_value(v), json_string_length(v), p->v[i].buffer,
			       sizeof(p->v[i].buffer), &n) != A11_OK || n == 0)
			return A11_ERR_PARSE;
		p->v[i].size = (UINT16)n;
	}
	return A11_OK;
}

char *evidence_req_encode(const struct evidence_req *m)
{
	json_t *o = json_object();
	a11_err r = o ? A11_OK : A11_ERR_NOMEM;

	TRY(put_str(o, "session", m->session));
	TRY(j_put_bytes(o, "activated", m->activated.buffer, m->activated.size));
	TRY(j_put_attest(o, "quote", "quote_signature", &m->quote));
	TRY(put_pcrs(o, &m->pcrs));
	if (m->has_parent) {
		TRY(j_put_TPM2B_PUBLIC(o, "parent_public", &m->parent));
		TRY(j_put_attest(o, "parent_certify", "parent_certify_signature",
				 &m->parent_certify));
	}
	if (m->has_key) {
		TRY(j_put_TPM2B_PUBLIC(o, "key_public", &m->key));
		TRY(j_put_attest(o, "key_certify", "key_certify_signature", &m->key_certify));
	}
	if (m->has_pin)
		TRY(j_put_bytes(o, "pin_auth", m->pin_auth.buffer, m->pin_auth.size));
	if (m->eventlog != NULL)
		TRY(m->eventlog_len <= PROTO_EVENTLOG_MAX
			    ? j_put_bytes(o, "eventlog", m->eventlog, m->eventlog_len)
			    : A11_ERR_ARG);
out:
	return dump(o, r);
}

/* public + certification: both or neither. */
static a11_err get_certified(json_t *o, const char *pub_key, const char *att, const char *sig,
			     TPM2B_PUBLIC *pub, struct proto_attest *a, bool *present)
{
	a11_err r1 = j_get_TPM2B_PUBLIC(o, pub_key, pub), r2 = j_get_attest(o, att, sig, a);

	*present = r1 == A11_OK && r2 == A11_OK;
	if (*present || (r1 == A11_ERR_NOT_FOUND && r2 == A11_ERR_NOT_FOUND))
		return A11_OK;
	return A11_ERR_PARSE;
}

/* Optional; when present a non-empty log of at most PROTO_EVENTLOG_MAX. */
static a11_err get_eventlog(json_t *o, struct evidence_req *m)
{
	json_t *v = json_object_get(o, "eventlog");
	size_t cap = json_string_length(v) / 4 * 3;

	if (v == NULL)
		return A11_OK;
	if (!json_is_string(v) || cap == 0)
		return A11_ERR_PARSE;
	if (cap > PROTO_EVENTLOG_MAX)
		cap = PROTO_EVENTLOG_MAX;
	if ((m->eventlog = malloc(cap)) == NULL)
		return A11_ERR_NOMEM;
	return b64_decode(json_string_value(v), json_string_length(v), m->eventlog, cap,
			  &m->eventlog_len);
}

void evidence_req_clear(struct evidence_req *m)
{
	free(m->eventlog);
	OPENSSL_cleanse(m, sizeof(*m));
}

a11_err evidence_req_decode(const char *json, size_t len, struct evidence_req *m)
{
	json_t *o = parse_object(json, len, PROTO_EVIDENCE_MAX_BODY);
	size_t n;
	a11_err r = o ? A11_OK : A11_ERR_PARSE;

	memset(m, 0, sizeof(*m));
	if (r != A11_OK)
		goto out;
	TRY(j_hex_id(o, "session", PROTO_SESSION_LEN, m->session));
	TRY(j_bytes(o, "activated", m->activated.buffer, sizeof(m->activated.buffer), &n));
	TRY(n > 0 ? A11_OK : A11_ERR_PARSE);
	m->activated.size = (UINT16)n;
	TRY(j_get_attest(o, "quote", "quote_signature", &m->quote));
	TRY(get_pcrs(o, &m->pcrs));
	TRY(get_certified(o, "parent_public", "parent_certify", "parent_certify_signature",
			  &m->parent, &m->parent_certify, &m->has_parent));
	TRY(get_certified(o, "key_public", "key_certify", "key_certify_signature", &m->key,
			  &m->key_certify, &m->has_key));
	TRY(opt(j_bytes(o, "pin_auth", m->pin_auth.buffer, sizeof(m->pin_auth.buffer), &n),
		&m->has_pin));
	if (m->has_pin) {
		TRY(n == WIRE_PIN_AUTH_LEN ? A11_OK : A11_ERR_PARSE);
		m->pin_auth.size = (UINT16)n;
	}
	TRY(get_eventlog(o, m));
out:
	json_decref(o);
	if (r != A11_OK)
		evidence_req_clear(m);
	return r == A11_OK ? A11_OK : A11_ERR_PARSE;
}
