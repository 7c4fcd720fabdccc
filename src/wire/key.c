#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/asn1t.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "../common/kept.h"
#include "hash.h"
#include "key.h"

static const struct {
	TPMI_ECC_CURVE id;
	const char *name;
	int nid;
	size_t bytes;
} curves[] = {
	{ TPM2_ECC_NIST_P256, "P-256", NID_X9_62_prime256v1, 32 },
	{ TPM2_ECC_NIST_P384, "P-384", NID_secp384r1, 48 },
	{ TPM2_ECC_NIST_P521, "P-521", NID_secp521r1, 66 },
};

static int curve_index(TPMI_ECC_CURVE id, int nid)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].id == id || curves[i].nid == nid)
			return (int)i;
	return -1;
}

/* RSAPublicKey (RFC 8017 A.1.1), encoded with OpenSSL's ASN.1 templates. */
typedef struct {
	ASN1_INTEGER *n;
	ASN1_INTEGER *e;
} A11_RSA_PUB;

DECLARE_ASN1_FUNCTIONS(A11_RSA_PUB)

ASN1_SEQUENCE(A11_RSA_PUB) = {
	ASN1_SIMPLE(A11_RSA_PUB, n, ASN1_INTEGER),
	ASN1_SIMPLE(A11_RSA_PUB, e, ASN1_INTEGER),
} ASN1_SEQUENCE_END(A11_RSA_PUB)

IMPLEMENT_ASN1_FUNCTIONS(A11_RSA_PUB)

/* Keys are made by decoding a SubjectPublicKeyInfo in wire_libctx(): the
 * decoders always yield provider keys, while EVP_PKEY_CTX_new_from_name
 * hands key types to any ENGINE the application registered for them (the
 * pkcs11 engine in nginx or curl would route attest11's own keys back
 * into attest11.so). */

/* Setting a decoder context up looks through every decoder the providers
 * offer (about 0.5 ms, several times per broker request); decoding with
 * one is some 20 times cheaper, and a context decodes any number of keys
 * one after the other, failures included. So a few are kept, each with
 * the slot it decodes into. trylock: a caller never waits, and a lock
 * another thread held across fork() only costs that child the reuse. */
struct spki_decoder {
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY *key;
};

/* What a pool's contexts decode: public keys as SubjectPublicKeyInfo in
 * wire_libctx(), or private keys in any DER form in the default context
 * (as d2i_AutoPrivateKey, for the broker's credential keys). */
#define DECODERS_KEPT 8
struct decoder_pool {
	pthread_mutex_t lock;
	struct spki_decoder *kept[DECODERS_KEPT];
	size_t n;
	bool private;
};

static struct decoder_pool spki_pool = { PTHREAD_MUTEX_INITIALIZER, { NULL }, 0, false };
static struct decoder_pool private_pool = { PTHREAD_MUTEX_INITIALIZER, { NULL }, 0, true };

static void decoder_free(struct spki_decoder *d)
{
	if (d == NULL)
		return;
	OSSL_DECODER_CTX_free(d->ctx);
	EVP_PKEY_free(d->key);
	free(d);
}

static struct spki_decoder *decoder_take(struct decoder_pool *pool)
{
	struct spki_decoder *d = NULL;

	if (pthread_mutex_trylock(&pool->lock) == 0) {
		if (pool->n > 0)
			d = pool->kept[--pool->n];
		pthread_mutex_unlock(&pool->lock);
	}
	if (d != NULL)
		return d;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->ctx = pool->private
		? OSSL_DECODER_CTX_new_for_pkey(&d->key, "DER", NULL, NULL, EVP_PKEY_KEYPAIR, NULL,
						NULL)
		: OSSL_DECODER_CTX_new_for_pkey(&d->key, "DER", "SubjectPublicKeyInfo", NULL,
						EVP_PKEY_PUBLIC_KEY, wire_libctx(), NULL);
	if (d->ctx == NULL) {
		decoder_free(d);
		return NULL;
	}
	return d;
}

static void decoder_give(struct decoder_pool *pool, struct spki_decoder *d)
{
	EVP_PKEY_free(d->key);
	d->key = NULL;
	if (pthread_mutex_trylock(&pool->lock) == 0) {
		if (pool->n < DECODERS_KEPT) {
			pool->kept[pool->n++] = d;
			d = NULL;
		}
		pthread_mutex_unlock(&pool->lock);
	}
	decoder_free(d);
}

/* Exactly len bytes of DER decoded with a context of pool. */
static a11_err decode_with(struct decoder_pool *pool, const uint8_t *der, size_t len,
			   EVP_PKEY **out)
{
	struct spki_decoder *dc = decoder_take(pool);
	const unsigned char *p = der;
	size_t left = len;
	a11_err r;

	if (dc == NULL)
		return A11_ERR_NOMEM;
	/* The decoders validate the key (e.g. the point is on the curve). */
	r = OSSL_DECODER_from_data(dc->ctx, &p, &left) == 1 && dc->key != NULL && left == 0
		    ? A11_OK : A11_ERR_PARSE;
	if (r == A11_OK) {
		*out = dc->key;
		dc->key = NULL;
	}
	decoder_give(pool, dc);
	ERR_clear_error();
	return r;
}

a11_err wire_private_from_der(const uint8_t *der, size_t len, EVP_PKEY **out)
{
	return der != NULL && len > 0 ? decode_with(&private_pool, der, len, out) : A11_ERR_ARG;
}

static a11_err spki_to_evp(int alg_nid, int param_type, void *param, uint8_t *key, int key_len,
			   EVP_PKEY **out)
{
	X509_PUBKEY *xp = X509_PUBKEY_new();
	unsigned char *der = NULL;
	int n = 0;
	a11_err r = A11_ERR_CRYPTO;

	if (xp == NULL || !X509_PUBKEY_set0_param(xp, OBJ_nid2obj(alg_nid), param_type, param, key,
						  key_len)) {
		OPENSSL_free(key);
		goto out;
	}
	if ((n = i2d_X509_PUBKEY(xp, &der)) > 0)
		r = decode_with(&spki_pool, der, (size_t)n, out);
out:
	OPENSSL_free(der);
	X509_PUBKEY_free(xp);
	ERR_clear_error();
	return r;
}

static a11_err rsa_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	const TPM2B_PUBLIC_KEY_RSA *m = &pub->unique.rsa;
	uint32_t e = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
	A11_RSA_PUB *rp = A11_RSA_PUB_new();
	BIGNUM *bn = BN_bin2bn(m->buffer, m->size, NULL);
	unsigned char *der = NULL;
	int n;
	a11_err r = A11_ERR_CRYPTO;

	if (m->size == 0 || m->size > sizeof(m->buffer) ||
	    (size_t)m->size * 8 != pub->parameters.rsaDetail.keyBits) {
		r = A11_ERR_PARSE;
		goto out;
	}
	if (rp == NULL || bn == NULL || BN_to_ASN1_INTEGER(bn, rp->n) == NULL ||
	    !ASN1_INTEGER_set_uint64(rp->e, e) || (n = i2d_A11_RSA_PUB(rp, &der)) <= 0)
		goto out;
	r = spki_to_evp(NID_rsaEncryption, V_ASN1_NULL, NULL, der, n, out);
	der = NULL; /* owned by the X509_PUBKEY */
out:
	OPENSSL_free(der);
	BN_free(bn);
	A11_RSA_PUB_free(rp);
	return r;
}

static a11_err ecc_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	int ci = curve_index(pub->parameters.eccDetail.curveID, NID_undef);
	const TPMS_ECC_POINT *q = &pub->unique.ecc;
	uint8_t *point;
	size_t b;

	if (ci < 0)
		return A11_ERR_UNSUPPORTED;
	b = curves[ci].bytes;
	/* Coordinates may arrive without leading zeros; left-pad them. */
	if (q->x.size == 0 || q->y.size == 0 || q->x.size > b || q->y.size > b)
		return A11_ERR_PARSE;
	if ((point = OPENSSL_zalloc(1 + 2 * b)) == NULL)
		return A11_ERR_NOMEM;
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1 + b - q->x.size, q->x.buffer, q->x.size);
	memcpy(point + 1 + 2 * b - q->y.size, q->y.buffer, q->y.size);
	return spki_to_evp(NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT,
			   OBJ_nid2obj(curves[ci].nid), point, (int)(1 + 2 * b), out);
}

static a11_err pub_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	switch (pub->type) {
	case TPM2_ALG_RSA: return rsa_to_evp(pub, out);
	case TPM2_ALG_ECC: return ecc_to_evp(pub, out);
	default: return A11_ERR_UNSUPPORTED;
	}
}

/* Keys already made, by the digest of their marshalled public area: even
 * with a kept decoder, an EC key's decode builds its curve's group anew
 * (a tenth of the broker's CPU per attestation went to the same hosts'
 * EK, AK and storage parent, three to five times per exchange). An
 * EVP_PKEY is shared by reference; nobody changes one once made. */
static void key_hold(const uint8_t *val, size_t len, bool take)
{
	EVP_PKEY *k;

	if (len != sizeof(k))
		return;
	memcpy(&k, val, sizeof(k));
	if (take)
		EVP_PKEY_up_ref(k);
	else
		EVP_PKEY_free(k);
}

static struct kept keys_made = KEPT_INIT_HOLD(1024, key_hold);

a11_err wire_pub_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)], key[32], *v;
	size_t off = 0, len = 0;
	bool keyed = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) == TSS2_RC_SUCCESS &&
		     EVP_Digest(buf, off, key, NULL, EVP_sha256(), NULL) == 1;
	a11_err r;

	*out = NULL;
	if (keyed && (v = kept_get(&keys_made, key, &len)) != NULL) {
		if (len == sizeof(*out))
			memcpy(out, v, sizeof(*out));
		free(v);
		if (*out != NULL)
			return A11_OK;
	}
	r = pub_to_evp(pub, out);
	if (r == A11_OK && keyed && EVP_PKEY_up_ref(*out) == 1 &&
	    !kept_put(&keys_made, key, (const uint8_t *)out, sizeof(*out)))
		EVP_PKEY_free(*out); /* the map's reference, not kept */
	return r;
}

static a11_err bn_param(EVP_PKEY *key, const char *name, uint8_t *buf, size_t len)
{
	BIGNUM *bn = NULL;
	int ok = EVP_PKEY_get_bn_param(key, name, &bn) == 1 && BN_bn2binpad(bn, buf, (int)len) == (int)len;

	BN_free(bn);
	return ok ? A11_OK : A11_ERR_CRYPTO;
}

static a11_err rsa_from_evp(EVP_PKEY *key, TPMT_PUBLIC *pub)
{
	int bits = EVP_PKEY_get_bits(key);
	BIGNUM *e = NULL;
	BN_ULONG ev;

	if (bits != 2048 && bits != 3072 && bits != 4096)
		return A11_ERR_UNSUPPORTED;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		return A11_ERR_CRYPTO;
	ev = BN_get_word(e);
	BN_free(e);
	if (ev > UINT32_MAX || ev < 3)
		return A11_ERR_UNSUPPORTED;
	pub->type = TPM2_ALG_RSA;
	pub->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
	/* 0 means 65537 to a TPM, but the Name hashes what is sent: keep it 0. */
	pub->parameters.rsaDetail.exponent = ev == 65537 ? 0 : (UINT32)ev;
	pub->unique.rsa.size = (UINT16)(bits / 8);
	return bn_param(key, OSSL_PKEY_PARAM_RSA_N, pub->unique.rsa.buffer, (size_t)bits / 8);
}

static a11_err ecc_from_evp(EVP_PKEY *key, TPMT_PUBLIC *pub)
{
	char group[32];
	int ci;
	size_t b;
	a11_err r;

	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
					   sizeof(group), NULL) != 1)
		return A11_ERR_CRYPTO;
	ci = curve_index(0, OBJ_sn2nid(group));
	if (ci < 0)
		ci = curve_index(0, EC_curve_nist2nid(group));
	if (ci < 0)
		return A11_ERR_UNSUPPORTED;
	b = curves[ci].bytes;
	pub->type = TPM2_ALG_ECC;
	pub->parameters.eccDetail.curveID = curves[ci].id;
	pub->unique.ecc.x.size = pub->unique.ecc.y.size = (UINT16)b;
	if ((r = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, pub->unique.ecc.x.buffer, b)) != A11_OK ||
	    (r = bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, pub->unique.ecc.y.buffer, b)) != A11_OK)
		return r;
	return A11_OK;
}

a11_err wire_pub_from_evp(EVP_PKEY *key, TPMT_PUBLIC *pub)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA: return rsa_from_evp(key, pub);
	case EVP_PKEY_EC: return ecc_from_evp(key, pub);
	default: return A11_ERR_UNSUPPORTED;
	}
}

a11_err wire_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0, ds = wire_digest_size(pub->nameAlg);

	if (ds == 0)
		return A11_ERR_UNSUPPORTED;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return A11_ERR_PARSE;
	name->name[0] = (uint8_t)(pub->nameAlg >> 8);
	name->name[1] = (uint8_t)pub->nameAlg;
	name->size = (UINT16)(2 + ds);
	return wire_hash(pub->nameAlg, buf, off, name->name + 2);
}

a11_err wire_qualified_name(const TPM2B_NAME *parent_qn, const TPM2B_NAME *name,
			    TPM2B_NAME *qn)
{
	uint8_t buf[2 * sizeof(name->name)];
	TPMI_ALG_HASH alg;
	size_t ds;

	if (name->size < 2)
		return A11_ERR_PARSE;
	alg = (TPMI_ALG_HASH)(name->name[0] << 8 | name->name[1]);
	ds = wire_digest_size(alg);
	if (ds == 0 || name->size != 2 + ds || parent_qn->size > sizeof(parent_qn->name))
		return A11_ERR_PARSE;
	memcpy(buf, parent_qn->name, parent_qn->size);
	memcpy(buf + parent_qn->size, name->name, name->size);
	qn->name[0] = name->name[0];
	qn->name[1] = name->name[1];
	qn->size = (UINT16)(2 + ds);
	return wire_hash(alg, buf, (size_t)parent_qn->size + name->size, qn->name + 2);
}

void wire_hierarchy_qn(TPM2_HANDLE hierarchy, TPM2B_NAME *qn)
{
	qn->size = 4;
	qn->name[0] = (uint8_t)(hierarchy >> 24);
	qn->name[1] = (uint8_t)(hierarchy >> 16);
	qn->name[2] = (uint8_t)(hierarchy >> 8);
	qn->name[3] = (uint8_t)hierarchy;
}

a11_err wire_parse_public(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, out) != TSS2_RC_SUCCESS || off != len)
		return A11_ERR_PARSE;
	return A11_OK;
}

a11_err wire_parse_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, out) != TSS2_RC_SUCCESS || off != len)
		return A11_ERR_PARSE;
	return A11_OK;
}

bool wire_cert_has_key(X509 *cert, const TPMT_PUBLIC *pub)
{
	EVP_PKEY *want = NULL, *got = cert != NULL ? X509_get0_pubkey(cert) : NULL;
	bool eq = got != NULL && wire_pub_to_evp(pub, &want) == A11_OK &&
		  EVP_PKEY_eq(got, want) == 1;

	EVP_PKEY_free(want);
	return eq;
}
