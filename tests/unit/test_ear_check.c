/* The module's own check of the broker's EAR (src/attester/ear.c), which
 * must not link cjose: a token the broker signed for this exchange passes;
 * tokens from another key or kid, with another algorithm (none, HS256),
 * tampered, with a critical header, another profile, another session's
 * nonce, or a malformed signature do not, and a release keeps only a
 * verified EAR. The tokens come from the broker's signer (src/broker/ear.c)
 * or are signed here through cjose. */
#include <openssl/hmac.h>

#include "ear_fixture.h"
#include "../../src/attester/ear.h"

static void nonce_of(const struct ear *e, TPM2B_DATA *n)
{
	n->size = (UINT16)e->nonce_len;
	memcpy(n->buffer, e->nonce, e->nonce_len);
}

/* A genuine token for a fresh 32-byte nonce. */
static char *token(struct fx *fx, TPM2B_DATA *nonce)
{
	struct ear e;
	char *jws = NULL;

	sample(&e, 32);
	nonce_of(&e, nonce);
	assert_int_equal(ear_sign(fx->signer, &e, &jws), A11_OK);
	return jws;
}

static void test_genuine(void **state)
{
	struct fx *fx = *state;
	TPM2B_DATA n;
	char *jws = token(fx, &n);

	assert_int_equal(attester_ear_verify(fx->pub, jws, &n), A11_OK);
	n.buffer[0] ^= 1; /* another session's nonce */
	assert_int_not_equal(attester_ear_verify(fx->pub, jws, &n), A11_OK);
	n.size = 16;
	assert_int_not_equal(attester_ear_verify(fx->pub, jws, &n), A11_OK);
	free(jws);
}

static void test_key_file(void **state)
{
	struct fx *fx = *state;
	TPM2B_DATA n;
	char *jws = token(fx, &n), path[160];

	assert_int_not_equal(attester_ear_verify(fx->other_pub, jws, &n), A11_OK);
	snprintf(path, sizeof(path), "%s/x.jwk", fx->dir);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK); /* absent */
	spit(path, "{\"kty\":\"EC\",\"crv\":\"P-256\"}", 0644);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	spit(path, "not json", 0644);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	/* The genuine key under another kid: the token names the broker's. */
	{
		json_t *k = json_loads(fx->pub_jwk, 0, NULL);
		char *s;

		assert_non_null(k);
		json_object_set_new(k, "kid", json_string("someone-else"));
		s = json_dumps(k, 0);
		spit(path, s, 0644);
		free(s);
		json_decref(k);
	}
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	free(jws);
}

/* ear_key as a JWK set {"keys": [...]}, the string of members given. */
static void set_file(const char *path, const char *members)
{
	char *text = malloc(strlen(members) + 16);

	assert_non_null(text);
	sprintf(text, "{\"keys\":[%s]}", members);
	spit(path, text, 0644);
	free(text);
}

/* jwk (the text of a JWK) under another kid, malloc'd. */
static char *with_kid(const char *jwk, const char *kid)
{
	json_t *k = json_loads(jwk, 0, NULL);
	char *s;

	assert_non_null(k);
	json_object_set_new(k, "kid", json_string(kid));
	s = json_dumps(k, 0);
	assert_non_null(s);
	json_decref(k);
	return s;
}

/* A rotation's overlap: the old and the new public key in one file, each
 * token checked by the key its kid names; a set is taken whole or not at
 * all (at most 4 keys, distinct kids, every member a public EC key). */
static void test_key_set(void **state)
{
	struct fx *fx = *state;
	struct ear_signer *other;
	struct ear e;
	TPM2B_DATA n, on;
	char *jws = token(fx, &n), *ojws = NULL, path[160], members[8192];
	const char *pub = fx->pub_jwk, *opub = fx->other_pub_jwk;

	assert_int_equal(ear_signer_load(fx->other_priv, &other), A11_OK);
	sample(&e, 32);
	nonce_of(&e, &on);
	assert_int_equal(ear_sign(other, &e, &ojws), A11_OK);
	ear_signer_free(other);
	snprintf(path, sizeof(path), "%s/x.jwk", fx->dir);

	snprintf(members, sizeof(members), "%s,%s", opub, pub);
	set_file(path, members);
	assert_int_equal(attester_ear_verify(path, jws, &n), A11_OK);
	assert_int_equal(attester_ear_verify(path, ojws, &on), A11_OK);
	assert_int_not_equal(attester_ear_verify(path, ojws, &n), A11_OK); /* still the nonce */
	assert_int_not_equal(attester_ear_verify(fx->pub, ojws, &on), A11_OK); /* the control */
	set_file(path, pub);
	assert_int_equal(attester_ear_verify(path, jws, &n), A11_OK);
	assert_int_not_equal(attester_ear_verify(path, ojws, &on), A11_OK);

	snprintf(members, sizeof(members), "%s,%s", pub, pub); /* a kid twice */
	set_file(path, members);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	{
		char *c = with_kid(opub, "c"), *d = with_kid(opub, "d"), *x = with_kid(opub, "x");

		snprintf(members, sizeof(members), "%s,%s,%s,%s", opub, c, d, pub);
		set_file(path, members); /* four: the most a set holds */
		assert_int_equal(attester_ear_verify(path, jws, &n), A11_OK);
		snprintf(members, sizeof(members), "%s,%s,%s,%s,%s", opub, c, d, x, pub);
		set_file(path, members); /* five */
		assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
		free(c);
		free(d);
		free(x);
	}
	snprintf(members, sizeof(members), "%s,%s", pub, fx->priv_jwk); /* a private member */
	set_file(path, members);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	snprintf(members, sizeof(members), "%s,{\"kty\":\"EC\"}", pub);
	set_file(path, members);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	set_file(path, "");
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	spit(path, "{\"keys\":{}}", 0644);
	assert_int_not_equal(attester_ear_verify(path, jws, &n), A11_OK);
	free(ojws);
	free(jws);
}

/* Signed with the verifier key and its kid: the claims and header are
 * the test's. */
static char *signed_by_broker(struct fx *fx, json_t *claims, const char *crit)
{
	json_t *pub = json_loads(fx->pub_jwk, 0, NULL);
	char *jws;

	assert_non_null(pub);
	jws = hand_sign(fx, claims, crit, json_string_value(json_object_get(pub, "kid")));
	json_decref(pub);
	return jws;
}

static json_t *claims(const char *profile, const TPM2B_DATA *n)
{
	char *nonce = b64u(n->buffer, n->size);
	json_t *c = json_pack("{s:s, s:I, s:s, s:{s:{s:s}}}", "eat_profile", profile, "iat",
			      (json_int_t)1795400000, "eat_nonce", nonce, "submods", "tpm",
			      "ear.status", "affirming");

	free(nonce);
	assert_non_null(c);
	return c;
}

static void test_claims_and_header(void **state)
{
	struct fx *fx = *state;
	TPM2B_DATA n = { .size = 32 };
	char *jws;

	memset(n.buffer, 7, 32);
	jws = signed_by_broker(fx, claims(EAR_PROFILE, &n), NULL);
	assert_int_equal(attester_ear_verify(fx->pub, jws, &n), A11_OK); /* the control */
	free(jws);
	jws = signed_by_broker(fx, claims("tag:example.com,2024:other", &n), NULL);
	assert_int_not_equal(attester_ear_verify(fx->pub, jws, &n), A11_OK);
	free(jws);
	jws = signed_by_broker(fx, claims(EAR_PROFILE, &n), "[\"exp\"]");
	assert_int_not_equal(attester_ear_verify(fx->pub, jws, &n), A11_OK);
	free(jws);
}

static void test_forged(void **state)
{
	struct fx *fx = *state;
	TPM2B_DATA n;
	char *jws = token(fx, &n), *t, *sig;
	unsigned char mac[32];
	unsigned int mac_len = 0;
	size_t len = strlen(jws);

	t = reheader(jws, "{\"alg\":\"none\"}", "");
	assert_int_not_equal(attester_ear_verify(fx->pub, t, &n), A11_OK);
	free(t);
	t = reheader(jws, "{\"alg\":\"HS256\"}", "");
	t[strlen(t) - 1] = '\0';
	assert_non_null(HMAC(EVP_sha256(), fx->pub_jwk, (int)strlen(fx->pub_jwk),
			     (const unsigned char *)t, strlen(t), mac, &mac_len));
	free(t);
	sig = b64u(mac, mac_len);
	t = reheader(jws, "{\"alg\":\"HS256\"}", sig);
	assert_int_not_equal(attester_ear_verify(fx->pub, t, &n), A11_OK);
	free(t);
	free(sig);
	t = calloc(1, len + 4);
	assert_non_null(t);
	memcpy(t, jws, len);
	t[strchr(jws, '.') - jws + 5] ^= 1; /* the payload */
	assert_int_not_equal(attester_ear_verify(fx->pub, t, &n), A11_OK);
	memcpy(t, jws, len);
	t[len] = 'A';                   /* a 65-byte signature */
	assert_int_not_equal(attester_ear_verify(fx->pub, t, &n), A11_OK);
	t[len] = '.';
	assert_int_not_equal(attester_ear_verify(fx->pub, t, &n), A11_OK);
	t[len] = '\0';
	t[len - 1] = '\0';              /* truncated */
	assert_int_not_equal(attester_ear_verify(fx->pub, t, &n), A11_OK);
	assert_int_not_equal(attester_ear_verify(fx->pub, "", &n), A11_OK);
	assert_int_not_equal(attester_ear_verify(fx->pub, "a.b", &n), A11_OK);
	assert_int_not_equal(attester_ear_verify(fx->pub, "..", &n), A11_OK);
	free(t);
	free(jws);
}

/* What a release keeps: a verified EAR, marked so; nothing from a failed
 * check; without a key, the EAR unverified (never shown by the module). */
static void test_release_keeps(void **state)
{
	struct fx *fx = *state;
	struct release rel;
	TPM2B_DATA n;

	memset(&rel, 0, sizeof(rel));
	rel.ear = token(fx, &n);
	attester_ear_check(&rel, NULL, &n);
	assert_non_null(rel.ear);
	assert_false(rel.ear_verified);
	attester_ear_check(&rel, fx->pub, &n);
	assert_non_null(rel.ear);
	assert_true(rel.ear_verified);
	attester_ear_check(&rel, fx->other_pub, &n);
	assert_null(rel.ear);
	assert_false(rel.ear_verified);
	release_clear(&rel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_genuine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_and_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_keeps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
