/* Protocol v1 messages (src/proto): every message round-trips field by
 * field (challenge request and response, evidence with and without parent,
 * key and PIN, release with key, certificates and token), problem details
 * round-trip, and a mutation loop replaces every byte of valid evidence and
 * release bodies: nothing may crash and anything accepted must still be
 * within the documented bounds. Meant for ASan/UBSan as well:
 * make tests SANITIZE=1, then build/san/tests/unit/test_proto.
 * The decoders' refusals are in test_proto_reject.c. */
#include <stdio.h>

#include "proto_decode.h"
#include "../../src/proto/refusal.h"

/* ---- round trips: encode, decode, compare field by field ---- */

static void creq_roundtrip(bool lease)
{
	struct challenge_req *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *s;

	assert_true(a != NULL && b != NULL);
	fx_creq(a, lease);
	s = challenge_req_encode(a);
	assert_non_null(s);
	assert_int_equal(challenge_req_decode(s, strlen(s), b), A11_OK);
	assert_string_equal(a->credential, b->credential);
	assert_int_equal(a->ek_cert_len, b->ek_cert_len);
	assert_memory_equal(a->ek_cert, b->ek_cert, a->ek_cert_len);
	eq_public(&a->ek, &b->ek);
	eq_public(&a->ak, &b->ak);
	assert_string_equal(a->lease, b->lease);
	assert_int_equal(strstr(s, "\"lease\"") != NULL, lease);
	free(s);
	free(a);
	free(b);
}

static void test_creq_roundtrip(void **state)
{
	(void)state;
	creq_roundtrip(false);
	creq_roundtrip(true);
}

static void cresp_roundtrip(bool key_auth)
{
	struct challenge_resp a, b;
	char *s;

	fx_cresp(&a, key_auth);
	s = challenge_resp_encode(&a);
	assert_non_null(s);
	assert_int_equal(challenge_resp_decode(s, strlen(s), &b), A11_OK);
	assert_string_equal(a.session, b.session);
	assert_int_equal(a.nonce.size, b.nonce.size);
	assert_memory_equal(a.nonce.buffer, b.nonce.buffer, a.nonce.size);
	assert_int_equal(a.expires, b.expires);
	eq_anchor(&a.anchor, &b.anchor);
	eq_sel(&a.pcr_selection, &b.pcr_selection);
	assert_int_equal(a.credential_blob.size, b.credential_blob.size);
	assert_memory_equal(a.credential_blob.credential, b.credential_blob.credential,
			    a.credential_blob.size);
	assert_int_equal(a.encrypted_secret.size, b.encrypted_secret.size);
	assert_memory_equal(a.encrypted_secret.secret, b.encrypted_secret.secret,
			    a.encrypted_secret.size);
	assert_int_equal(a.kind, b.kind);
	assert_int_equal(a.bind_pcrs, b.bind_pcrs);
	assert_int_equal(a.key_auth, b.key_auth);
	assert_memory_equal(a.salt, b.salt, sizeof(a.salt));
	assert_int_equal(a.iterations, b.iterations);
	free(s);
}

static void test_cresp_roundtrip(void **state)
{
	struct challenge_resp m, d;
	char *s;

	(void)state;
	cresp_roundtrip(false);
	cresp_roundtrip(true);
	/* Every kind, and bind_pcrs false. */
	for (int k = CRED_REPOSITORY; k <= CRED_TOKEN; k++) {
		fx_cresp(&m, false);
		m.kind = (enum cred_kind)k;
		m.bind_pcrs = false;
		s = challenge_resp_encode(&m);
		assert_non_null(s);
		assert_int_equal(challenge_resp_decode(s, strlen(s), &d), A11_OK);
		assert_int_equal(d.kind, k);
		assert_false(d.bind_pcrs);
		free(s);
	}
}

static void evid_roundtrip(bool parent, bool key, bool pin)
{
	struct evidence_req *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *s;

	assert_true(a != NULL && b != NULL);
	fx_evid(a, parent, key, pin);
	s = evidence_req_encode(a);
	assert_non_null(s);
	assert_int_equal(evidence_req_decode(s, strlen(s), b), A11_OK);
	assert_string_equal(a->session, b->session);
	assert_int_equal(a->activated.size, b->activated.size);
	assert_memory_equal(a->activated.buffer, b->activated.buffer, a->activated.size);
	eq_attest(&a->quote, &b->quote);
	assert_int_equal(a->pcrs.count, b->pcrs.count);
	for (uint32_t i = 0; i < a->pcrs.count; i++) {
		assert_int_equal(a->pcrs.v[i].size, b->pcrs.v[i].size);
		assert_memory_equal(a->pcrs.v[i].buffer, b->pcrs.v[i].buffer, a->pcrs.v[i].size);
	}
	assert_int_equal(b->has_parent, parent);
	if (parent) {
		eq_public(&a->parent, &b->parent);
		eq_attest(&a->parent_certify, &b->parent_certify);
	}
	assert_int_equal(b->has_key, key);
	if (key) {
		eq_public(&a->key, &b->key);
		eq_attest(&a->key_certify, &b->key_certify);
	}
	assert_int_equal(b->has_pin, pin);
	assert_memory_equal(&a->pin_auth, &b->pin_auth, sizeof(a->pin_auth));
	free(s);
	free(a);
	free(b);
}

static void test_evid_roundtrip(void **state)
{
	(void)state;
	for (int i = 0; i < 8; i++)
		evid_roundtrip(i & 1, i & 2, i & 4);
}

/* The challenge's eventlog flag: absent reads as false (older brokers),
 * true goes through, anything but a boolean is refused. */
static void test_cresp_eventlog(void **state)
{
	struct challenge_resp m, d;
	json_t *o;
	char *s, *t;

	(void)state;
	fx_cresp(&m, false);
	m.eventlog = true;
	s = challenge_resp_encode(&m);
	assert_non_null(strstr(s, "\"eventlog\":true"));
	assert_int_equal(challenge_resp_decode(s, strlen(s), &d), A11_OK);
	assert_true(d.eventlog);
	o = json_loads(s, 0, NULL);
	json_object_del(o, "eventlog");
	t = json_dumps(o, JSON_COMPACT);
	assert_int_equal(challenge_resp_decode(t, strlen(t), &d), A11_OK);
	assert_false(d.eventlog);
	free(t);
	json_object_set_new(o, "eventlog", json_string("yes"));
	t = json_dumps(o, JSON_COMPACT);
	assert_int_equal(challenge_resp_decode(t, strlen(t), &d), A11_ERR_PARSE);
	free(t);
	json_decref(o);
	free(s);
}

/* The evidence's event log: up to PROTO_EVENTLOG_MAX bytes go through in
 * a body over PROTO_MAX_BODY; one byte more, or an empty log, is refused. */
static void test_evid_eventlog(void **state)
{
	struct evidence_req *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char *s;

	(void)state;
	assert_true(a != NULL && b != NULL);
	fx_evid(a, false, false, false);
	a->eventlog_len = PROTO_EVENTLOG_MAX;
	a->eventlog = malloc(PROTO_EVENTLOG_MAX + 1);
	fx_fill(a->eventlog, PROTO_EVENTLOG_MAX + 1, 77);
	s = evidence_req_encode(a);
	assert_non_null(s);
	assert_true(strlen(s) > PROTO_MAX_BODY && strlen(s) <= PROTO_EVIDENCE_MAX_BODY);
	assert_int_equal(evidence_req_decode(s, strlen(s), b), A11_OK);
	assert_int_equal(b->eventlog_len, PROTO_EVENTLOG_MAX);
	assert_memory_equal(a->eventlog, b->eventlog, PROTO_EVENTLOG_MAX);
	evidence_req_clear(b);
	free(s);
	/* The encoder will not send more; a forged body with more is refused. */
	a->eventlog_len = PROTO_EVENTLOG_MAX + 1;
	assert_null(evidence_req_encode(a));
	a->eventlog_len = PROTO_EVENTLOG_MAX - 2;
	s = evidence_req_encode(a);
	{
		char *e = strstr(s, "\"eventlog\":\"") + 12, *q = strchr(e, '"');
		char *big = malloc(strlen(s) + 8);

		/* Four more base64 characters: one byte more than the limit allows. */
		sprintf(big, "%.*sAAAA%s", (int)(e - s), s, e);
		assert_int_equal(evidence_req_decode(big, strlen(big), b), A11_ERR_PARSE);
		assert_null(b->eventlog);
		free(big);
		memcpy(e, "\"", 1);
		memmove(e + 1, q + 1, strlen(q + 1) + 1); /* "eventlog":"" */
		assert_int_equal(evidence_req_decode(s, strlen(s), b), A11_ERR_PARSE);
	}
	free(s);
	evidence_req_clear(a);
	free(a);
	free(b);
}

static void rel_roundtrip(size_t certs, bool token, bool key, bool pcr_bound)
{
	struct release a, b;
	char *s;

	fx_rel(&a, certs, token);
	a.has_key = key;
	a.pcr_bound = pcr_bound;
	a.auth_value = !pcr_bound;
	s = release_encode(&a);
	assert_non_null(s);
	assert_int_equal(release_decode(s, strlen(s), &b), A11_OK);
	assert_int_equal(a.kind, b.kind);
	assert_int_equal(a.has_key, b.has_key);
	if (key) {
		eq_public(&a.pub, &b.pub);
		assert_int_equal(a.duplicate.size, b.duplicate.size);
		assert_memory_equal(a.duplicate.buffer, b.duplicate.buffer, a.duplicate.size);
		assert_int_equal(a.seed.size, b.seed.size);
		assert_memory_equal(a.seed.secret, b.seed.secret, a.seed.size);
	}
	assert_int_equal(a.pcr_bound, b.pcr_bound);
	if (pcr_bound)
		eq_sel(&a.pcr_selection, &b.pcr_selection);
	assert_int_equal(a.auth_value, b.auth_value);
	assert_int_equal(a.cert_count, b.cert_count);
	for (size_t i = 0; i < a.cert_count; i++) {
		assert_int_equal(a.cert_len[i], b.cert_len[i]);
		assert_memory_equal(a.certs[i], b.certs[i], a.cert_len[i]);
	}
	assert_int_equal(a.token_ct_len, b.token_ct_len);
	assert_int_equal(a.token_ct == NULL, b.token_ct == NULL);
	if (token)
		assert_memory_equal(a.token_ct, b.token_ct, a.token_ct_len);
	assert_string_equal(a.lease, b.lease);
	assert_int_equal(a.lease_expires, b.lease_expires);
	assert_int_equal(a.lease_approved, b.lease_approved);
	eq_approval(&a.approval, &b.approval);
	assert_string_equal(a.ear, b.ear);
	free(s);
	release_clear(&a);
	release_clear(&b);
	/* release_clear leaves nothing behind. */
	assert_null(b.ear);
	assert_int_equal(b.cert_count, 0);
}

static void test_rel_roundtrip(void **state)
{
	(void)state;
	rel_roundtrip(3, false, true, true);
	rel_roundtrip(0, true, true, false);   /* token */
	rel_roundtrip(PROTO_MAX_CERTS, false, false, true); /* ca: no key */
	rel_roundtrip(1, true, false, false);
}

/* ---- problem details ---- */

static a11_err pd(const char *s, char *code, char *detail)
{
	return problem_decode(s, strlen(s), code, 32, detail, 128);
}

static void test_problem(void **state)
{
	char code[32], detail[128], small[5];
	char *s;

	(void)state;
	s = problem_encode("pcr_values", "PCR values are not among the reference values", 403,
			   "boot state changed");
	assert_non_null(s);
	assert_non_null(strstr(s, "\"type\":\"urn:attest11:error:pcr_values\""));
	assert_non_null(strstr(s, "\"status\":403"));
	assert_non_null(strstr(s, "\"title\":\"PCR values are not among the reference values\""));
	assert_int_equal(problem_decode(s, strlen(s), code, sizeof(code), detail, sizeof(detail)),
			 A11_OK);
	assert_string_equal(code, "pcr_values");
	assert_string_equal(detail, "boot state changed");
	/* Truncated to the buffers, always terminated. */
	assert_int_equal(problem_decode(s, strlen(s), small, sizeof(small), detail, 5), A11_OK);
	assert_string_equal(small, "pcr_");
	assert_string_equal(detail, "boot");
	free(s);
	/* Without a detail, the title stands in. */
	s = problem_encode("internal", "the broker failed", 500, NULL);
	assert_non_null(s);
	assert_int_equal(problem_decode(s, strlen(s), code, sizeof(code), detail, sizeof(detail)),
			 A11_OK);
	assert_string_equal(code, "internal");
	assert_string_equal(detail, "the broker failed");
	free(s);
	/* A code alone is enough; detail then reads empty. */
	assert_int_equal(pd("{\"code\":\"x\"}", code, detail), A11_OK);
	assert_string_equal(code, "x");
	assert_string_equal(detail, "");
	assert_int_equal(pd("{\"code\":\"x\",\"detail\":5}", code, detail), A11_OK);
	assert_string_equal(detail, "");
	/* No code, not a string, not JSON, not an object. */
	assert_int_equal(pd("{\"detail\":\"d\"}", code, detail), A11_ERR_PARSE);
	assert_int_equal(pd("{\"code\":3}", code, detail), A11_ERR_PARSE);
	assert_int_equal(pd("<html>", code, detail), A11_ERR_PARSE);
	assert_int_equal(pd("[\"code\"]", code, detail), A11_ERR_PARSE);
	assert_int_equal(pd("", code, detail), A11_ERR_PARSE);
	/* 64 KiB and no more. */
	s = fx_pad_to("{\"code\":\"x\"}", PROTO_MAX_BODY);
	assert_int_equal(problem_decode(s, strlen(s), code, sizeof(code), detail, sizeof(detail)),
			 A11_OK);
	free(s);
	s = fx_pad_to("{\"code\":\"x\"}", PROTO_MAX_BODY + 1);
	assert_int_equal(problem_decode(s, strlen(s), code, sizeof(code), detail, sizeof(detail)),
			 A11_ERR_PARSE);
	free(s);
}

/* ---- mutations: every byte replaced, nothing out of bounds ---- */

static bool all_hex(const char *s)
{
	return strspn(s, "0123456789abcdef") == strlen(s);
}

/* What an accepted evidence request may contain, whatever the input. */
static void evid_bounded(const struct evidence_req *m)
{
	assert_int_equal(strlen(m->session), PROTO_SESSION_LEN);
	assert_true(all_hex(m->session));
	assert_in_range(m->activated.size, 1, sizeof(m->activated.buffer));
	assert_in_range(m->quote.len, 1, sizeof(m->quote.data));
	assert_in_range(m->pcrs.count, 0, A11_PCR_MAX_VALUES);
	for (uint32_t i = 0; i < m->pcrs.count; i++)
		assert_in_range(m->pcrs.v[i].size, 1, sizeof(m->pcrs.v[i].buffer));
	if (m->has_parent) {
		assert_in_range(m->parent_certify.len, 1, sizeof(m->parent_certify.data));
		assert_in_range(m->parent.size, 1, sizeof(m->parent.publicArea));
	}
	if (m->has_key) {
		assert_in_range(m->key_certify.len, 1, sizeof(m->key_certify.data));
		assert_in_range(m->key.size, 1, sizeof(m->key.publicArea));
	}
	assert_int_equal(m->pin_auth.size, m->has_pin ? WIRE_PIN_AUTH_LEN : 0);
}

static void rel_bounded(const struct release *m)
{
	assert_in_range(m->cert_count, 0, PROTO_MAX_CERTS);
	for (size_t i = 0; i < m->cert_count; i++) {
		assert_non_null(m->certs[i]);
		assert_in_range(m->cert_len[i], 1, PROTO_CERT_MAX);
	}
	assert_true(m->token_ct == NULL || (m->token_ct_len >= 1 &&
					    m->token_ct_len <= PROTO_TOKEN_MAX + 28));
	assert_int_equal(strlen(m->lease), PROTO_LEASE_LEN);
	assert_non_null(m->ear);
	assert_in_range(strlen(m->ear), 0, 16384);
}

static const uint8_t mutations[] = { '"', '0', 'A', '}', 0x80, '\\', '=', ',', 0x00, 0xff };

/* Each byte replaced by each mutation, then every prefix; heap copies of
 * the exact length so ASan sees any read past the end. */
static void test_evid_mutations(void **state)
{
	struct evidence_req *m = malloc(sizeof(*m));
	char *base = fx_evid_base(true, true, true);
	size_t n = strlen(base), accepted = 0;
	char *s = malloc(n);

	(void)state;
	assert_true(m != NULL && s != NULL);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(mutations); k++) {
			memcpy(s, base, n);
			if ((uint8_t)s[i] == mutations[k])
				continue;
			s[i] = (char)mutations[k];
			if (evidence_req_decode(s, n, m) == A11_OK) {
				evid_bounded(m);
				accepted++;
			}
		}
	}
	for (size_t len = 0; len < n; len++) {
		char *p = malloc(len ? len : 1);

		assert_non_null(p);
		memcpy(p, base, len);
		assert_int_equal(evidence_req_decode(p, len, m), A11_ERR_PARSE);
		free(p);
	}
	/* Some mutations are harmless (a pcr value byte, a PIN character). */
	assert_true(accepted > 0);
	assert_int_equal(evidence_req_decode(base, n, m), A11_OK);
	evid_bounded(m);
	free(s);
	free(base);
	free(m);
}

/* Releases own heap memory: a refusal half-way must free what it took. */
static void test_rel_mutations(void **state)
{
	struct release r, *m = malloc(sizeof(*m));
	char *base, *s;
	size_t n;

	(void)state;
	assert_non_null(m);
	fx_rel(&r, 3, true);
	base = release_encode(&r);
	assert_non_null(base);
	release_clear(&r);
	n = strlen(base);
	s = malloc(n);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(mutations); k++) {
			memcpy(s, base, n);
			s[i] = (char)mutations[k];
			if (release_decode(s, n, m) == A11_OK) {
				rel_bounded(m);
				release_clear(m);
			} else {
				assert_null(m->ear);
				assert_int_equal(m->cert_count, 0);
				assert_null(m->token_ct);
			}
		}
	}
	free(s);
	free(base);
	free(m);
}

/* Every code parses back to its refusal, so clients compare enums, never
 * strings; a code this version does not know is none of them. */
static void test_refusal_codes(void **state)
{
	(void)state;
	for (int r = 0; r < REF__COUNT; r++) {
		assert_int_equal(refusal_parse(refusal_code((enum refusal)r)), r);
		for (int o = 0; o < r; o++)
			assert_string_not_equal(refusal_code((enum refusal)r),
						refusal_code((enum refusal)o));
	}
	assert_int_equal(refusal_parse("lease_revoked_v2"), REF__COUNT);
	assert_int_equal(refusal_parse(""), REF__COUNT);
	assert_int_equal(refusal_parse(NULL), REF__COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusal_codes),
		cmocka_unit_test(test_creq_roundtrip),
		cmocka_unit_test(test_cresp_roundtrip),
		cmocka_unit_test(test_evid_roundtrip),
		cmocka_unit_test(test_cresp_eventlog),
		cmocka_unit_test(test_evid_eventlog),
		cmocka_unit_test(test_rel_roundtrip),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_evid_mutations),
		cmocka_unit_test(test_rel_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
