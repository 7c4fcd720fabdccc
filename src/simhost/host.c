/* A simulated host's TPM objects, EK certificate, PCR bank and clock. The
 * public areas are the templates a real TPM would be given, with unique
 * filled by the key, so that Names (and so every wrapping and attestation
 * the broker builds) come out as they would for a TPM. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "../wire/hash.h"
#include "../wire/key.h"
#include "../wire/policy.h"
#include "internal.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)

/* TCG EK Credential Profile: fixedTPM, fixedParent, sensitiveDataOrigin,
 * adminWithPolicy, restricted, decrypt (0x000300B2); the high-range
 * templates (swtpm's P-384) add userWithAuth. */
#define EK_ATTRS 0x000300B2u

EVP_PKEY *simhost_p256(void)
{
	return EVP_PKEY_Q_keygen(wire_libctx(), NULL, "EC", "P-256");
}

a11_err simhost_key_names(struct simhost_key *k, const TPM2B_NAME *parent_qn)
{
	a11_err r = wire_name(&k->pub.publicArea, &k->name);

	return r == A11_OK ? wire_qualified_name(parent_qn, &k->name, &k->qn) : r;
}

const struct simhost_key *simhost_key(const struct simhost *h, enum simhost_obj which)
{
	switch (which) {
	case SIMHOST_EK: return &h->ek;
	case SIMHOST_SRK: return &h->srk;
	default: return h->born.key != NULL ? &h->born : NULL;
	}
}

/* A restricted decryption key with AES-CFB: an EK or a storage parent. */
static void storage_params(TPMT_PUBLIC *p, UINT16 aes_bits)
{
	TPMT_SYM_DEF_OBJECT *s = p->type == TPM2_ALG_RSA ? &p->parameters.rsaDetail.symmetric
							 : &p->parameters.eccDetail.symmetric;

	*s = (TPMT_SYM_DEF_OBJECT){ .algorithm = TPM2_ALG_AES, .keyBits.aes = aes_bits,
				    .mode.aes = TPM2_ALG_CFB };
	if (p->type == TPM2_ALG_RSA) {
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	} else {
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

/* The EK's authPolicy: PolicySecret(TPM_RH_ENDORSEMENT) in its nameAlg
 * (837197…69aa for SHA-256, NOTES.md §3). */
static a11_err ek_policy(TPMT_PUBLIC *p)
{
	TPM2B_NAME eh;
	TPM2B_NONCE none = { .size = 0 };
	a11_err r = wire_policy_init(p->nameAlg, &p->authPolicy);

	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &eh);
	return r == A11_OK ? wire_policy_secret(p->nameAlg, &p->authPolicy, &eh, &none) : r;
}

static a11_err make_ek(struct simhost_key *k, enum simhost_ek kind)
{
	static const char *const types[] = { "RSA", "EC", "EC" };
	TPMT_PUBLIC *p = &k->pub.publicArea;
	TPM2B_NAME eh;
	a11_err r;

	if ((unsigned)kind > SIMHOST_EK_P384)
		return A11_ERR_ARG;
	k->key = kind == SIMHOST_EK_RSA2048
		? EVP_PKEY_Q_keygen(wire_libctx(), NULL, types[kind], (size_t)2048)
		: EVP_PKEY_Q_keygen(wire_libctx(), NULL, types[kind],
				    kind == SIMHOST_EK_P256 ? "P-256" : "P-384");
	if (k->key == NULL)
		return A11_ERR_CRYPTO;
	if ((r = wire_pub_from_evp(k->key, p)) != A11_OK)
		return r;
	p->nameAlg = kind == SIMHOST_EK_P384 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
	p->objectAttributes = EK_ATTRS | (kind == SIMHOST_EK_P384 ? TPMA_OBJECT_USERWITHAUTH : 0);
	storage_params(p, kind == SIMHOST_EK_P384 ? 256 : 128);
	if ((r = ek_policy(p)) != A11_OK)
		return r;
	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &eh);
	return simhost_key_names(k, &eh);
}

/* A fresh P-256 key with a SHA-256 public area; the caller adds the rest. */
static a11_err p256_key(struct simhost_key *k)
{
	if ((k->key = simhost_p256()) == NULL)
		return A11_ERR_CRYPTO;
	k->pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	return wire_pub_from_evp(k->key, &k->pub.publicArea);
}

/* TCG Provisioning Guidance's ECC SRK (what tpm_srk_load creates). */
static a11_err make_srk(struct simhost_key *k)
{
	TPMT_PUBLIC *p = &k->pub.publicArea;
	TPM2B_NAME owner;
	a11_err r;

	if ((r = p256_key(k)) != A11_OK)
		return r;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	storage_params(p, 128);
	wire_hierarchy_qn(TPM2_RH_OWNER, &owner);
	return simhost_key_names(k, &owner);
}

/* A P-256 ECDSA-SHA256 signing key of the TPM: restricted for the AK
 * (the shape verifier.c's ak_acceptable wants), not for a born key. */
static a11_err make_signer(struct simhost_key *k, TPMA_OBJECT attrs, TPMI_ALG_SIG_SCHEME scheme,
			   const TPM2B_NAME *parent_qn)
{
	TPMT_PUBLIC *p = &k->pub.publicArea;
	a11_err r;

	if ((r = p256_key(k)) != A11_OK)
		return r;
	p->objectAttributes = attrs | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = scheme;
	p->parameters.eccDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	return simhost_key_names(k, parent_qn);
}

static void key_clear(struct simhost_key *k)
{
	EVP_PKEY_free(k->key);
	memset(k, 0, sizeof(*k));
}

a11_err simhost_born_key(struct simhost *h, const TPM2B_DIGEST *auth_policy)
{
	TPMT_PUBLIC *p = &h->born.pub.publicArea;
	bool policy = auth_policy != NULL && auth_policy->size > 0;
	a11_err r;

	if (h == NULL || (policy && auth_policy->size != 32))
		return A11_ERR_ARG;
	key_clear(&h->born);
	/* As tpm_key_create: a policy replaces the password (userWithAuth). */
	r = make_signer(&h->born, policy ? 0 : TPMA_OBJECT_USERWITHAUTH, TPM2_ALG_NULL,
			&h->srk.qn);
	if (r == A11_OK && policy) {
		p->authPolicy = *auth_policy;
		r = simhost_key_names(&h->born, &h->srk.qn);
	}
	if (r != A11_OK)
		key_clear(&h->born);
	return r;
}

static a11_err add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return A11_ERR_CRYPTO;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1 ? A11_OK : A11_ERR_CRYPTO;
}

/* An EK certificate as manufacturers issue them, enough for the chain
 * and key checks of wire_ekcert_verify: a year's validity, CA:FALSE, the
 * key usage of an EK (keyEncipherment for RSA, keyAgreement for ECC). */
static a11_err make_ek_cert(struct simhost *h, EVP_PKEY *ca_key, X509 *ca_cert)
{
	X509 *x = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	uint8_t *der = NULL;
	int n;
	a11_err r = A11_ERR_CRYPTO;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* a positive INTEGER */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) == NULL ||
	    X509_set_pubkey(x, h->ek.key) != 1)
		goto out;
	TRY(add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE"));
	TRY(add_ext(x, ca_cert, NID_key_usage, h->ek.pub.publicArea.type == TPM2_ALG_RSA
			? "critical,keyEncipherment" : "critical,keyAgreement"));
	r = A11_ERR_CRYPTO;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0 || (n = i2d_X509(x, &der)) <= 0)
		goto out;
	h->ek_cert = der;
	h->ek_cert_len = (size_t)n;
	r = A11_OK;
out:
	BN_free(bn);
	X509_free(x);
	return r;
}

static a11_err host_init(struct simhost *h, enum simhost_ek ek, EVP_PKEY *ca_key, X509 *ca_cert)
{
	TPM2B_NAME eh;
	a11_err r;

	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &eh);
	TRY(make_ek(&h->ek, ek));
	/* AKs are primaries of the endorsement hierarchy: their quotes carry
	 * the real clock and resetCount (architecture.md, "The lease flow"). */
	TRY(make_signer(&h->ak, TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_USERWITHAUTH,
			TPM2_ALG_ECDSA, &eh));
	TRY(make_srk(&h->srk));
	TRY(make_ek_cert(h, ca_key, ca_cert));
	for (unsigned i = 0; i < SIMHOST_PCRS; i++)
		h->pcr[i].size = 32;
	h->clock = (TPMS_CLOCK_INFO){ .clock = 1000, .resetCount = 1, .restartCount = 0,
				      .safe = TPM2_YES };
	h->firmware = 0x2019102300000000u;
out:
	return r;
}

a11_err simhost_new(enum simhost_ek ek, EVP_PKEY *ca_key, X509 *ca_cert, struct simhost **out)
{
	struct simhost *h;
	a11_err r;

	if (out == NULL || ca_key == NULL || ca_cert == NULL)
		return A11_ERR_ARG;
	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return A11_ERR_NOMEM;
	if ((r = host_init(h, ek, ca_key, ca_cert)) != A11_OK) {
		simhost_free(h);
		return r;
	}
	*out = h;
	return A11_OK;
}

void simhost_free(struct simhost *h)
{
	if (h == NULL)
		return;
	key_clear(&h->ek);
	key_clear(&h->ak);
	key_clear(&h->srk);
	key_clear(&h->born);
	OPENSSL_free(h->ek_cert);
	OPENSSL_cleanse(h, sizeof(*h)); /* the PIN's authValue */
	free(h);
}

const TPM2B_PUBLIC *simhost_public(const struct simhost *h, enum simhost_obj which)
{
	const struct simhost_key *k = simhost_key(h, which);

	return k != NULL ? &k->pub : NULL;
}

const TPM2B_PUBLIC *simhost_ak(const struct simhost *h)
{
	return &h->ak.pub;
}

const uint8_t *simhost_ek_cert(const struct simhost *h, size_t *len)
{
	*len = h->ek_cert_len;
	return h->ek_cert;
}

a11_err simhost_pcr_set(struct simhost *h, unsigned pcr, const uint8_t value[32])
{
	if (h == NULL || pcr >= SIMHOST_PCRS || value == NULL)
		return A11_ERR_ARG;
	memcpy(h->pcr[pcr].buffer, value, 32);
	return A11_OK;
}

a11_err simhost_pcr_extend(struct simhost *h, unsigned pcr, const uint8_t digest[32])
{
	uint8_t cat[64];

	if (h == NULL || pcr >= SIMHOST_PCRS || digest == NULL)
		return A11_ERR_ARG;
	memcpy(cat, h->pcr[pcr].buffer, 32);
	memcpy(cat + 32, digest, 32);
	return wire_hash(TPM2_ALG_SHA256, cat, sizeof(cat), h->pcr[pcr].buffer);
}

TPMS_CLOCK_INFO *simhost_clock(struct simhost *h)
{
	return &h->clock;
}
