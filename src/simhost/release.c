/* A release checked as far as software can check it, so that a load
 * generator's "released, checked, discarded" means the broker sent
 * something a TPM would have taken: the blob opens with the parent's key
 * and holds the released key (or the sealed token key), under the lease's
 * authPolicy and the PIN's authValue; certificates name the key; the
 * approval is the approver's signature over the policy this lease needs. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "../common/kept.h"
#include "../common/log.h"
#include "../wire/aead.h"
#include "../wire/attest.h"
#include "../wire/hash.h"
#include "../wire/key.h"
#include "../wire/policy.h"
#include "internal.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)

/* grant.c's associated data of a token sealed under the released key. */

static a11_err fail(a11_err r, const char *what)
{
	log_warn("release check: %s (%s)", what, a11_strerror(r));
	return r;
}

/* x(d·G), y(d·G) equal the public point, both as the field's bytes. */
static a11_err ecc_matches(const TPMT_PUBLIC *pub, const TPM2B_ECC_PARAMETER *d_bytes)
{
	TPMI_ECC_CURVE curve = pub->parameters.eccDetail.curveID;
	int nid = curve == TPM2_ECC_NIST_P256 ? NID_X9_62_prime256v1 :
		  curve == TPM2_ECC_NIST_P384 ? NID_secp384r1 : NID_undef;
	EC_GROUP *g = nid != NID_undef ? EC_GROUP_new_by_curve_name_ex(wire_libctx(), NULL, nid) : NULL;
	EC_POINT *q = g != NULL ? EC_POINT_new(g) : NULL;
	BIGNUM *d = BN_secure_new(), *x = BN_new(), *y = BN_new();
	size_t f = g != NULL ? ((size_t)EC_GROUP_get_degree(g) + 7) / 8 : 0;
	uint8_t bx[TPM2_MAX_ECC_KEY_BYTES], by[TPM2_MAX_ECC_KEY_BYTES];
	a11_err r = A11_ERR_NAME;

	if (q == NULL || d == NULL || x == NULL || y == NULL || f > sizeof(bx)) {
		r = nid == NID_undef ? A11_ERR_UNSUPPORTED : A11_ERR_NOMEM;
		goto out;
	}
	if (BN_bin2bn(d_bytes->buffer, d_bytes->size, d) != NULL && !BN_is_zero(d) &&
	    EC_POINT_mul(g, q, d, NULL, NULL, NULL) == 1 &&
	    EC_POINT_get_affine_coordinates(g, q, x, y, NULL) == 1 &&
	    BN_bn2binpad(x, bx, (int)f) == (int)f && BN_bn2binpad(y, by, (int)f) == (int)f &&
	    pub->unique.ecc.x.size == f && pub->unique.ecc.y.size == f &&
	    memcmp(bx, pub->unique.ecc.x.buffer, f) == 0 && memcmp(by, pub->unique.ecc.y.buffer, f) == 0)
		r = A11_OK;
out:
	BN_clear_free(d);
	BN_free(x);
	BN_free(y);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	return r;
}

/* The TPM keeps one prime: it must divide the modulus, and not be 1 or n. */
static a11_err rsa_matches(const TPMT_PUBLIC *pub, const TPM2B_PRIVATE_KEY_RSA *p_bytes)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = BN_secure_new(), *n = BN_new(), *rem = BN_new();
	a11_err r = A11_ERR_NOMEM;

	if (ctx == NULL || p == NULL || n == NULL || rem == NULL)
		goto out;
	r = A11_ERR_NAME;
	if (p_bytes->size == pub->parameters.rsaDetail.keyBits / 16u &&
	    BN_bin2bn(p_bytes->buffer, p_bytes->size, p) != NULL &&
	    BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, n) != NULL &&
	    !BN_is_one(p) && !BN_is_zero(p) && BN_cmp(p, n) < 0 &&
	    BN_mod(rem, n, p, ctx) == 1 && BN_is_zero(rem))
		r = A11_OK;
out:
	BN_clear_free(p);
	BN_free(n);
	BN_free(rem);
	BN_CTX_free(ctx);
	return r;
}

/* Sealed data is present and unique = H(seedValue ‖ data), what Load checks. */
static a11_err sealed_matches(const TPMT_PUBLIC *pub, const TPMT_SENSITIVE *s)
{
	uint8_t cat[sizeof(s->seedValue.buffer) + sizeof(s->sensitive.bits.buffer)];
	uint8_t h[EVP_MAX_MD_SIZE];
	size_t ds = wire_digest_size(pub->nameAlg), n = s->seedValue.size;
	a11_err r = A11_ERR_NAME;

	if (ds == 0 || s->sensitive.bits.size == 0 || pub->unique.keyedHash.size != ds)
		return r;
	memcpy(cat, s->seedValue.buffer, n);
	memcpy(cat + n, s->sensitive.bits.buffer, s->sensitive.bits.size);
	n += s->sensitive.bits.size;
	if (wire_hash(pub->nameAlg, cat, n, h) == A11_OK &&
	    memcmp(h, pub->unique.keyedHash.buffer, ds) == 0)
		r = A11_OK;
	OPENSSL_cleanse(cat, sizeof(cat));
	return r;
}

a11_err simhost_sensitive_matches(const TPMT_PUBLIC *pub, const TPMT_SENSITIVE *s)
{
	if (pub == NULL || s == NULL)
		return A11_ERR_ARG;
	if (s->sensitiveType != pub->type)
		return A11_ERR_NAME;
	switch (pub->type) {
	case TPM2_ALG_ECC: return ecc_matches(pub, &s->sensitive.ecc);
	case TPM2_ALG_RSA: return rsa_matches(pub, &s->sensitive.rsa);
	case TPM2_ALG_KEYEDHASH: return sealed_matches(pub, s);
	default: return A11_ERR_UNSUPPORTED;
	}
}

static bool digest_eq(const TPM2B_DIGEST *a, const TPM2B_DIGEST *b)
{
	return a->size == b->size && memcmp(a->buffer, b->buffer, a->size) == 0;
}

/* The approval is for this lease's anchor and this quote's boot and
 * clock, over the policy the release's shape needs, signed by the
 * approver the challenge named. */
static a11_err check_approval(const struct simhost *h, const struct challenge_resp *c,
			      const struct release *rel)
{
	const struct approval *a = &rel->approval;
	const struct wire_lease_terms t = {
		.clock_end = a->clock_end, .reset_count = a->reset_count,
		.pcrs = c->bind_pcrs ? &c->pcr_selection : NULL, .values = &h->quoted,
		.auth_value = c->key_auth,
	};
	uint8_t msg[sizeof(a->approved.buffer) + PROTO_POLICY_REF_LEN];
	TPM2B_DIGEST want;

	if (rel->pcr_bound != c->bind_pcrs || rel->auth_value != c->key_auth)
		return fail(A11_ERR_PROTOCOL, "PCR binding or authValue differs from the challenge");
	if (memcmp(a->anchor.policy_ref, c->anchor.policy_ref, PROTO_POLICY_REF_LEN) != 0 ||
	    a->reset_count != h->quoted_clock.resetCount || a->clock_end <= h->quoted_clock.clock)
		return fail(A11_ERR_TPM_POLICY, "approval for another lease, boot or clock");
	if (wire_lease_policy(&t, &want) != A11_OK || !digest_eq(&want, &a->approved))
		return fail(A11_ERR_TPM_POLICY, "approved policy is not this lease's");
	/* wire_sig_verify hashes msg: the signature is over aHash = H(approved ‖ policyRef). */
	memcpy(msg, a->approved.buffer, a->approved.size);
	memcpy(msg + a->approved.size, a->anchor.policy_ref, PROTO_POLICY_REF_LEN);
	if (wire_sig_verify(&c->anchor.approver.publicArea, msg,
			    a->approved.size + PROTO_POLICY_REF_LEN, &a->signature) != A11_OK)
		return fail(A11_ERR_SIGNATURE, "approval not signed by the challenge's approver");
	return A11_OK;
}

/* Imported objects: not fixed to a TPM, used only through the lease's
 * PolicyAuthorize (no password role), with the PIN's authValue. */
static a11_err check_object(const struct simhost *h, const struct challenge_resp *c,
			    const TPMT_PUBLIC *pub, const TPMT_SENSITIVE *s)
{
	const TPMA_OBJECT never = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_USERWITHAUTH;
	TPM2B_DIGEST pd;
	a11_err r = wire_key_policy(&c->anchor.approver.publicArea, c->anchor.policy_ref,
				    sizeof(c->anchor.policy_ref), &pd);

	if (r != A11_OK || !digest_eq(&pd, &pub->authPolicy) || (pub->objectAttributes & never))
		return fail(A11_ERR_TPM_POLICY, "released object is not under the lease's policy");
	if (s->authValue.size != h->auth.size ||
	    CRYPTO_memcmp(s->authValue.buffer, h->auth.buffer, h->auth.size) != 0)
		return fail(A11_ERR_TPM_AUTH, "released object's authValue is not the PIN's");
	if ((r = simhost_sensitive_matches(pub, s)) != A11_OK)
		return fail(r, "sensitive area does not belong to the released public area");
	return A11_OK;
}

/* Leaf certificates seen to name a key. d2i_X509 decodes the
 * certificate's key (a decoder set up for it, the curve's group built): a
 * quarter of attest11-load's CPU, for the same repository leaf and key at
 * every exchange. An acceptance is kept under H(certificate length ‖
 * certificate ‖ marshalled public area), so any other input is a miss;
 * refusals are not kept. */
static struct kept leaf_verdicts = KEPT_INIT(256);

static bool leaf_key(const uint8_t *cert, size_t len, const TPMT_PUBLIC *pub, uint8_t out[32])
{
	uint8_t m[sizeof(TPMT_PUBLIC)];
	uint64_t n = len;
	size_t off = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	/* The key alone (type, parameters, unique: what the comparison
	 * reads), not the lease's authPolicy, new at every release. */
	TPMT_PUBLIC k = { .type = pub->type, .parameters = pub->parameters,
			  .unique = pub->unique };
	bool ok = h != NULL &&
		  Tss2_MU_TPMT_PUBLIC_Marshal(&k, m, sizeof(m), &off) == TSS2_RC_SUCCESS &&
		  EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
		  EVP_DigestUpdate(h, &n, sizeof(n)) == 1 && EVP_DigestUpdate(h, cert, len) == 1 &&
		  EVP_DigestUpdate(h, m, off) == 1 && EVP_DigestFinal_ex(h, out, NULL) == 1;

	EVP_MD_CTX_free(h);
	return ok;
}

/* The first certificate carries the public key of pub. */
static a11_err leaf_names(const struct release *rel, const TPMT_PUBLIC *pub)
{
	const unsigned char *p = rel->cert_count > 0 ? rel->certs[0] : NULL;
	uint8_t key[32], *seen = NULL;
	size_t seen_len = 0;
	bool keyed = p != NULL && leaf_key(p, rel->cert_len[0], pub, key);
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	a11_err r = A11_ERR_NAME;

	if (keyed && (seen = kept_get(&leaf_verdicts, key, &seen_len)) != NULL) {
		free(seen);
		return A11_OK;
	}
	x = p != NULL ? d2i_X509(NULL, &p, (long)rel->cert_len[0]) : NULL;
	if (x != NULL && wire_pub_to_evp(pub, &k) == A11_OK &&
	    EVP_PKEY_eq(X509_get0_pubkey(x), k) == 1)
		r = A11_OK;
	EVP_PKEY_free(k);
	X509_free(x);
	if (r == A11_OK && keyed)
		kept_put(&leaf_verdicts, key, (const uint8_t *)"", 0);
	return r == A11_OK ? r : fail(r, "the leaf certificate does not name the key");
}

static a11_err token_opens(const struct release *rel, const TPMT_SENSITIVE *s)
{
	uint8_t *tok = NULL;
	size_t len = 0;
	a11_err r = A11_ERR_CRYPTO;

	if (s->sensitive.bits.size == WIRE_AEAD_KEY)
		r = wire_aead_open(s->sensitive.bits.buffer, PROTO_TOKEN_AAD, rel->token_ct,
				   rel->token_ct_len, &tok, &len);
	if (tok != NULL)
		OPENSSL_cleanse(tok, len);
	OPENSSL_free(tok);
	return r == A11_OK ? r : fail(r, "the token does not open with the sealed key");
}

/* repository and token: the duplication blob, and what comes with it. */
static a11_err check_blob(const struct simhost *h, const struct challenge_resp *c,
			  const struct release *rel)
{
	TPM2B_SENSITIVE sens;
	a11_err r;

	if (!rel->has_key)
		return fail(A11_ERR_PROTOCOL, "a fresh lease without its key");
	r = simhost_unwrap(h, h->wrapped_to_ek ? SIMHOST_EK : SIMHOST_SRK, &rel->pub,
			   &rel->duplicate, &rel->seed, &sens);
	if (r != A11_OK) {
		r = fail(r, "the duplication blob does not open");
		goto out;
	}
	TRY(check_object(h, c, &rel->pub.publicArea, &sens.sensitiveArea));
	if (rel->kind == CRED_TOKEN)
		r = token_opens(rel, &sens.sensitiveArea);
	else if (rel->cert_count > 0)
		r = leaf_names(rel, &rel->pub.publicArea);
out:
	OPENSSL_cleanse(&sens, sizeof(sens));
	return r;
}

a11_err simhost_release_check(const struct simhost *h, const struct challenge_resp *c,
			      const struct release *rel)
{
	a11_err r;

	if (h == NULL || c == NULL || rel == NULL)
		return A11_ERR_ARG;
	if (rel->kind != c->kind)
		return fail(A11_ERR_PROTOCOL, "release of another kind");
	if ((r = check_approval(h, c, rel)) != A11_OK)
		return r;
	if (rel->kind == CRED_CA) {
		if (rel->has_key || h->born.key == NULL)
			return fail(A11_ERR_PROTOCOL, "a ca release carries a key, or none was born");
		return leaf_names(rel, &h->born.pub.publicArea);
	}
	/* A renewal carries no key: the host keeps the one it has. */
	if (h->renewing)
		return rel->has_key ? fail(A11_ERR_PROTOCOL, "a renewal with a key") : A11_OK;
	return check_blob(h, c, rel);
}
