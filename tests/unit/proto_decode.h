/* One decode entry point for every message, so a rejection table can name
 * the message instead of the decoder; and rejection helpers on top of the
 * JSON surgery of proto_fixture.h. Header-only (static inline). */
#ifndef A11_TEST_PROTO_DECODE_H
#define A11_TEST_PROTO_DECODE_H

#include "proto_fixture.h"

/* Decode s[0..len) as message k; releases are cleared after decoding. */
static inline a11_err fx_decode_n(enum msg k, const char *s, size_t len)
{
	a11_err r = A11_ERR_ARG;

	switch (k) {
	case M_CREQ: {
		struct challenge_req *m = malloc(sizeof(*m));
		assert_non_null(m);
		r = challenge_req_decode(s, len, m);
		free(m);
		break;
	}
	case M_CRESP: {
		struct challenge_resp *m = malloc(sizeof(*m));
		assert_non_null(m);
		r = challenge_resp_decode(s, len, m);
		free(m);
		break;
	}
	case M_EVID: {
		struct evidence_req *m = malloc(sizeof(*m));
		assert_non_null(m);
		r = evidence_req_decode(s, len, m);
		free(m);
		break;
	}
	case M_REL: {
		struct release *m = malloc(sizeof(*m));
		assert_non_null(m);
		r = release_decode(s, len, m);
		if (r == A11_OK)
			release_clear(m);
		free(m);
		break;
	}
	}
	return r;
}

static inline a11_err fx_decode(enum msg k, const char *s)
{
	return fx_decode_n(k, s, strlen(s));
}

/* Decode base with member path set to v (stolen). */
static inline a11_err fx_try_set(enum msg k, const char *base, const char *path, json_t *v)
{
	char *s = fx_edit(base, path, v, false);
	a11_err r = fx_decode(k, s);

	free(s);
	return r;
}

/* Decode base with member path set to JSON text. */
static inline a11_err fx_try_json(enum msg k, const char *base, const char *path,
				  const char *json)
{
	json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	assert_non_null(v);
	return fx_try_set(k, base, path, v);
}

static inline a11_err fx_try_del(enum msg k, const char *base, const char *path)
{
	char *s = fx_edit(base, path, NULL, true);
	a11_err r = fx_decode(k, s);

	free(s);
	return r;
}

/* Decode base with member path replaced by n bytes of value x (base64). */
static inline a11_err fx_try_len(enum msg k, const char *base, const char *path, size_t n,
				 uint8_t x)
{
	uint8_t *p = malloc(n ? n : 1);
	char *s;
	a11_err r;

	assert_non_null(p);
	memset(p, x, n);
	s = fx_with_bytes(base, path, p, n);
	r = fx_decode(k, s);
	free(s);
	free(p);
	return r;
}

/* A base64 member holding one TPM structure: every truncation, one
 * trailing byte, and the empty string are rejected; the original passes. */
static inline void fx_tpm_exact(enum msg k, const char *base, const char *path)
{
	size_t n;
	uint8_t *p = fx_member_bytes(base, path, &n), *q = malloc(n + 1);
	char *s;

	assert_non_null(q);
	memcpy(q, p, n);
	for (size_t cut = 0; cut < n; cut++) {
		s = fx_with_bytes(base, path, q, cut);
		if (fx_decode(k, s) != A11_ERR_PARSE)
			fail_msg("%s truncated to %zu of %zu bytes was accepted", path, cut, n);
		free(s);
	}
	q[n] = 0;
	s = fx_with_bytes(base, path, q, n + 1);
	assert_int_equal(fx_decode(k, s), A11_ERR_PARSE);
	free(s);
	s = fx_with_bytes(base, path, q, n);
	assert_int_equal(fx_decode(k, s), A11_OK);
	free(s);
	free(p);
	free(q);
}

/* A valid evidence request, encoded. malloc'd. */
static inline char *fx_evid_base(bool parent, bool key, bool pin)
{
	struct evidence_req *m = malloc(sizeof(*m));
	char *s;

	assert_non_null(m);
	fx_evid(m, parent, key, pin);
	s = evidence_req_encode(m);
	assert_non_null(s);
	free(m);
	return s;
}

/* Not JSON, not an object, duplicate keys, truncated by len, over the
 * message's body limit. */
static inline void fx_generic_rejects(enum msg k, const char *base, const char *dup_member)
{
	static const char *const junk[] = {
		"", " ", "{", "}", "nope", "null", "true", "42", "\"text\"", "[]", "{}",
		"{\"a\":1,}", "\xef\xbb\xbf{}",
	};
	size_t blen = strlen(base);
	char *s = malloc(blen + 3), *d;
	json_t *root = json_loads(base, 0, NULL);

	assert_non_null(s);
	assert_non_null(root);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(fx_decode(k, junk[i]), A11_ERR_PARSE);
	/* The valid object inside an array. */
	s[0] = '[';
	memcpy(s + 1, base, blen);
	memcpy(s + 1 + blen, "]", 2);
	assert_int_equal(fx_decode(k, s), A11_ERR_PARSE);
	/* The length bounds the text: one byte short is truncated JSON. */
	assert_int_equal(fx_decode_n(k, base, blen - 1), A11_ERR_PARSE);
	assert_int_equal(fx_decode_n(k, base, 0), A11_ERR_PARSE);
	free(s);
	/* The same member twice, both times with its valid value. */
	d = json_dumps(json_object_get(root, dup_member), JSON_ENCODE_ANY | JSON_COMPACT);
	assert_non_null(d);
	s = malloc(blen + strlen(dup_member) + strlen(d) + 8);
	assert_non_null(s);
	sprintf(s, "{\"%s\":%s,%s", dup_member, d, base + 1);
	assert_int_equal(fx_decode(k, s), A11_ERR_PARSE);
	free(s);
	free(d);
	json_decref(root);
	/* 64 KiB is the limit (the evidence's, which may carry an event log,
	 * is larger): exactly that is read, one byte more is not. */
	s = fx_pad_to(base, k == M_EVID ? PROTO_EVIDENCE_MAX_BODY : PROTO_MAX_BODY);
	assert_int_equal(fx_decode(k, s), A11_OK);
	free(s);
	s = fx_pad_to(base, (k == M_EVID ? PROTO_EVIDENCE_MAX_BODY : PROTO_MAX_BODY) + 1);
	assert_int_equal(fx_decode(k, s), A11_ERR_PARSE);
	free(s);
	/* Unknown members are ignored. */
	assert_int_equal(fx_try_json(k, base, "future_member", "{\"x\":[1,2]}"), A11_OK);
}

/* Bad base64 in a member that takes bytes. */
static inline void fx_bad_b64(enum msg k, const char *base, const char *path)
{
	static const char *const bad[] = {
		"AAA",        /* length not a multiple of 4 */
		"AAAAA",
		"AA=A",       /* padding in the middle */
		"A===",       /* too much padding */
		"====",
		"AA==AAAA",
		"AAA*",       /* bad characters */
		"AA-_",       /* base64url is not base64 */
		"AA AA",
		"AAAA\n",     /* whitespace, which EVP_DecodeBlock would skip */
		" AAAA",
		"AAAA\r\n",
		"AA\tA",
		"AA\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fx_try_set(k, base, path, json_string(bad[i])) != A11_ERR_PARSE)
			fail_msg("%s = \"%s\" was accepted", path, bad[i]);
	assert_int_equal(fx_try_json(k, base, path, "123"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(k, base, path, "null"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(k, base, path, "[\"AAAA\"]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(k, base, path, "{}"), A11_ERR_PARSE);
}

#endif
