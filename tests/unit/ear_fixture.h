/* Shared by test_ear.c and test_ear_hostile.c: a temporary directory with
 * two EAR key pairs (the verifier's and another), the loaded signer, and
 * helpers that take tokens apart without going through src/broker/ear.c.
 * Header-only (static inline) because each unit test is its own binary. */
#ifndef A11_TEST_EAR_FIXTURE_H
#define A11_TEST_EAR_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../../src/broker/ear.h"

struct fx {
	char dir[64];
	char priv[128], pub[128], other_priv[128], other_pub[128];
	char *pub_jwk, *other_pub_jwk, *priv_jwk;
	struct ear_signer *signer;
};

static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 8192);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 8191, f);
	assert_true(n > 0 && n < 8191);
	fclose(f);
	return buf;
}

static inline void spit(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static inline int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/a11-ear.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->priv, sizeof(fx->priv), "%s/ear.jwk", fx->dir);
	snprintf(fx->pub, sizeof(fx->pub), "%s/verifier.jwk", fx->dir);
	snprintf(fx->other_priv, sizeof(fx->other_priv), "%s/other.jwk", fx->dir);
	snprintf(fx->other_pub, sizeof(fx->other_pub), "%s/other-pub.jwk", fx->dir);
	assert_int_equal(ear_keygen(fx->priv, fx->pub), A11_OK);
	assert_int_equal(ear_keygen(fx->other_priv, fx->other_pub), A11_OK);
	assert_int_equal(ear_signer_load(fx->priv, &fx->signer), A11_OK);
	fx->pub_jwk = slurp(fx->pub);
	fx->other_pub_jwk = slurp(fx->other_pub);
	fx->priv_jwk = slurp(fx->priv);
	*state = fx;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *fx = *state;
	char path[160];
	static const char *const extra[] = { "x.jwk", "rsa.jwk", "junk.jwk", "pubonly.jwk" };

	ear_signer_free(fx->signer);
	free(fx->pub_jwk);
	free(fx->other_pub_jwk);
	free(fx->priv_jwk);
	unlink(fx->priv);
	unlink(fx->pub);
	unlink(fx->other_priv);
	unlink(fx->other_pub);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->dir, extra[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(fx->dir), 0);
	free(fx);
	return 0;
}

static inline void sample(struct ear *e, size_t nonce_len)
{
	memset(e, 0, sizeof(*e));
	e->iat = 1795400000;
	e->nonce_len = nonce_len;
	assert_int_equal(RAND_bytes(e->nonce, (int)nonce_len), 1);
	snprintf(e->policy_id, sizeof(e->policy_id), "attest11:web:3");
	e->tv[AR_INSTANCE_IDENTITY] = AR_AFFIRMING;
	e->tv[AR_HARDWARE] = AR_AFFIRMING;
	e->tv[AR_EXECUTABLES] = AR_AFFIRMING;
	e->tv[AR_CONFIGURATION] = AR_AFFIRMING;
}

static inline void assert_same(const struct ear *a, const struct ear *b)
{
	assert_int_equal(a->iat, b->iat);
	assert_int_equal(a->nonce_len, b->nonce_len);
	assert_memory_equal(a->nonce, b->nonce, a->nonce_len);
	assert_string_equal(a->policy_id, b->policy_id);
	for (int i = 0; i < AR__COUNT; i++)
		assert_int_equal(a->tv[i], b->tv[i]);
}

/* Independent base64url (OpenSSL's encoder, then the URL alphabet). */
static inline char *b64u(const unsigned char *p, size_t n)
{
	char *out = calloc(1, 4 * ((n + 2) / 3) + 1);

	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	for (char *c = out; *c; c++) {
		if (*c == '+')
			*c = '-';
		else if (*c == '/')
			*c = '_';
		else if (*c == '=')
			*c = '\0';
	}
	return out;
}

/* Segment i (0 header, 1 payload) of a compact JWS, decoded as JSON. */
static inline json_t *segment_json(const char *jws, int i)
{
	const char *start = jws, *end;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	json_t *j;

	for (int k = 0; k < i; k++)
		start = strchr(start, '.') + 1;
	end = strchr(start, '.');
	assert_non_null(end);
	assert_true(cjose_base64url_decode(start, (size_t)(end - start), &raw, &raw_len, NULL));
	j = json_loadb((const char *)raw, raw_len, 0, NULL);
	free(raw);
	assert_non_null(j);
	return j;
}

/* An out-parameter, not a return value: gcc 12 would otherwise suspect
 * that ear_sign stored the address of a local in it (-Wdangling-pointer). */
static inline void good_token(struct fx *fx, char **jws)
{
	struct ear e;

	sample(&e, 32);
	assert_int_equal(ear_sign(fx->signer, &e, jws), A11_OK);
}

/* header.payload.signature with the payload of a genuine token. */
static inline char *reheader(const char *jws, const char *header_json, const char *sig)
{
	const char *dot = strchr(jws, '.'), *dot2 = strrchr(jws, '.');
	char *h = b64u((const unsigned char *)header_json, strlen(header_json));
	size_t n = strlen(h) + (size_t)(dot2 - dot) + strlen(sig) + 2;
	char *out = calloc(1, n);

	assert_non_null(out);
	snprintf(out, n, "%s%.*s.%s", h, (int)(dot2 - dot), dot, sig);
	free(h);
	return out;
}

/* Signs arbitrary claims with the verifier key, straight through cjose;
 * crit (raw JSON) adds a "crit" header parameter, kid a "kid". */
static inline char *hand_sign(struct fx *fx, json_t *claims, const char *crit,
			       const char *kid)
{
	cjose_jwk_t *k = cjose_jwk_import(fx->priv_jwk, strlen(fx->priv_jwk), NULL);
	cjose_header_t *h = cjose_header_new(NULL);
	char *payload = json_dumps(claims, JSON_COMPACT);
	cjose_jws_t *jws;
	const char *ser = NULL;
	char *out;

	assert_true(k != NULL && h != NULL && payload != NULL);
	assert_true(cjose_header_set(h, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, NULL));
	if (crit != NULL)
		assert_true(cjose_header_set_raw(h, "crit", crit, NULL));
	if (kid != NULL)
		assert_true(cjose_header_set(h, CJOSE_HDR_KID, kid, NULL));
	jws = cjose_jws_sign(k, h, (const uint8_t *)payload, strlen(payload), NULL);
	assert_non_null(jws);
	assert_true(cjose_jws_export(jws, &ser, NULL));
	out = strdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	cjose_jwk_release(k);
	free(payload);
	json_decref(claims);
	return out;
}

#endif
