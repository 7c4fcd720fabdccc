#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "../common/kept.h"
#include "../common/log.h"
#include "../wire/aead.h"
#include "../wire/key.h"
#include "../wire/policy.h"
#include "../wire/wrap.h"
#include "ca.h"
#include "grant.h"
#include "privkey.h"


void grant_secret_aad(const char *credential, char *aad, size_t cap)
{
	snprintf(aad, cap, "credential:%s", credential);
}

/* The credential's secret in clear, for as short a time as possible. */
static a11_err open_secret(const struct grant_input *in, uint8_t **out, size_t *len)
{
	char aad[STORE_NAME_MAX + 16];

	grant_secret_aad(in->cred->name, aad, sizeof(aad));
	return secrets_open(in->secrets, aad, in->cred->sealed_secret, in->cred->sealed_secret_len,
			    out, len);
}

static EVP_PKEY *secret_key(const struct grant_input *in)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	EVP_PKEY *k;

	if (open_secret(in, &pem, &len) != A11_OK)
		return NULL;
	/* Not PEM_read_bio_PrivateKey: it leaves copies in freed memory. */
	k = privkey_from_pem(pem, len);
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (k == NULL)
		log_error("credential %s: stored private key does not parse", in->cred->name);
	return k;
}

static a11_err der_append(struct release *out, const uint8_t *der, size_t n)
{
	if (out->cert_count == PROTO_MAX_CERTS || n == 0 || n > PROTO_CERT_MAX)
		return A11_ERR_ARG;
	if ((out->certs[out->cert_count] = malloc(n)) == NULL)
		return A11_ERR_NOMEM;
	memcpy(out->certs[out->cert_count], der, n);
	out->cert_len[out->cert_count++] = n;
	return A11_OK;
}

static a11_err parse_chain(const char *pem, struct release *out)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;
	a11_err r = b ? A11_OK : A11_ERR_NOMEM;

	while (r == A11_OK && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		uint8_t *der = NULL;
		int n = i2d_X509(x, &der);

		X509_free(x);
		r = n > 0 ? der_append(out, der, (size_t)n) : A11_ERR_ARG;
		OPENSSL_free(der);
	}
	ERR_clear_error(); /* the end of the PEM stream leaves an error queued */
	BIO_free(b);
	return r;
}

/* Credentials' chains as DER, by the digest of their PEM: parsing a PEM
 * chain (base64, then each certificate's public key through a decoder set
 * up for it) was a tenth of the broker's CPU per release. A credential
 * whose chain changes has another PEM, so another key. The value: each
 * certificate as a size_t length and its DER. */
static struct kept chains = KEPT_INIT(64);

static bool chain_from_kept(const uint8_t key[32], struct release *out)
{
	size_t len = 0, off = 0, n, first = out->cert_count;
	uint8_t *v = kept_get(&chains, key, &len);
	a11_err r = v != NULL ? A11_OK : A11_ERR_ARG;

	while (r == A11_OK && off < len) {
		memcpy(&n, v + off, sizeof(n));
		r = der_append(out, v + off + sizeof(n), n);
		off += sizeof(n) + n;
	}
	free(v);
	while (r != A11_OK && out->cert_count > first) /* as if not found */
		free(out->certs[--out->cert_count]);
	return r == A11_OK;
}

/* The certificates out holds from index first on, kept for key. */
static void chain_keep(const uint8_t key[32], const struct release *out, size_t first)
{
	size_t len = 0, off = 0;
	uint8_t *v;

	for (size_t i = first; i < out->cert_count; i++)
		len += sizeof(size_t) + out->cert_len[i];
	if ((v = malloc(len ? len : 1)) == NULL)
		return;
	for (size_t i = first; i < out->cert_count; i++) {
		memcpy(v + off, &out->cert_len[i], sizeof(size_t));
		memcpy(v + off + sizeof(size_t), out->certs[i], out->cert_len[i]);
		off += sizeof(size_t) + out->cert_len[i];
	}
	kept_put(&chains, key, v, len);
	free(v);
}

/* PEM chain -> DER list in out->certs, appended after what is there. */
static a11_err add_chain(const char *pem, struct release *out)
{
	uint8_t key[32];
	size_t first = out->cert_count;
	bool keyed = EVP_Digest(pem, strlen(pem), key, NULL, EVP_sha256(), NULL) == 1;
	a11_err r;

	if (keyed && chain_from_kept(key, out))
		return A11_OK;
	r = parse_chain(pem, out);
	if (r == A11_OK && keyed)
		chain_keep(key, out, first);
	return r;
}

static a11_err key_policy(const struct grant_input *in, TPM2B_DIGEST *pd)
{
	return wire_key_policy(&in->anchor->approver.publicArea, in->anchor->policy_ref,
			       sizeof(in->anchor->policy_ref), pd);
}

static a11_err wrap(const struct grant_input *in, EVP_PKEY *key, const uint8_t *sealed,
		    size_t sealed_len, struct release *out)
{
	TPM2B_DIGEST pd;
	struct wire_dup d;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256, .auth_policy = &pd,
				      .auth_value = in->auth };
	a11_err r = key_policy(in, &pd);

	if (r != A11_OK)
		return r;
	r = key ? wire_dup_key(key, in->parent, &opts, &d)
		: wire_dup_sealed(sealed, sealed_len, in->parent, &opts, &d);
	if (r == A11_OK) {
		out->has_key = true;
		out->pub = d.pub;
		out->duplicate = d.duplicate;
		out->seed = d.seed;
	}
	wire_dup_clear(&d);
	return r;
}

static enum refusal grant_repository(const struct grant_input *in, struct release *out)
{
	EVP_PKEY *k = in->renewal ? NULL : secret_key(in);
	a11_err r = in->renewal ? A11_OK : k ? wrap(in, k, NULL, 0, out) : A11_ERR_CRYPTO;

	EVP_PKEY_free(k);
	/* A renewal keeps the host's chain: the credential's key may have been
	 * replaced since, and a new chain would not match the host's key. */
	if (r == A11_OK && !in->renewal && in->cred->chain_pem != NULL)
		r = add_chain(in->cred->chain_pem, out);
	return r == A11_OK ? REF_NONE : REF_INTERNAL;
}

static enum refusal grant_token(const struct grant_input *in, struct release *out)
{
	uint8_t key[WIRE_AEAD_KEY], *tok = NULL;
	size_t len = 0;
	a11_err r;

	if (in->renewal)
		return REF_NONE;
	r = open_secret(in, &tok, &len);
	if (r == A11_OK && (len == 0 || len > PROTO_TOKEN_MAX))
		r = A11_ERR_ARG;
	if (r == A11_OK)
		r = RAND_bytes(key, sizeof(key)) == 1 ? A11_OK : A11_ERR_CRYPTO;
	/* A sealed object holds 128 bytes at most: seal a key, ship the token
	 * encrypted under it. */
	if (r == A11_OK)
		r = wrap(in, NULL, key, sizeof(key), out);
	if (r == A11_OK)
		r = wire_aead_seal(key, PROTO_TOKEN_AAD, tok, len, &out->token_ct, &out->token_ct_len);
	OPENSSL_cleanse(key, sizeof(key));
	if (tok != NULL)
		OPENSSL_cleanse(tok, len);
	free(tok);
	return r == A11_OK ? REF_NONE : REF_INTERNAL;
}

/* The TPM-born key must be a TPM-resident unrestricted signing key whose
 * authPolicy is the one a released key would get. */
static bool born_key_ok(const struct grant_input *in)
{
	const TPMT_PUBLIC *k = &in->ev->key.publicArea;
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT;
	TPM2B_DIGEST pd;

	if ((k->objectAttributes & need) != need || (k->objectAttributes & TPMA_OBJECT_RESTRICTED))
		return false;
	if (key_policy(in, &pd) != A11_OK || pd.size != k->authPolicy.size ||
	    memcmp(pd.buffer, k->authPolicy.buffer, pd.size) != 0)
		return false;
	/* The password must not bypass the lease, nor an admin the policy. */
	return !(k->objectAttributes & TPMA_OBJECT_USERWITHAUTH);
}

static enum refusal grant_ca(const struct grant_input *in, struct release *out, char serial[41])
{
	EVP_PKEY *issuer = NULL, *subject = NULL;
	X509 *issuer_cert = NULL, *leaf = NULL;
	BIO *b = NULL;
	struct ca_request req = { .common_name = in->cred->name,
				  .san_uri = in->policy->workload_id,
				  .not_before = in->not_before, .not_after = in->not_after };
	enum refusal ref = REF_INTERNAL;
	uint8_t *der = NULL;
	int n;

	if (!in->ev->has_key || !born_key_ok(in) ||
	    wire_pub_to_evp(&in->ev->key.publicArea, &subject) != A11_OK) {
		ref = REF_KEY_INVALID;
		goto out;
	}
	if (in->cred->chain_pem == NULL || (issuer = secret_key(in)) == NULL ||
	    (b = BIO_new_mem_buf(in->cred->chain_pem, -1)) == NULL ||
	    (issuer_cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto out;
	req.subject_key = subject;
	if (ca_issue(issuer, issuer_cert, &req, &leaf, serial) != A11_OK ||
	    (n = i2d_X509(leaf, &der)) <= 0 || (out->certs[0] = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(out->certs[0], der, (size_t)n);
	out->cert_len[0] = (size_t)n;
	out->cert_count = 1;
	if (add_chain(in->cred->chain_pem, out) == A11_OK)
		ref = REF_NONE;
out:
	OPENSSL_free(der);
	X509_free(leaf);
	X509_free(issuer_cert);
	BIO_free(b);
	EVP_PKEY_free(issuer);
	EVP_PKEY_free(subject);
	return ref;
}

enum refusal grant_build(const struct grant_input *in, struct release *out, char serial[41])
{
	serial[0] = '\0';
	out->kind = in->cred->kind;
	out->pcr_bound = in->policy->bind_pcrs;
	out->pcr_selection = in->policy->pcr_selection;
	out->auth_value = in->cred->pin_verifier != NULL;
	switch (in->cred->kind) {
	case CRED_REPOSITORY: return grant_repository(in, out);
	case CRED_TOKEN: return grant_token(in, out);
	case CRED_CA: return grant_ca(in, out, serial);
	default: return REF_INTERNAL;
	}
}
