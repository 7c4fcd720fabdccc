/* EAR attestation results (declared in ear.h): the claims set of
 * draft-ietf-rats-ear with one submodule, "tpm", signed as a compact JWS
 * (ES256) with libcjose 0.6.2.
 *
 * The verifying side treats the token as untrusted input. It checks the
 * header itself before libcjose sees the token: cjose 0.6.2 picks the
 * verification routine from the token's own "alg" (only the key type stands
 * between that and alg confusion), ignores "crit", and accepts an ES256
 * signature with one trailing byte (it splits R and S at sig_len / 2), so
 * we pin "alg" to ES256, refuse "crit" and demand exactly 64 signature
 * bytes. Every claim is then decoded strictly: unknown claim names,
 * values out of the AR4SI range or an "ear.status" that disagrees with the
 * vector make the whole result malformed (A11_ERR_PARSE).
 *
 * Status tiers follow AR4SI for 0 and 2..127. AR4SI also gives meanings to
 * 1 and to negative values; this verifier never emits them, so reading one
 * (or anything above 127) counts as contraindicated: a value we do not
 * understand must not let a credential out. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjose/cjose.h>
#include <jansson.h>

#include "../common/log.h"
#include "../common/version.h"
#include "ear.h"
#include "ear_internal.h"

#define JWS_MAX 16384           /* our tokens are < 1 KiB; bounds the work */
#define NONCE_MIN 8             /* EAT bounds eat_nonce to 8..64 bytes */
#define SIG_B64U_LEN 86         /* ES256: 64-byte R||S, base64url */
#define AR_MIN (-128)           /* AR4SI claims are signed bytes */
#define AR_MAX 127

static const char *const claim_names[AR__COUNT] = {
	[AR_INSTANCE_IDENTITY] = "instance-identity",
	[AR_CONFIGURATION] = "configuration",
	[AR_EXECUTABLES] = "executables",
	[AR_FILE_SYSTEM] = "file-system",
	[AR_HARDWARE] = "hardware",
	[AR_RUNTIME_OPAQUE] = "runtime-opaque",
	[AR_STORAGE_OPAQUE] = "storage-opaque",
	[AR_SOURCED_DATA] = "sourced-data",
};

/* ---- status ---- */

static enum ear_status tier(int v)
{
	if (v == AR_NO_CLAIM)
		return EAR_NONE;
	if (v >= 2 && v <= 31)
		return EAR_AFFIRMING;
	if (v >= 32 && v <= 95)
		return EAR_WARNING;
	return EAR_CONTRAINDICATED;   /* 96..127, and fail safe for the rest */
}

enum ear_status ear_status(const struct ear *e)
{
	enum ear_status worst = EAR_NONE;

	for (int i = 0; i < AR__COUNT; i++)
		if (tier(e->tv[i]) > worst)
			worst = tier(e->tv[i]);
	return worst;
}

const char *ear_status_name(enum ear_status s)
{
	switch (s) {
	case EAR_NONE: return "none";
	case EAR_AFFIRMING: return "affirming";
	case EAR_WARNING: return "warning";
	default: return "contraindicated";
	}
}

/* ---- signing ---- */

/* What a token must satisfy so that ear_verify can read it back. */
static a11_err check_ear(const struct ear *e)
{
	size_t plen = strnlen(e->policy_id, sizeof(e->policy_id));

	if (e->iat < 0 || e->nonce_len < NONCE_MIN || e->nonce_len > sizeof(e->nonce))
		return A11_ERR_ARG;
	if (plen == 0 || plen == sizeof(e->policy_id))
		return A11_ERR_ARG;
	for (int i = 0; i < AR__COUNT; i++)
		if (e->tv[i] < AR_MIN || e->tv[i] > AR_MAX)
			return A11_ERR_ARG;
	return A11_OK;
}

/* Claims without a value (AR_NO_CLAIM) are left out, as AR4SI intends. */
static json_t *build_tv(const struct ear *e)
{
	json_t *tv = json_object();

	for (int i = 0; tv != NULL && i < AR__COUNT; i++) {
		if (e->tv[i] == AR_NO_CLAIM)
			continue;
		if (json_object_set_new(tv, claim_names[i], json_integer(e->tv[i])) != 0) {
			json_decref(tv);
			tv = NULL;
		}
	}
	return tv;
}

static json_t *build_claims(const struct ear *e)
{
	cjose_err err = { 0 };
	char *nonce = NULL;
	size_t nonce_len = 0;
	json_t *tv = build_tv(e), *claims = NULL;

	if (tv == NULL || !cjose_base64url_encode(e->nonce, e->nonce_len, &nonce, &nonce_len, &err))
		goto out;
	claims = json_pack("{s:s, s:I, s:{s:s, s:s}, s:s, s:{s:{s:s, s:O, s:s}}}",
			   "eat_profile", EAR_PROFILE,
			   "iat", (json_int_t)e->iat,
			   "ear.verifier-id", "developer", "attest11", "build", "attest11-broker " A11_VERSION,
			   "eat_nonce", nonce,
			   "submods", "tpm",
			   "ear.status", ear_status_name(ear_status(e)),
			   "ear.trustworthiness-vector", tv,
			   "ear.appraisal-policy-id", e->policy_id);
out:
	cj_free(nonce);
	json_decref(tv);
	return claims;
}

static a11_err sign_payload(struct ear_signer *s, const char *payload, char **out)
{
	cjose_err err = { 0 };
	cjose_header_t *hdr = cjose_header_new(&err);
	cjose_jws_t *jws = NULL;
	const char *ser = NULL;
	a11_err r = A11_ERR_NOMEM;

	if (hdr == NULL || !cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err) ||
	    !cjose_header_set(hdr, "typ", "JWT", &err) ||
	    !cjose_header_set(hdr, CJOSE_HDR_KID, s->kid, &err)) {
		log_warn("cannot build the JWS header: %s", cj_msg(&err));
		goto out;
	}
	r = A11_ERR_CRYPTO;
	/* cjose_jws_sign takes its own reference on hdr. */
	jws = cjose_jws_sign(s->jwk, hdr, (const uint8_t *)payload, strlen(payload), &err);
	if (jws == NULL || !cjose_jws_export(jws, &ser, &err)) {
		log_warn("cannot sign the EAR: %s", cj_msg(&err));
		goto out;
	}
	r = A11_ERR_NOMEM;
	*out = strdup(ser);   /* ser belongs to jws */
	if (*out != NULL)
		r = A11_OK;
out:
	cjose_jws_release(jws);
	cjose_header_release(hdr);
	return r;
}

a11_err ear_sign(struct ear_signer *s, const struct ear *e, char **jws)
{
	json_t *claims = NULL;
	char *payload = NULL;
	a11_err r = A11_ERR_ARG;

	if (jws != NULL)
		*jws = NULL;
	if (s == NULL || e == NULL || jws == NULL)
		goto out;
	r = check_ear(e);
	if (r != A11_OK)
		goto out;
	r = A11_ERR_NOMEM;
	claims = build_claims(e);
	payload = claims != NULL ? json_dumps(claims, JSON_COMPACT) : NULL;
	if (payload != NULL)
		r = sign_payload(s, payload, jws);
out:
	free(payload);
	json_decref(claims);
	return r;
}

/* ---- verification ---- */

static a11_err import_public(const char *pub_jwk, cjose_jwk_t **out)
{
	cjose_err err = { 0 };
	cjose_jwk_t *jwk = cjose_jwk_import(pub_jwk, strlen(pub_jwk), &err);

	/* cjose 0.6.2 does not tie the curve to the algorithm (it would check
	 * an ES256 token against a P-384 key); ES256 means P-256, so pin it. */
	if (jwk == NULL || cjose_jwk_get_kty(jwk, &err) != CJOSE_JWK_KTY_EC ||
	    cjose_jwk_EC_get_curve(jwk, &err) != CJOSE_JWK_EC_P_256) {
		log_warn("verifier key is not an EC P-256 JWK: %s", cj_msg(&err));
		if (jwk != NULL)
			cjose_jwk_release(jwk);
		return A11_ERR_ARG;
	}
	*out = jwk;
	return A11_OK;
}

static bool is_b64u(const char *p, size_t n)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	for (size_t i = 0; i < n; i++)
		if (p[i] == '\0' || strchr(alphabet, p[i]) == NULL)
			return false;
	return true;
}

/* Strict unpadded base64url: cjose's decoder stops at '=' and ignores the
 * unused low bits, so we also demand that re-encoding gives the input. */
static a11_err b64u_decode(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
	cjose_err err = { 0 };
	char *again = NULL;
	size_t again_len = 0;
	a11_err r = A11_ERR_PARSE;

	*out = NULL;
	if (!is_b64u(s, n) || !cjose_base64url_decode(s, n, out, out_len, &err))
		goto out;
	if (!cjose_base64url_encode(*out, *out_len, &again, &again_len, &err) ||
	    again_len != n || memcmp(again, s, n) != 0)
		goto out;
	r = A11_OK;
out:
	if (r != A11_OK) {
		cj_free(*out);
		*out = NULL;
	}
	cj_free(again);
	return r;
}

/* Shape and header of the token, before any cjose code runs on it: three
 * base64url segments, an ES256 signature of the right length, and a
 * protected header naming ES256 without extensions we would have to honour. */
static a11_err check_compact(const char *jws)
{
	size_t len = strnlen(jws, JWS_MAX + 1), hlen, slen;
	const char *d1 = memchr(jws, '.', len), *d2;
	uint8_t *hdr = NULL;
	size_t hdr_len = 0;
	json_t *h = NULL;
	a11_err r = A11_ERR_PARSE;

	if (len > JWS_MAX || d1 == NULL)
		goto out;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)) != NULL)
		goto out;
	hlen = (size_t)(d1 - jws);
	slen = len - (size_t)(d2 + 1 - jws);
	if (!is_b64u(d1 + 1, (size_t)(d2 - d1 - 1)) || b64u_decode(jws, hlen, &hdr, &hdr_len) != A11_OK)
		goto out;
	h = json_loadb((const char *)hdr, hdr_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(h))
		goto out;
	r = A11_ERR_UNSUPPORTED;
	if (!member_is(h, "alg", "ES256") || json_object_get(h, "crit") != NULL) {
		log_warn("EAR header is not plain ES256");
		goto out;
	}
	r = slen == SIG_B64U_LEN && is_b64u(d2 + 1, slen) ? A11_OK : A11_ERR_SIGNATURE;
out:
	json_decref(h);
	cj_free(hdr);
	return r;
}

/* Signature check, then the payload as a JSON object. */
static a11_err verify_sig(cjose_jwk_t *key, const char *jws, json_t **claims)
{
	cjose_err err = { 0 };
	cjose_jws_t *j = cjose_jws_import(jws, strlen(jws), &err);
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	a11_err r = A11_ERR_PARSE;

	if (j == NULL) {
		log_warn("cannot import the EAR: %s", cj_msg(&err));
		goto out;
	}
	r = A11_ERR_SIGNATURE;
	if (!cjose_jws_verify(j, key, &err)) {
		log_warn("EAR signature does not verify: %s", cj_msg(&err));
		goto out;
	}
	r = A11_ERR_PARSE;
	if (!cjose_jws_get_plaintext(j, &pt, &pt_len, &err))   /* pt belongs to j */
		goto out;
	*claims = json_loadb((const char *)pt, pt_len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(*claims))
		r = A11_OK;
out:
	cjose_jws_release(j);
	return r;
}

static int claim_index(const char *name)
{
	for (int i = 0; i < AR__COUNT; i++)
		if (strcmp(name, claim_names[i]) == 0)
			return i;
	return -1;
}

static a11_err decode_tv(json_t *tv, struct ear *e)
{
	const char *name;
	json_t *v;

	if (!json_is_object(tv))
		return A11_ERR_PARSE;
	json_object_foreach(tv, name, v) {
		int i = claim_index(name);
		json_int_t n = json_integer_value(v);

		if (i < 0 || !json_is_integer(v) || n < AR_MIN || n > AR_MAX) {
			log_warn("EAR trustworthiness claim %s is unknown or out of range", name);
			return A11_ERR_PARSE;
		}
		e->tv[i] = (int)n;
	}
	return A11_OK;
}

static a11_err decode_tpm(json_t *tpm, struct ear *e)
{
	const char *status = json_string_value(json_object_get(tpm, "ear.status"));
	const char *policy = json_string_value(json_object_get(tpm, "ear.appraisal-policy-id"));
	size_t plen = policy != NULL ? strlen(policy) : 0;

	if (status == NULL || plen == 0 || plen >= sizeof(e->policy_id)) {
		log_warn("EAR status or appraisal policy id missing or too long");
		return A11_ERR_PARSE;
	}
	memcpy(e->policy_id, policy, plen + 1);
	if (decode_tv(json_object_get(tpm, "ear.trustworthiness-vector"), e) != A11_OK)
		return A11_ERR_PARSE;
	/* A status better than its own vector is a forgery or a bug either way. */
	if (strcmp(status, ear_status_name(ear_status(e))) != 0) {
		log_warn("EAR status %s disagrees with its trustworthiness vector", status);
		return A11_ERR_PARSE;
	}
	return A11_OK;
}

static a11_err decode_nonce(const char *b64, struct ear *e)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	a11_err r = b64 != NULL ? b64u_decode(b64, strlen(b64), &raw, &n) : A11_ERR_PARSE;

	if (r == A11_OK && (n < NONCE_MIN || n > sizeof(e->nonce)))
		r = A11_ERR_PARSE;
	if (r == A11_OK) {
		memcpy(e->nonce, raw, n);
		e->nonce_len = n;
	}
	cj_free(raw);
	return r;
}

static a11_err decode_claims(json_t *c, struct ear *e)
{
	json_t *iat = json_object_get(c, "iat");
	json_t *submods = json_object_get(c, "submods");

	if (!member_is(c, "eat_profile", EAR_PROFILE)) {
		log_warn("EAR has another profile");
		return A11_ERR_PARSE;
	}
	if (!json_is_integer(iat) || json_integer_value(iat) < 0 ||
	    !json_is_object(json_object_get(c, "ear.verifier-id"))) {
		log_warn("EAR iat or verifier id malformed");
		return A11_ERR_PARSE;
	}
	e->iat = json_integer_value(iat);
	/* Only "tpm": a second submodule could carry a worse status that a
	 * caller reading struct ear would never see. */
	if (!json_is_object(submods) || json_object_size(submods) != 1 ||
	    !json_is_object(json_object_get(submods, "tpm"))) {
		log_warn("EAR submods is not exactly {\"tpm\": {...}}");
		return A11_ERR_PARSE;
	}
	if (decode_nonce(json_string_value(json_object_get(c, "eat_nonce")), e) != A11_OK) {
		log_warn("EAR eat_nonce is not 8..64 bytes of unpadded base64url");
		return A11_ERR_PARSE;
	}
	return decode_tpm(json_object_get(submods, "tpm"), e);
}

a11_err ear_verify(const char *pub_jwk, const char *jws, struct ear *out)
{
	cjose_jwk_t *key = NULL;
	json_t *claims = NULL;
	struct ear e;
	a11_err r = A11_ERR_ARG;

	memset(&e, 0, sizeof(e));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (pub_jwk == NULL || jws == NULL || out == NULL)
		goto out;
	r = import_public(pub_jwk, &key);
	if (r == A11_OK)
		r = check_compact(jws);
	if (r == A11_OK)
		r = verify_sig(key, jws, &claims);
	if (r == A11_OK)
		r = decode_claims(claims, &e);
	if (r == A11_OK)
		*out = e;
out:
	json_decref(claims);
	if (key != NULL)
		cjose_jwk_release(key);
	return r;
}
