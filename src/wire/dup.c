/* Import blobs (what TPM2_Duplicate would produce, Part 1 §23.3) and
 * TPM2_MakeCredential (Part 1 §24), built in software on the broker. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "hash.h"
#include "key.h"
#include "wrap.h"

/* out = H_alg(a || b). */
static a11_err hash2(TPMI_ALG_HASH alg, const uint8_t *a, size_t a_len,
		     const uint8_t *b, size_t b_len, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	a11_err r = A11_ERR_CRYPTO;

	if (ctx == NULL)
		return A11_ERR_NOMEM;
	if (EVP_DigestInit_ex(ctx, wire_md(alg), NULL) == 1 &&
	    (a_len == 0 || EVP_DigestUpdate(ctx, a, a_len) == 1) &&
	    (b_len == 0 || EVP_DigestUpdate(ctx, b, b_len) == 1) &&
	    EVP_DigestFinal_ex(ctx, out, NULL) == 1)
		r = A11_OK;
	EVP_MD_CTX_free(ctx);
	return r;
}

/* Attributes and policy shared by every imported object. fixedTPM and
 * fixedParent stay clear: the TPM refuses to import an object that
 * claims it was never duplicated. */
static a11_err set_policy(const struct wire_dup_opts *o, TPMT_PUBLIC *pub)
{
	const TPM2B_DIGEST *p = o->auth_policy;

	if (p == NULL || p->size == 0) {
		pub->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
		return A11_OK;
	}
	/* The TPM accepts only an empty policy or one digest of nameAlg. */
	if (p->size != wire_digest_size(o->name_alg))
		return A11_ERR_ARG;
	pub->authPolicy = *p;
	return A11_OK;
}

/* authValue and a fresh seedValue. The seedValue must be new randomness of
 * the object's digest size, never the duplication seed: a TPM checks its
 * size against the object's nameAlg, not the parent's. */
static a11_err set_common_sensitive(const struct wire_dup_opts *o, TPMT_SENSITIVE *s)
{
	size_t ds = wire_digest_size(o->name_alg);

	if (o->auth_value != NULL) {
		/* Load fails with TPM_RC_SIZE for an authValue above the digest. */
		if (o->auth_value->size > ds)
			return A11_ERR_ARG;
		s->authValue = *o->auth_value;
	}
	s->seedValue.size = (UINT16)ds;
	return RAND_bytes(s->seedValue.buffer, (int)ds) == 1 ? A11_OK : A11_ERR_CRYPTO;
}

/* A private BIGNUM of key, left-padded to len bytes. */
static a11_err priv_param(EVP_PKEY *key, const char *name, uint8_t *buf, size_t len)
{
	BIGNUM *bn = NULL;
	a11_err r = A11_ERR_ARG; /* usually a public-only key */

	if (EVP_PKEY_get_bn_param(key, name, &bn) == 1)
		r = BN_bn2binpad(bn, buf, (int)len) == (int)len ? A11_OK : A11_ERR_CRYPTO;
	BN_clear_free(bn);
	return r;
}

/* RSA: the TPM stores one prime, p, as keyBits/16 bytes, and recomputes q
 * from the modulus. ECC: the scalar d, padded to the curve size. */
static a11_err key_sensitive(EVP_PKEY *key, const TPMT_PUBLIC *pub, TPMT_SENSITIVE *s)
{
	size_t len;

	s->sensitiveType = pub->type;
	if (pub->type == TPM2_ALG_RSA) {
		len = pub->parameters.rsaDetail.keyBits / 16u;
		if (len > sizeof(s->sensitive.rsa.buffer))
			return A11_ERR_UNSUPPORTED;
		s->sensitive.rsa.size = (UINT16)len;
		return priv_param(key, OSSL_PKEY_PARAM_RSA_FACTOR1, s->sensitive.rsa.buffer, len);
	}
	len = pub->unique.ecc.x.size;
	if (len == 0 || len > sizeof(s->sensitive.ecc.buffer))
		return A11_ERR_UNSUPPORTED;
	s->sensitive.ecc.size = (UINT16)len;
	return priv_param(key, OSSL_PKEY_PARAM_PRIV_KEY, s->sensitive.ecc.buffer, len);
}

/* Public area of an imported RSA/ECC key: sign (RSA also decrypt), NULL
 * schemes so the user picks one per operation, no symmetric (not a parent). */
static a11_err key_public(EVP_PKEY *key, const struct wire_dup_opts *o, TPMT_PUBLIC *pub)
{
	a11_err r;

	if ((r = wire_pub_from_evp(key, pub)) != A11_OK)
		return r;
	pub->nameAlg = o->name_alg;
	pub->objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT;
	if (pub->type == TPM2_ALG_RSA) {
		pub->objectAttributes |= TPMA_OBJECT_DECRYPT;
		pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	} else {
		pub->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		pub->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
	return set_policy(o, pub);
}

/* The inner wrapper, in place: buf holds TPM2B_SENSITIVE at offset 2 + ds
 * (room left for the integrity). Prepends TPM2B(H(sensitive || Name)) and
 * encrypts the whole under a fresh AES-128 key, kept in out for Import. */
static a11_err inner_wrap(TPMI_ALG_HASH alg, const TPM2B_NAME *name, uint8_t *buf,
			  size_t sens_len, struct wire_dup *out)
{
	size_t ds = wire_digest_size(alg);
	a11_err r;

	if ((r = hash2(alg, buf + 2 + ds, sens_len, name->name, name->size, buf + 2)) != A11_OK)
		return r;
	buf[0] = (uint8_t)(ds >> 8);
	buf[1] = (uint8_t)ds;
	out->enc_key.size = 16;
	if (RAND_bytes(out->enc_key.buffer, 16) != 1)
		return A11_ERR_CRYPTO;
	out->sym.algorithm = TPM2_ALG_AES;
	out->sym.keyBits.aes = 128;
	out->sym.mode.aes = TPM2_ALG_CFB;
	return wire_aes_cfb_encrypt(out->enc_key.buffer, 16, NULL, buf, 2 + ds + sens_len, buf);
}

/* Everything after the object itself is known: Name, plaintext (with the
 * optional inner wrapper), seed to the parent and the outer wrapper. */
static a11_err finish_dup(const TPMT_PUBLIC *parent, const TPM2B_SENSITIVE *sens,
			  const struct wire_dup_opts *o, struct wire_dup *out)
{
	uint8_t plain[sizeof(TPM2B_DIGEST) + sizeof(TPM2B_SENSITIVE)];
	uint8_t pubbuf[sizeof(TPMT_PUBLIC)];
	size_t pre = o->inner ? 2 + wire_digest_size(o->name_alg) : 0;
	size_t off = pre, publen = 0, cap = sizeof(out->duplicate.buffer);
	TPM2B_DIGEST seed;
	TPM2B_NAME name;
	a11_err r;

	memset(&seed, 0, sizeof(seed));
	out->sym.algorithm = TPM2_ALG_NULL;
	if ((r = wire_name(&out->pub.publicArea, &name)) != A11_OK)
		goto out;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&out->pub.publicArea, pubbuf, sizeof(pubbuf), &publen) !=
	    TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_SENSITIVE_Marshal(sens, plain, sizeof(plain), &off) != TSS2_RC_SUCCESS) {
		r = A11_ERR_PARSE;
		goto out;
	}
	out->pub.size = (UINT16)publen;
	if (o->inner && (r = inner_wrap(o->name_alg, &name, plain, off - pre, out)) != A11_OK)
		goto out;
	if ((r = wire_seed_make(parent, "DUPLICATE", &seed, &out->seed)) != A11_OK ||
	    (r = wire_outer_wrap(parent, &seed, &name, plain, off, out->duplicate.buffer,
				 &cap)) != A11_OK)
		goto out;
	out->duplicate.size = (UINT16)cap;
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(&seed, sizeof(seed));
	return r;
}

/* Arguments shared by both dup entry points. */
static a11_err dup_args(const TPMT_PUBLIC *parent, const struct wire_dup_opts *o,
			const struct wire_dup *out)
{
	if (parent == NULL || o == NULL || out == NULL)
		return A11_ERR_ARG;
	return wire_digest_size(o->name_alg) ? A11_OK : A11_ERR_UNSUPPORTED;
}

a11_err wire_dup_key(EVP_PKEY *key, const TPMT_PUBLIC *parent,
		     const struct wire_dup_opts *opts, struct wire_dup *out)
{
	TPM2B_SENSITIVE sens;
	a11_err r;

	memset(&sens, 0, sizeof(sens));
	if (key == NULL)
		return A11_ERR_ARG;
	if ((r = dup_args(parent, opts, out)) != A11_OK)
		return r;
	memset(out, 0, sizeof(*out));
	if ((r = key_public(key, opts, &out->pub.publicArea)) != A11_OK ||
	    (r = key_sensitive(key, &out->pub.publicArea, &sens.sensitiveArea)) != A11_OK ||
	    (r = set_common_sensitive(opts, &sens.sensitiveArea)) != A11_OK)
		goto out;
	r = finish_dup(parent, &sens, opts, out);
out:
	OPENSSL_cleanse(&sens, sizeof(sens));
	if (r != A11_OK)
		OPENSSL_cleanse(out, sizeof(*out));
	return r;
}

a11_err wire_dup_sealed(const uint8_t *data, size_t len, const TPMT_PUBLIC *parent,
			const struct wire_dup_opts *opts, struct wire_dup *out)
{
	TPM2B_SENSITIVE sens;
	TPMT_PUBLIC *pub;
	TPMT_SENSITIVE *s = &sens.sensitiveArea;
	a11_err r;

	memset(&sens, 0, sizeof(sens));
	if ((r = dup_args(parent, opts, out)) != A11_OK)
		return r;
	/* Nothing to seal is a caller bug; more than MAX_SYM_DATA does not load. */
	if (data == NULL || len == 0 || len > WIRE_SEALED_MAX || len > sizeof(s->sensitive.bits.buffer))
		return A11_ERR_ARG;
	memset(out, 0, sizeof(*out));
	pub = &out->pub.publicArea;
	pub->type = s->sensitiveType = TPM2_ALG_KEYEDHASH;
	pub->nameAlg = opts->name_alg;
	pub->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	s->sensitive.bits.size = (UINT16)len;
	memcpy(s->sensitive.bits.buffer, data, len);
	if ((r = set_policy(opts, pub)) != A11_OK ||
	    (r = set_common_sensitive(opts, s)) != A11_OK)
		goto out;
	/* unique hides the data behind the obfuscation seed; Load checks it. */
	pub->unique.keyedHash.size = s->seedValue.size;
	if ((r = hash2(opts->name_alg, s->seedValue.buffer, s->seedValue.size, data, len,
		       pub->unique.keyedHash.buffer)) != A11_OK)
		goto out;
	r = finish_dup(parent, &sens, opts, out);
out:
	OPENSSL_cleanse(&sens, sizeof(sens));
	if (r != A11_OK)
		OPENSSL_cleanse(out, sizeof(*out));
	return r;
}

void wire_dup_clear(struct wire_dup *d)
{
	if (d != NULL)
		OPENSSL_cleanse(&d->enc_key, sizeof(d->enc_key));
}

a11_err wire_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *name,
			     const TPM2B_DIGEST *secret, TPM2B_ID_OBJECT *cred,
			     TPM2B_ENCRYPTED_SECRET *enc_secret)
{
	uint8_t plain[sizeof(TPM2B_DIGEST)];
	size_t off = 0, cap, ds;
	TPM2B_DIGEST seed;
	a11_err r = A11_ERR_ARG;

	memset(&seed, 0, sizeof(seed));
	if (ek == NULL || name == NULL || secret == NULL || cred == NULL || enc_secret == NULL)
		return A11_ERR_ARG;
	memset(cred, 0, sizeof(*cred));
	if ((ds = wire_digest_size(ek->nameAlg)) == 0) {
		r = A11_ERR_UNSUPPORTED;
		goto out;
	}
	/* ActivateCredential refuses a credential longer than the EK digest;
	 * an empty one would prove nothing. */
	if (secret->size == 0 || secret->size > ds)
		goto out;
	if (Tss2_MU_TPM2B_DIGEST_Marshal(secret, plain, sizeof(plain), &off) != TSS2_RC_SUCCESS) {
		r = A11_ERR_PARSE;
		goto out;
	}
	cap = sizeof(cred->credential);
	if ((r = wire_seed_make(ek, "IDENTITY", &seed, enc_secret)) != A11_OK ||
	    (r = wire_outer_wrap(ek, &seed, name, plain, off, cred->credential, &cap)) != A11_OK)
		goto out;
	cred->size = (UINT16)cap;
out:
	OPENSSL_cleanse(plain, sizeof(plain));
	OPENSSL_cleanse(&seed, sizeof(seed));
	if (r != A11_OK) {
		memset(cred, 0, sizeof(*cred));
		memset(enc_secret, 0, sizeof(*enc_secret));
	}
	return r;
}
