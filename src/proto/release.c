/* The broker's answer to good evidence: the credential, its lease and the
 * attestation result (docs/protocol.md, "POST /v1/evidence"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "json.h"
#include "proto.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)
#define EAR_MAX 16384

void release_clear(struct release *m)
{
	for (size_t i = 0; i < m->cert_count && i < PROTO_MAX_CERTS; i++)
		free(m->certs[i]);
	if (m->token_ct != NULL)
		OPENSSL_cleanse(m->token_ct, m->token_ct_len);
	free(m->token_ct);
	free(m->ear);
	OPENSSL_cleanse(m, sizeof(*m));
}

static a11_err put_key(json_t *o, const struct release *m)
{
	json_t *k = json_object();
	a11_err r = k ? A11_OK : A11_ERR_NOMEM;

	TRY(j_put_TPM2B_PUBLIC(k, "public", &m->pub));
	TRY(j_put_TPM2B_PRIVATE(k, "duplicate", &m->duplicate));
	TRY(j_put_TPM2B_ENCRYPTED_SECRET(k, "seed", &m->seed));
	r = j_set(o, "key", k);
	k = NULL;
out:
	json_decref(k);
	return r;
}

static a11_err put_policy(json_t *o, const struct release *m)
{
	json_t *p = json_object();
	a11_err r = p ? A11_OK : A11_ERR_NOMEM;

	if (m->pcr_bound)
		TRY(j_put_TPML_PCR_SELECTION(p, "pcr_selection", &m->pcr_selection));
	TRY(j_set(p, "auth_value", json_boolean(m->auth_value)));
	r = j_set(o, "policy", p);
	p = NULL;
out:
	json_decref(p);
	return r;
}

static a11_err put_certs(json_t *o, const struct release *m)
{
	json_t *a = json_array();
	a11_err r = a ? A11_OK : A11_ERR_NOMEM;

	for (size_t i = 0; r == A11_OK && i < m->cert_count; i++) {
		char *b = b64_encode(m->certs[i], m->cert_len[i]);
		r = b && json_array_append_new(a, json_string(b)) == 0 ? A11_OK : A11_ERR_NOMEM;
		free(b);
	}
	if (r == A11_OK)
		return j_set(o, "certificates", a);
	json_decref(a);
	return r;
}

static a11_err put_lease(json_t *o, const struct release *m)
{
	json_t *l = json_pack("{s:s, s:I, s:I}", "id", m->lease, "expires",
			      (json_int_t)m->lease_expires, "approved", (json_int_t)m->lease_approved);

	return j_set(o, "lease", l);
}

char *release_encode(const struct release *m)
{
	json_t *o = json_object(), *t = NULL;
	char *s = NULL;
	a11_err r = o ? A11_OK : A11_ERR_NOMEM;

	TRY(j_set(o, "kind", json_string(cred_kind_name(m->kind))));
	if (m->has_key)
		TRY(put_key(o, m));
	TRY(put_policy(o, m));
	if (m->cert_count > 0)
		TRY(put_certs(o, m));
	if (m->token_ct != NULL) {
		TRY((t = json_object()) ? A11_OK : A11_ERR_NOMEM);
		TRY(j_put_bytes(t, "ciphertext", m->token_ct, m->token_ct_len));
		TRY(j_set(o, "token", t));
		t = NULL;
	}
	TRY(put_lease(o, m));
	TRY(j_put_approval(o, "approval", &m->approval));
	TRY(j_set(o, "attestation_result", json_string(m->ear ? m->ear : "")));
	s = json_dumps(o, JSON_COMPACT);
out:
	json_decref(t);
	json_decref(o);
	return s;
}

static a11_err get_key(json_t *o, struct release *m)
{
	json_t *k = json_object_get(o, "key");
	a11_err r;

	if (k == NULL)
		return A11_OK;
	if (!json_is_object(k))
		return A11_ERR_PARSE;
	if ((r = j_get_TPM2B_PUBLIC(k, "public", &m->pub)) != A11_OK ||
	    (r = j_get_TPM2B_PRIVATE(k, "duplicate", &m->duplicate)) != A11_OK ||
	    (r = j_get_TPM2B_ENCRYPTED_SECRET(k, "seed", &m->seed)) != A11_OK)
		return A11_ERR_PARSE;
	m->has_key = true;
	return A11_OK;
}

static a11_err get_policy(json_t *o, struct release *m)
{
	json_t *p = json_object_get(o, "policy"), *av;
	a11_err r;

	if (!json_is_object(p) || !json_is_boolean(av = json_object_get(p, "auth_value")))
		return A11_ERR_PARSE;
	m->auth_value = json_is_true(av);
	r = j_get_TPML_PCR_SELECTION(p, "pcr_selection", &m->pcr_selection);
	m->pcr_bound = r == A11_OK;
	return r == A11_ERR_NOT_FOUND ? A11_OK : r;
}

static a11_err get_blob(json_t *v, size_t cap, uint8_t **out, size_t *len)
{
	uint8_t *buf;

	if (!json_is_string(v) || (buf = malloc(cap)) == NULL)
		return A11_ERR_PARSE;
	if (b64_decode(json_string_value(v), json_string_length(v), buf, cap, len) != A11_OK ||
	    *len == 0) {
		free(buf);
		return A11_ERR_PARSE;
	}
	*out = buf;
	return A11_OK;
}

static a11_err get_certs(json_t *o, struct release *m)
{
	json_t *a = json_object_get(o, "certificates");
	a11_err r = A11_OK;

	if (a == NULL)
		return A11_OK;
	if (!json_is_array(a) || json_array_size(a) > PROTO_MAX_CERTS)
		return A11_ERR_PARSE;
	for (size_t i = 0; r == A11_OK && i < json_array_size(a); i++) {
		r = get_blob(json_array_get(a, i), PROTO_CERT_MAX, &m->certs[i], &m->cert_len[i]);
		if (r == A11_OK)
			m->cert_count++;
	}
	return r;
}

static a11_err get_token(json_t *o, struct release *m)
{
	json_t *t = json_object_get(o, "token");

	if (t == NULL)
		return A11_OK;
	if (!json_is_object(t))
		return A11_ERR_PARSE;
	return get_blob(json_object_get(t, "ciphertext"), PROTO_TOKEN_MAX + 28, &m->token_ct,
			&m->token_ct_len);
}

/* Bounded so that deadlines computed from them (the module's renewal
 * time) cannot overflow: see PROTO_TIME_MAX. */
static a11_err get_lease(json_t *o, struct release *m)
{
	json_t *l = json_object_get(o, "lease");
	int64_t first;

	if (!json_is_object(l) || j_hex_id(l, "id", PROTO_LEASE_LEN, m->lease) != A11_OK ||
	    j_int(l, "expires", 0, PROTO_TIME_MAX, &m->lease_expires) != A11_OK)
		return A11_ERR_PARSE;
	first = m->lease_expires > PROTO_LEASE_TTL_MAX ? m->lease_expires - PROTO_LEASE_TTL_MAX : 0;
	return j_int(l, "approved", first, m->lease_expires, &m->lease_approved) == A11_OK
		       ? A11_OK : A11_ERR_PARSE;
}

static a11_err get_ear(json_t *o, struct release *m)
{
	json_t *ear = json_object_get(o, "attestation_result");

	if (!json_is_string(ear) || json_string_length(ear) > EAR_MAX)
		return A11_ERR_PARSE;
	return (m->ear = strdup(json_string_value(ear))) ? A11_OK : A11_ERR_NOMEM;
}

a11_err release_decode(const char *json, size_t len, struct release *m)
{
	json_error_t err;
	json_t *o = len <= PROTO_MAX_BODY ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &err) : NULL;
	char kind[16];
	a11_err r = json_is_object(o) ? A11_OK : A11_ERR_PARSE;

	memset(m, 0, sizeof(*m));
	if (r == A11_OK && (j_str(o, "kind", kind, sizeof(kind)) != A11_OK ||
			    cred_kind_parse(kind, &m->kind) != 0))
		r = A11_ERR_PARSE;
	if (r == A11_OK && (r = get_key(o, m)) == A11_OK && (r = get_policy(o, m)) == A11_OK &&
	    (r = get_certs(o, m)) == A11_OK && (r = get_token(o, m)) == A11_OK &&
	    (r = get_lease(o, m)) == A11_OK &&
	    (r = j_get_approval(o, "approval", &m->approval)) == A11_OK)
		r = get_ear(o, m);
	json_decref(o);
	if (r != A11_OK) {
		log_debug("release: malformed");
		release_clear(m);
		return A11_ERR_PARSE;
	}
	return A11_OK;
}

char *problem_encode(const char *code, const char *title, int status, const char *detail)
{
	char type[96];
	json_t *o;
	char *s;

	snprintf(type, sizeof(type), "urn:attest11:error:%s", code);
	o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", title, "status", status,
		      "code", code, "detail", detail ? detail : title);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

a11_err problem_decode(const char *json, size_t len, char *code, size_t code_cap,
		       char *detail, size_t detail_cap)
{
	json_error_t err;
	json_t *o = len <= PROTO_MAX_BODY ? json_loadb(json, len, 0, &err) : NULL;
	json_t *c = json_object_get(o, "code"), *d = json_object_get(o, "detail");
	a11_err r = json_is_string(c) ? A11_OK : A11_ERR_PARSE;

	if (r == A11_OK) {
		snprintf(code, code_cap, "%s", json_string_value(c));
		snprintf(detail, detail_cap, "%s", json_is_string(d) ? json_string_value(d) : "");
	}
	json_decref(o);
	return r;
}
