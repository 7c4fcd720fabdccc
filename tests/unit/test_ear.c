/* EAR key files, the exact claims set, round trips and status tiers
 * (src/broker/ear.c, ear_key.c). Hostile tokens: test_ear_hostile.c. */
#include "ear_fixture.h"

/* ---- key files ---- */

/* RFC 7638 by hand with a format string, not with jansson. */
static void expected_kid(const char *pub_jwk, char kid[64])
{
	json_t *j = json_loads(pub_jwk, 0, NULL);
	char canon[512];
	unsigned char md[32];
	char *b;

	assert_non_null(j);
	snprintf(canon, sizeof(canon), "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
		 json_string_value(json_object_get(j, "crv")),
		 json_string_value(json_object_get(j, "kty")),
		 json_string_value(json_object_get(j, "x")),
		 json_string_value(json_object_get(j, "y")));
	assert_int_equal(EVP_Digest(canon, strlen(canon), md, NULL, EVP_sha256(), NULL), 1);
	b = b64u(md, sizeof(md));
	snprintf(kid, 64, "%s", b);
	free(b);
	json_decref(j);
}

static void test_keygen_files(void **state)
{
	struct fx *fx = *state;
	struct stat st;
	json_t *priv = json_loads(fx->priv_jwk, 0, NULL), *pub = json_loads(fx->pub_jwk, 0, NULL);
	char kid[64], *again;

	assert_int_equal(stat(fx->priv, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(fx->pub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_non_null(priv);
	assert_non_null(pub);
	assert_string_equal(json_string_value(json_object_get(priv, "kty")), "EC");
	assert_string_equal(json_string_value(json_object_get(priv, "crv")), "P-256");
	assert_non_null(json_string_value(json_object_get(priv, "d")));
	assert_null(json_object_get(pub, "d"));
	expected_kid(fx->pub_jwk, kid);
	assert_string_equal(json_string_value(json_object_get(pub, "kid")), kid);
	assert_string_equal(json_string_value(json_object_get(priv, "kid")), kid);
	/* O_EXCL: an existing key is never replaced. */
	assert_int_equal(ear_keygen(fx->priv, fx->pub), A11_ERR_EXISTS);
	again = slurp(fx->priv);
	assert_string_equal(again, fx->priv_jwk);
	free(again);
	json_decref(priv);
	json_decref(pub);
}

static void test_load_refuses(void **state)
{
	struct fx *fx = *state;
	struct ear_signer *s = NULL;
	char path[160];

	assert_int_equal(chmod(fx->priv, 0644), 0);
	assert_int_equal(ear_signer_load(fx->priv, &s), A11_ERR_IO);
	assert_null(s);
	assert_int_equal(chmod(fx->priv, 0640), 0);
	assert_int_equal(ear_signer_load(fx->priv, &s), A11_ERR_IO);
	assert_int_equal(chmod(fx->priv, 0600), 0);
	assert_int_equal(ear_signer_load(fx->priv, &s), A11_OK);
	ear_signer_free(s);
	s = NULL;

	snprintf(path, sizeof(path), "%s/pubonly.jwk", fx->dir);
	spit(path, fx->pub_jwk, 0600);
	assert_int_equal(ear_signer_load(path, &s), A11_ERR_ARG);
	snprintf(path, sizeof(path), "%s/rsa.jwk", fx->dir);
	spit(path, "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"d\":\"AQAB\"}", 0600);
	assert_int_equal(ear_signer_load(path, &s), A11_ERR_UNSUPPORTED);
	snprintf(path, sizeof(path), "%s/junk.jwk", fx->dir);
	spit(path, "not json", 0600);
	assert_int_equal(ear_signer_load(path, &s), A11_ERR_PARSE);
	assert_int_equal(ear_signer_load("/nonexistent/ear.jwk", &s), A11_ERR_IO);
	assert_null(s);
}

/* ---- round trip and claims ---- */

static void round_trip(struct fx *fx, const struct ear *e)
{
	struct ear back;
	char *jws = NULL;

	assert_int_equal(ear_sign(fx->signer, e, &jws), A11_OK);
	assert_int_equal(ear_verify(fx->pub_jwk, jws, &back), A11_OK);
	assert_same(e, &back);
	free(jws);
}

static void test_round_trip(void **state)
{
	struct fx *fx = *state;
	struct ear e;

	sample(&e, 32);
	/* Every claim, with distinct values across the tiers. */
	for (int i = 0; i < AR__COUNT; i++)
		e.tv[i] = 2 + 13 * i;
	e.tv[AR_SOURCED_DATA] = -5;
	round_trip(fx, &e);
	sample(&e, 8);
	round_trip(fx, &e);
	sample(&e, 64);
	memset(e.policy_id, 'p', sizeof(e.policy_id) - 1);
	e.policy_id[sizeof(e.policy_id) - 1] = '\0';
	round_trip(fx, &e);
	/* Many signatures: R or S with leading zero bytes must still be 64
	 * bytes (the signer pads, the verifier insists). */
	for (int i = 0; i < 300; i++) {
		sample(&e, 16);
		e.iat = i;
		round_trip(fx, &e);
	}
}

static void test_claims_exact(void **state)
{
	struct fx *fx = *state;
	struct ear e;
	char *jws = NULL, *nonce, kid[64];
	json_t *hdr, *c, *tpm, *tv, *vid;

	sample(&e, 32);
	e.tv[AR_EXECUTABLES] = AR_WARNING;
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_OK);
	hdr = segment_json(jws, 0);
	expected_kid(fx->pub_jwk, kid);
	assert_int_equal(json_object_size(hdr), 3);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")), kid);

	c = segment_json(jws, 1);
	assert_int_equal(json_object_size(c), 5);
	assert_string_equal(json_string_value(json_object_get(c, "eat_profile")),
			    "tag:github.com,2023:veraison/ear");
	assert_true(json_is_integer(json_object_get(c, "iat")));
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1795400000);
	vid = json_object_get(c, "ear.verifier-id");
	assert_int_equal(json_object_size(vid), 2);
	assert_string_equal(json_string_value(json_object_get(vid, "developer")), "attest11");
	assert_string_equal(json_string_value(json_object_get(vid, "build")), "attest11-broker 0.1");
	nonce = b64u(e.nonce, e.nonce_len);
	assert_string_equal(json_string_value(json_object_get(c, "eat_nonce")), nonce);
	assert_null(strchr(nonce, '='));
	assert_int_equal(json_object_size(json_object_get(c, "submods")), 1);
	tpm = json_object_get(json_object_get(c, "submods"), "tpm");
	assert_int_equal(json_object_size(tpm), 3);
	assert_string_equal(json_string_value(json_object_get(tpm, "ear.status")), "warning");
	assert_string_equal(json_string_value(json_object_get(tpm, "ear.appraisal-policy-id")),
			    "attest11:web:3");
	tv = json_object_get(tpm, "ear.trustworthiness-vector");
	/* Exactly the four appraised claims; AR_NO_CLAIM ones are absent. */
	assert_int_equal(json_object_size(tv), 4);
	assert_int_equal(json_integer_value(json_object_get(tv, "instance-identity")), 2);
	assert_int_equal(json_integer_value(json_object_get(tv, "hardware")), 2);
	assert_int_equal(json_integer_value(json_object_get(tv, "executables")), 32);
	assert_int_equal(json_integer_value(json_object_get(tv, "configuration")), 2);
	free(nonce);
	free(jws);
	json_decref(hdr);
	json_decref(c);
}

static void test_all_claim_names(void **state)
{
	static const char *const names[AR__COUNT] = {
		"instance-identity", "configuration", "executables", "file-system",
		"hardware", "runtime-opaque", "storage-opaque", "sourced-data",
	};
	struct fx *fx = *state;
	struct ear e;
	char *jws = NULL;
	json_t *c, *tv;

	sample(&e, 32);
	for (int i = 0; i < AR__COUNT; i++)
		e.tv[i] = 3 + i;
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_OK);
	c = segment_json(jws, 1);
	tv = json_object_get(json_object_get(json_object_get(c, "submods"), "tpm"),
			     "ear.trustworthiness-vector");
	assert_int_equal(json_object_size(tv), AR__COUNT);
	for (int i = 0; i < AR__COUNT; i++)
		assert_int_equal(json_integer_value(json_object_get(tv, names[i])), 3 + i);
	json_decref(c);
	free(jws);
}

/* ---- status ---- */

static enum ear_status status_with(int claim, int value)
{
	struct ear e;

	sample(&e, 8);
	if (claim >= 0)
		e.tv[claim] = value;
	return ear_status(&e);
}

static void test_status_tiers(void **state)
{
	struct ear e;

	(void)state;
	assert_int_equal(status_with(-1, 0), EAR_AFFIRMING);
	assert_int_equal(status_with(AR_HARDWARE, 31), EAR_AFFIRMING);
	assert_int_equal(status_with(AR_HARDWARE, AR_WARNING), EAR_WARNING);
	assert_int_equal(status_with(AR_FILE_SYSTEM, 95), EAR_WARNING);
	assert_int_equal(status_with(AR_HARDWARE, AR_CONTRAINDICATED), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, AR_UNRECOGNIZED), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, AR_CRYPTO_FAILED), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, 127), EAR_CONTRAINDICATED);
	/* Out of range or not understood: fail safe. */
	assert_int_equal(status_with(AR_EXECUTABLES, 1), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, -1), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, -128), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, 128), EAR_CONTRAINDICATED);
	assert_int_equal(status_with(AR_EXECUTABLES, 100000), EAR_CONTRAINDICATED);
	memset(&e, 0, sizeof(e));
	assert_int_equal(ear_status(&e), EAR_NONE);
	assert_string_equal(ear_status_name(EAR_NONE), "none");
	assert_string_equal(ear_status_name(EAR_AFFIRMING), "affirming");
	assert_string_equal(ear_status_name(EAR_WARNING), "warning");
	assert_string_equal(ear_status_name(EAR_CONTRAINDICATED), "contraindicated");
}

static void test_status_in_token(void **state)
{
	struct fx *fx = *state;
	static const struct { int v; const char *name; } cases[] = {
		{ 0, "none" }, { 2, "affirming" }, { 33, "warning" }, { 99, "contraindicated" },
		{ -3, "contraindicated" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ear e;
		char *jws = NULL;
		json_t *c;

		sample(&e, 16);
		memset(e.tv, 0, sizeof(e.tv));
		e.tv[AR_CONFIGURATION] = cases[i].v;
		assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_OK);
		c = segment_json(jws, 1);
		assert_string_equal(json_string_value(json_object_get(
			json_object_get(json_object_get(c, "submods"), "tpm"), "ear.status")),
			cases[i].name);
		round_trip(fx, &e);
		json_decref(c);
		free(jws);
	}
}

static void test_sign_args(void **state)
{
	struct fx *fx = *state;
	struct ear e;
	char sentinel = 0, *jws = &sentinel;

	sample(&e, 7);
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_ERR_ARG);
	assert_null(jws);
	sample(&e, 32);
	e.nonce_len = 65;
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_ERR_ARG);
	sample(&e, 32);
	e.policy_id[0] = '\0';
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_ERR_ARG);
	sample(&e, 32);
	memset(e.policy_id, 'x', sizeof(e.policy_id));   /* unterminated */
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_ERR_ARG);
	sample(&e, 32);
	e.tv[AR_HARDWARE] = 128;
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_ERR_ARG);
	sample(&e, 32);
	e.iat = -1;
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_ERR_ARG);
	assert_int_equal(ear_sign(NULL, &e, &jws), A11_ERR_ARG);
	assert_null(jws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_claim_names, setup, teardown),
		cmocka_unit_test(test_status_tiers),
		cmocka_unit_test_setup_teardown(test_status_in_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
