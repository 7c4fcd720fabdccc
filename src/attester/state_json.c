/* The lease file's JSON (state_json.h):
 *   {"version":2, "credential":NAME, "public":<key TPM2B_PUBLIC, if any>,
 *    "private":<TPM2B_PRIVATE>,
 *    "key_auth":{"salt","iterations","check"} (optional; check: see key_auth_check),
 *    "srk":"ecc"|"rsa" (the SRK type "private" is under; absent: "rsa", as
 *    written before ECC SRKs),
 *    "release":<release_encode() without its "key" member>,
 *    "ear_verified":true (only if the writer verified the release's EAR),
 *    "approval_ticket":{"ticket":<TPMT_TK_VERIFIED>, "approver":<TPM2B_NAME>}
 *    (version 2, optional: the TPM's ticket for release.approval)}
 * Version 1 files (no approval_ticket) are read too.
 * The release is stored through the protocol's own encoder so the file
 * format follows the protocol without a second copy of its rules; its
 * "key" member is left out because it would carry the duplication blob,
 * which the host no longer needs once the key is imported. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../proto/json.h"
#include "../wire/hash.h"
#include "state_json.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)
#define STATE_VERSION 2

/* The release without its key (and so without the duplication blob). */
static a11_err put_release(json_t *o, const struct release *rel)
{
	struct release copy = *rel; /* shallow: shares the malloc'd members */
	json_error_t err;
	char *s;
	a11_err r;

	copy.has_key = false;
	s = release_encode(&copy);
	OPENSSL_cleanse(&copy, sizeof(copy));
	if (s == NULL)
		return A11_ERR_ARG;
	r = j_set(o, "release", json_loads(s, 0, &err));
	free(s);
	return r;
}

/* A damaged salt or iteration count would cost a dictionary-attack strike
 * at every login with the right PIN: this hash finds the damage before the
 * TPM is asked, and holds nothing derived from the PIN, so it is no
 * offline oracle (docs/threat-model.md, "The PIN parameters"). */
#define KEY_AUTH_LABEL "attest11 key_auth v1"

static a11_err key_auth_check(const char *credential, const struct host_lease *l,
			      uint8_t out[32])
{
	uint8_t buf[sizeof(KEY_AUTH_LABEL) + PROTO_NAME_MAX + 1 + PROTO_SALT_LEN + 4];
	size_t n = strlen(credential), off = 0;

	if (n > PROTO_NAME_MAX)
		return A11_ERR_ARG;
	memcpy(buf, KEY_AUTH_LABEL, sizeof(KEY_AUTH_LABEL)); /* with its NUL */
	off += sizeof(KEY_AUTH_LABEL);
	memcpy(buf + off, credential, n + 1);
	off += n + 1;
	memcpy(buf + off, l->salt, sizeof(l->salt));
	off += sizeof(l->salt);
	for (int i = 3; i >= 0; i--)
		buf[off++] = (uint8_t)(l->iterations >> (8 * i));
	return wire_hash(TPM2_ALG_SHA256, buf, off, out);
}

static a11_err put_key_auth(json_t *o, const char *credential, const struct host_lease *in)
{
	json_t *k = json_object();
	a11_err r = k ? A11_OK : A11_ERR_NOMEM;
	uint8_t check[32];

	TRY(j_put_bytes(k, "salt", in->salt, sizeof(in->salt)));
	TRY(j_set(k, "iterations", json_integer(in->iterations)));
	TRY(key_auth_check(credential, in, check));
	TRY(j_put_bytes(k, "check", check, sizeof(check)));
	r = j_set(o, "key_auth", k);
	k = NULL;
out:
	json_decref(k);
	return r;
}

/* Nothing here is trusted: the TPM checks the ticket at every
 * PolicyAuthorize, and a forged one, or one for another approval or
 * approver, only fails there. */
static a11_err put_ticket(json_t *o, const struct host_lease *in)
{
	json_t *k = json_object();
	a11_err r = k ? A11_OK : A11_ERR_NOMEM;

	TRY(j_put_TPMT_TK_VERIFIED(k, "ticket", &in->ticket));
	TRY(j_put_TPM2B_NAME(k, "approver", &in->approver));
	r = j_set(o, "approval_ticket", k);
	k = NULL;
out:
	json_decref(k);
	return r;
}

/* A ticket that does not decode is left out, not the file. */
static void get_ticket(json_t *o, struct host_lease *out)
{
	json_t *k = json_object_get(o, "approval_ticket");

	out->has_ticket = json_is_object(k) &&
			  j_get_TPMT_TK_VERIFIED(k, "ticket", &out->ticket) == A11_OK &&
			  j_get_TPM2B_NAME(k, "approver", &out->approver) == A11_OK;
}

char *state_encode(const char *credential, const struct host_lease *in)
{
	json_t *o = json_object();
	a11_err r = o ? A11_OK : A11_ERR_NOMEM;
	char *s = NULL;

	TRY(j_set(o, "version", json_integer(STATE_VERSION)));
	TRY(j_set(o, "credential", json_string(credential)));
	if (in->rel.has_key)
		TRY(j_put_TPM2B_PUBLIC(o, "public", &in->rel.pub));
	TRY(j_put_TPM2B_PRIVATE(o, "private", &in->priv));
	TRY(j_set(o, "srk", json_string(in->srk_alg == TPM2_ALG_ECC ? "ecc" : "rsa")));
	if (in->key_auth)
		TRY(put_key_auth(o, credential, in));
	TRY(put_release(o, &in->rel));
	/* Not on the wire: whether the writer checked the EAR (ear_key). */
	if (in->rel.ear_verified)
		TRY(j_set(o, "ear_verified", json_true()));
	if (in->has_ticket)
		TRY(put_ticket(o, in));
	s = json_dumps(o, JSON_COMPACT);
out:
	if (r != A11_OK)
		log_error("cannot encode the lease of %s: %s", credential, a11_strerror(r));
	json_decref(o);
	return s;
}

static a11_err get_key_auth(json_t *o, const char *credential, struct host_lease *out)
{
	json_t *k = json_object_get(o, "key_auth");
	uint8_t check[32], want[32];
	int64_t it;
	size_t n = 0, m = 0;

	if (k == NULL)
		return A11_OK;
	if (j_bytes(k, "salt", out->salt, sizeof(out->salt), &n) != A11_OK ||
	    n != sizeof(out->salt) || j_int(k, "iterations", 1, UINT32_MAX, &it) != A11_OK)
		return A11_ERR_PARSE;
	out->iterations = (uint32_t)it;
	/* Also a file from before the check value: the login attests once
	 * and writes one that has it. */
	if (j_bytes(k, "check", check, sizeof(check), &m) != A11_OK || m != sizeof(check) ||
	    key_auth_check(credential, out, want) != A11_OK ||
	    CRYPTO_memcmp(check, want, sizeof(want)) != 0) {
		log_warn("the lease of %s: its PIN parameters (key_auth) fail their check value "
			 "(damaged); not used, so that the TPM never sees a PIN derived with them",
			 credential);
		return A11_ERR_PARSE;
	}
	out->key_auth = true;
	return A11_OK;
}

static a11_err get_srk(json_t *o, TPM2_ALG_ID *alg)
{
	char v[8];
	a11_err r = j_str(o, "srk", v, sizeof(v));

	*alg = TPM2_ALG_RSA;
	if (r == A11_ERR_NOT_FOUND)
		return A11_OK;
	if (r == A11_OK && strcmp(v, "ecc") == 0)
		*alg = TPM2_ALG_ECC;
	else if (r == A11_OK && strcmp(v, "rsa") != 0)
		r = A11_ERR_PARSE;
	return r;
}

static a11_err get_release(json_t *o, struct release *rel)
{
	json_t *v = json_object_get(o, "release");
	char *s = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
	a11_err r = s != NULL ? release_decode(s, strlen(s), rel) : A11_ERR_PARSE;

	free(s);
	return r;
}

/* The key public lives outside "release" (see the top of this file). */
static a11_err get_public(json_t *o, struct release *rel)
{
	a11_err r = j_get_TPM2B_PUBLIC(o, "public", &rel->pub);

	rel->has_key = r == A11_OK;
	/* Whatever a hand-made file put under release.key, not kept. */
	OPENSSL_cleanse(&rel->duplicate, sizeof(rel->duplicate));
	OPENSSL_cleanse(&rel->seed, sizeof(rel->seed));
	return r == A11_ERR_NOT_FOUND ? A11_OK : r;
}

a11_err state_decode(const char *buf, size_t len, const char *credential,
		     struct host_lease *out)
{
	json_error_t err;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	char name[PROTO_NAME_MAX + 1];
	int64_t version;
	a11_err r = json_is_object(o) ? A11_OK : A11_ERR_PARSE;

	TRY(j_int(o, "version", 1, STATE_VERSION, &version));
	TRY(j_str(o, "credential", name, sizeof(name)));
	TRY(strcmp(name, credential) == 0 ? A11_OK : A11_ERR_PARSE);
	TRY(j_get_TPM2B_PRIVATE(o, "private", &out->priv));
	TRY(get_key_auth(o, credential, out));
	TRY(get_srk(o, &out->srk_alg));
	TRY(get_release(o, &out->rel));
	out->rel.ear_verified = json_is_true(json_object_get(o, "ear_verified"));
	if (version >= 2)
		get_ticket(o, out);
	r = get_public(o, &out->rel);
out:
	json_decref(o);
	return r == A11_OK || r == A11_ERR_NOMEM ? r : A11_ERR_PARSE;
}

