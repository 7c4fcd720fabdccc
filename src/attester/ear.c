/* The broker's Attestation Result (docs/protocol.md, "Attestation result")
 * checked before the module hands it to applications: a consumer of
 * CKA_ATTEST11_ATTESTATION_RESULT must not be given a token the broker did
 * not sign for this exchange. The broker signs with cjose; the module does
 * not link it (its start-up cost is every process's): a compact JWS is
 * three base64url segments, the JWK (or JWK set) is JSON, and an ES256 signature is r||s
 * over SHA-256, which wire_sig_verify checks as a TPM ECDSA signature. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../proto/json.h"
#include "../wire/attest.h"
#include "ear.h"

#define JWK_MAX 8192
#define HEADER_MAX 1024
#define PAYLOAD_MAX 16384
#define P256_LEN 32               /* coordinates, and r and s of ES256 */
#define KID_MAX 128
#define EAR_KEYS_MAX 4            /* a rotation's overlap needs two */

struct ear_key {
	TPMT_PUBLIC pub;
	char kid[KID_MAX];
};

struct ear_keys {
	struct ear_key k[EAR_KEYS_MAX];
	size_t n;
};

/* One base64url member of a JWK, exactly len bytes. */
static bool jwk_coord(json_t *jwk, const char *name, TPM2B_ECC_PARAMETER *out)
{
	json_t *v = json_object_get(jwk, name);
	size_t n = 0;

	if (!json_is_string(v) ||
	    b64url_decode(json_string_value(v), json_string_length(v), out->buffer, P256_LEN,
			  &n) != A11_OK || n != P256_LEN)
		return false;
	out->size = P256_LEN;
	return true;
}

/* The broker's public EAR JWK (src/broker/ear_key.c writes it): EC P-256
 * with its RFC 7638 thumbprint as kid. */
static bool jwk_parse(json_t *jwk, struct ear_key *k)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	json_t *kid = json_object_get(jwk, "kid");
	TPMT_PUBLIC *p = &k->pub;

	if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL || strcmp(crv, "P-256") != 0 ||
	    json_object_get(jwk, "d") != NULL || !json_is_string(kid) ||
	    json_string_length(kid) == 0 || json_string_length(kid) >= sizeof(k->kid))
		return false;
	memset(p, 0, sizeof(*p));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	snprintf(k->kid, sizeof(k->kid), "%s", json_string_value(kid));
	return jwk_coord(jwk, "x", &p->unique.ecc.x) && jwk_coord(jwk, "y", &p->unique.ecc.y);
}

static const struct ear_key *key_find(const struct ear_keys *ks, const char *kid)
{
	for (size_t i = 0; kid != NULL && i < ks->n; i++)
		if (strcmp(ks->k[i].kid, kid) == 0)
			return &ks->k[i];
	return NULL;
}

/* One JWK, or a JWK Set (RFC 7517 section 5) of up to EAR_KEYS_MAX: the
 * old and the new key while the brokers' EAR key is rotated. A set is
 * taken whole or not at all (a member that is not a key, or a kid twice,
 * is an operator's mistake to show, not to skip). */
static bool keys_parse(json_t *doc, struct ear_keys *ks)
{
	json_t *set = json_object_get(doc, "keys"), *jwk;
	size_t i;

	ks->n = 0;
	if (set == NULL) {
		ks->n = 1;
		return jwk_parse(doc, &ks->k[0]);
	}
	if (!json_is_array(set) || json_array_size(set) == 0 ||
	    json_array_size(set) > EAR_KEYS_MAX)
		return false;
	json_array_foreach(set, i, jwk) {
		if (!jwk_parse(jwk, &ks->k[i]) || key_find(ks, ks->k[i].kid) != NULL)
			return false;
		ks->n = i + 1;
	}
	return true;
}

static a11_err keys_load(const char *path, struct ear_keys *ks)
{
	char *text = NULL;
	size_t len = 0;
	json_t *doc = NULL;
	bool ok = file_read_all(path, JWK_MAX, &text, &len) == A11_OK &&
		  (doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) != NULL &&
		  json_is_object(doc) && keys_parse(doc, ks);

	json_decref(doc);
	free(text);
	if (!ok)
		log_error("ear_key %s: not the broker's public EAR JWK (EC P-256 with a kid), nor a "
			  "JWK set of 1 to %d such keys with distinct kids", path, EAR_KEYS_MAX);
	return ok ? A11_OK : A11_ERR_ARG;
}

/* A segment of the JWS as JSON (header, payload). */
static json_t *segment_json(const char *b64, size_t len, size_t max)
{
	uint8_t *raw = malloc(max);
	size_t n = 0;
	json_t *o = NULL;

	if (raw != NULL && b64url_decode(b64, len, raw, max, &n) == A11_OK)
		o = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (!json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* ES256 by a key of ear_key, named by its kid, with nothing the verifier
 * would have to honour ("crit"): alg none, HS256 and other keys are
 * refused here. NULL if not. */
static const struct ear_key *header_key(json_t *h, const struct ear_keys *ks)
{
	const char *alg = json_string_value(json_object_get(h, "alg"));

	if (alg == NULL || strcmp(alg, "ES256") != 0 || json_object_get(h, "crit") != NULL)
		return NULL;
	return key_find(ks, json_string_value(json_object_get(h, "kid")));
}

static bool claims_ok(json_t *c, const TPM2B_DATA *nonce)
{
	const char *profile = json_string_value(json_object_get(c, "eat_profile"));
	json_t *n = json_object_get(c, "eat_nonce");
	uint8_t got[sizeof(nonce->buffer)];
	size_t len = 0;

	return profile != NULL && strcmp(profile, PROTO_EAR_PROFILE) == 0 && json_is_string(n) &&
	       b64url_decode(json_string_value(n), json_string_length(n), got, sizeof(got),
			     &len) == A11_OK &&
	       len == nonce->size && memcmp(got, nonce->buffer, len) == 0;
}

/* r||s, 32 bytes each, as the TPMT_SIGNATURE wire_sig_verify takes. */
static bool signature_of(const char *b64, size_t len, TPMT_SIGNATURE *sig)
{
	uint8_t raw[2 * P256_LEN + 1];
	size_t n = 0;
	TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;

	if (b64url_decode(b64, len, raw, sizeof(raw), &n) != A11_OK || n != 2 * P256_LEN)
		return false;
	memset(sig, 0, sizeof(*sig));
	sig->sigAlg = TPM2_ALG_ECDSA;
	e->hash = TPM2_ALG_SHA256;
	e->signatureR.size = e->signatureS.size = P256_LEN;
	memcpy(e->signatureR.buffer, raw, P256_LEN);
	memcpy(e->signatureS.buffer, raw + P256_LEN, P256_LEN);
	return true;
}

static a11_err verify_with(const struct ear_keys *ks, const char *jws, const TPM2B_DATA *nonce)
{
	const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	json_t *h = NULL, *c = NULL;
	const struct ear_key *k;
	TPMT_SIGNATURE sig;
	a11_err r = A11_ERR_PARSE;

	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
		goto out;
	h = segment_json(jws, (size_t)(d1 - jws), HEADER_MAX);
	c = segment_json(d1 + 1, (size_t)(d2 - d1 - 1), PAYLOAD_MAX);
	if (h == NULL || c == NULL || !signature_of(d2 + 1, strlen(d2 + 1), &sig))
		goto out;
	r = A11_ERR_SIGNATURE;
	if ((k = header_key(h, ks)) == NULL ||
	    wire_sig_verify(&k->pub, (const uint8_t *)jws, (size_t)(d2 - jws), &sig) != A11_OK)
		goto out;
	r = claims_ok(c, nonce) ? A11_OK : A11_ERR_NONCE;
out:
	json_decref(h);
	json_decref(c);
	return r;
}

a11_err attester_ear_verify(const char *key_path, const char *jws, const TPM2B_DATA *nonce)
{
	struct ear_keys ks;
	a11_err r = keys_load(key_path, &ks);

	if (r == A11_OK)
		r = verify_with(&ks, jws, nonce);
	if (r == A11_ERR_PARSE)
		log_warn("the attestation result is not a compact JWS with an ES256 signature");
	else if (r == A11_ERR_SIGNATURE)
		log_warn("the attestation result is not an ES256 token of a key in %s (by its "
			 "kid) with a signature that verifies", key_path);
	else if (r == A11_ERR_NONCE)
		log_warn("the attestation result's eat_profile is not %s, or its eat_nonce is not "
			 "this exchange's nonce", PROTO_EAR_PROFILE);
	return r;
}

void attester_ear_check(struct release *rel, const char *key_path, const TPM2B_DATA *nonce)
{
	rel->ear_verified = false;
	if (rel->ear == NULL || key_path == NULL || key_path[0] == '\0') {
		log_info("lease %s: no ear_key configured: the attestation result is not verified "
			 "and the module does not show it", rel->lease);
		return;
	}
	if (attester_ear_verify(key_path, rel->ear, nonce) == A11_OK) {
		rel->ear_verified = true;
		return;
	}
	log_warn("lease %s: the attestation result is dropped: it failed its check against %s",
		 rel->lease, key_path);
	free(rel->ear);
	rel->ear = NULL;
}
