#include <string.h>
#include <openssl/core_names.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>

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

static a11_err rsa_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	const TPM2B_PUBLIC_KEY_RSA *n = &pub->unique.rsa;
	uint32_t e = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn_n = BN_bin2bn(n->buffer, n->size, NULL);
	BIGNUM *bn_e = BN_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	a11_err r = A11_ERR_CRYPTO;

	if (n->size == 0 || n->size * 8 != pub->parameters.rsaDetail.keyBits) {
		r = A11_ERR_PARSE;
		goto out;
	}
	if (bld == NULL || bn_n == NULL || bn_e == NULL || ctx == NULL || !BN_set_word(bn_e, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	r = A11_OK;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static a11_err ecc_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	int ci = curve_index(pub->parameters.eccDetail.curveID, NID_undef);
	const TPMS_ECC_POINT *q = &pub->unique.ecc;
	uint8_t point[1 + 2 * 66];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	a11_err r = A11_ERR_CRYPTO;
	size_t b;

	if (ci < 0)
		return A11_ERR_UNSUPPORTED;
	b = curves[ci].bytes;
	/* Coordinates may arrive without leading zeros; left-pad them. */
	if (q->x.size == 0 || q->y.size == 0 || q->x.size > b || q->y.size > b)
		return A11_ERR_PARSE;
	memset(point, 0, sizeof(point));
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1 + b - q->x.size, q->x.buffer, q->x.size);
	memcpy(point + 1 + 2 * b - q->y.size, q->y.buffer, q->y.size);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[ci].name, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * b) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1)
		goto out;
	/* fromdata checks that the point is on the curve. */
	r = EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1 ? A11_OK : A11_ERR_PARSE;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

a11_err wire_pub_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	*out = NULL;
	switch (pub->type) {
	case TPM2_ALG_RSA: return rsa_to_evp(pub, out);
	case TPM2_ALG_ECC: return ecc_to_evp(pub, out);
	default: return A11_ERR_UNSUPPORTED;
	}
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
