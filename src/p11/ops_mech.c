/* Mechanism tables and mechanism parameters (CK_RSA_PKCS_PSS_PARAMS,
 * CK_RSA_PKCS_OAEP_PARAMS). The lists a token offers are fixed by its key
 * type: what the TPM key can do, through the mapping in ops_rsa.c and
 * ops_ec.c, plus software digests. */
#include <string.h>
#include <openssl/crypto.h>

#include "ops_int.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 4096
#define EC_MIN_BITS 256
#define EC_MAX_BITS 521

#define SV (CKF_SIGN | CKF_VERIFY)
#define EC_FLAGS (SV | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const struct ops_mech mechs[] = {
	{ CKM_RSA_PKCS, CKK_RSA, FAM_RSA_PKCS, TPM2_ALG_NULL, SV | CKF_DECRYPT },
	{ CKM_RSA_PKCS_PSS, CKK_RSA, FAM_RSA_PSS, TPM2_ALG_NULL, SV },
	{ CKM_RSA_PKCS_OAEP, CKK_RSA, FAM_RSA_OAEP, TPM2_ALG_NULL, CKF_DECRYPT },
	{ CKM_SHA1_RSA_PKCS, CKK_RSA, FAM_RSA_PKCS, TPM2_ALG_SHA1, SV },
	{ CKM_SHA256_RSA_PKCS, CKK_RSA, FAM_RSA_PKCS, TPM2_ALG_SHA256, SV },
	{ CKM_SHA384_RSA_PKCS, CKK_RSA, FAM_RSA_PKCS, TPM2_ALG_SHA384, SV },
	{ CKM_SHA512_RSA_PKCS, CKK_RSA, FAM_RSA_PKCS, TPM2_ALG_SHA512, SV },
	{ CKM_SHA1_RSA_PKCS_PSS, CKK_RSA, FAM_RSA_PSS, TPM2_ALG_SHA1, SV },
	{ CKM_SHA256_RSA_PKCS_PSS, CKK_RSA, FAM_RSA_PSS, TPM2_ALG_SHA256, SV },
	{ CKM_SHA384_RSA_PKCS_PSS, CKK_RSA, FAM_RSA_PSS, TPM2_ALG_SHA384, SV },
	{ CKM_SHA512_RSA_PKCS_PSS, CKK_RSA, FAM_RSA_PSS, TPM2_ALG_SHA512, SV },
	{ CKM_ECDSA, CKK_EC, FAM_ECDSA, TPM2_ALG_NULL, EC_FLAGS },
	{ CKM_ECDSA_SHA1, CKK_EC, FAM_ECDSA, TPM2_ALG_SHA1, EC_FLAGS },
	{ CKM_ECDSA_SHA256, CKK_EC, FAM_ECDSA, TPM2_ALG_SHA256, EC_FLAGS },
	{ CKM_ECDSA_SHA384, CKK_EC, FAM_ECDSA, TPM2_ALG_SHA384, EC_FLAGS },
	{ CKM_ECDSA_SHA512, CKK_EC, FAM_ECDSA, TPM2_ALG_SHA512, EC_FLAGS },
	{ CKM_SHA_1, 0, FAM_DIGEST, TPM2_ALG_SHA1, CKF_DIGEST },
	{ CKM_SHA256, 0, FAM_DIGEST, TPM2_ALG_SHA256, CKF_DIGEST },
	{ CKM_SHA384, 0, FAM_DIGEST, TPM2_ALG_SHA384, CKF_DIGEST },
	{ CKM_SHA512, 0, FAM_DIGEST, TPM2_ALG_SHA512, CKF_DIGEST },
};

/* The offered lists: key mechanisms first, digests last, so that
 * ops_key_mechanisms is a prefix of ops_mechanisms. */
#define N_DIGESTS 4
static const CK_MECHANISM_TYPE rsa_list[] = {
	CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP,
	CKM_SHA1_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS,
	CKM_SHA1_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS,
	CKM_SHA512_RSA_PKCS_PSS,
	CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512,
};
static const CK_MECHANISM_TYPE ec_list[] = {
	CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512,
	CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512,
};

void ops_mechanisms(CK_KEY_TYPE type, const CK_MECHANISM_TYPE **list, size_t *n)
{
	*list = NULL;
	*n = 0;
	if (type == CKK_RSA) {
		*list = rsa_list;
		*n = sizeof(rsa_list) / sizeof(rsa_list[0]);
	} else if (type == CKK_EC) {
		*list = ec_list;
		*n = sizeof(ec_list) / sizeof(ec_list[0]);
	}
}

void ops_key_mechanisms(CK_KEY_TYPE type, const CK_MECHANISM_TYPE **list, size_t *n)
{
	ops_mechanisms(type, list, n);
	if (*n >= N_DIGESTS)
		*n -= N_DIGESTS;
}

const struct ops_mech *ops_mech_find(CK_MECHANISM_TYPE m)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (mechs[i].type == m)
			return &mechs[i];
	return NULL;
}

CK_RV ops_mechanism_info(CK_KEY_TYPE type, CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info)
{
	const CK_MECHANISM_TYPE *list;
	const struct ops_mech *d = ops_mech_find(m);
	size_t n;

	ops_mechanisms(type, &list, &n);
	for (size_t i = 0; d != NULL && i < n; i++) {
		if (list[i] != m)
			continue;
		memset(info, 0, sizeof(*info));
		info->flags = d->flags;
		if (d->fam == FAM_ECDSA) {
			info->ulMinKeySize = EC_MIN_BITS;
			info->ulMaxKeySize = EC_MAX_BITS;
		} else if (d->fam != FAM_DIGEST) {
			info->ulMinKeySize = RSA_MIN_BITS;
			info->ulMaxKeySize = RSA_MAX_BITS;
		}
		return CKR_OK;
	}
	return CKR_MECHANISM_INVALID;
}

/* The key sizes the table advertises are the ones ops_init accepts. */
bool ops_key_size_ok(CK_KEY_TYPE type, size_t bits)
{
	if (type == CKK_RSA)
		return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
	return bits >= EC_MIN_BITS && bits <= EC_MAX_BITS;
}

const EVP_MD *ops_md(TPMI_ALG_HASH h)
{
	switch (h) {
	case TPM2_ALG_SHA1: return EVP_sha1();
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	case TPM2_ALG_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

size_t ops_hash_size(TPMI_ALG_HASH h)
{
	switch (h) {
	case TPM2_ALG_SHA1: return 20;
	case TPM2_ALG_SHA256: return 32;
	case TPM2_ALG_SHA384: return 48;
	case TPM2_ALG_SHA512: return 64;
	default: return 0;
	}
}

/* CKM_SHA_1.. -> TPM hash; TPM2_ALG_NULL for anything else (SHA-224 is
 * not offered: TPMs rarely implement it). */
static TPMI_ALG_HASH hash_of_ckm(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_SHA_1: return TPM2_ALG_SHA1;
	case CKM_SHA256: return TPM2_ALG_SHA256;
	case CKM_SHA384: return TPM2_ALG_SHA384;
	case CKM_SHA512: return TPM2_ALG_SHA512;
	default: return TPM2_ALG_NULL;
	}
}

static TPMI_ALG_HASH hash_of_mgf(CK_RSA_PKCS_MGF_TYPE g)
{
	switch (g) {
	case CKG_MGF1_SHA1: return TPM2_ALG_SHA1;
	case CKG_MGF1_SHA256: return TPM2_ALG_SHA256;
	case CKG_MGF1_SHA384: return TPM2_ALG_SHA384;
	case CKG_MGF1_SHA512: return TPM2_ALG_SHA512;
	default: return TPM2_ALG_NULL;
	}
}

static CK_RV pss_params(struct p11_op *op, const struct ops_mech *d, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;
	size_t em_len, h_len;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	op->hash = hash_of_ckm(p->hashAlg);
	op->mgf_hash = hash_of_mgf(p->mgf);
	/* The hash-and-sign variants name their hash twice; they must agree. */
	if (op->hash == TPM2_ALG_NULL || op->mgf_hash == TPM2_ALG_NULL ||
	    (d->hash != TPM2_ALG_NULL && d->hash != op->hash))
		return CKR_MECHANISM_PARAM_INVALID;
	/* RFC 8017 9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits-1)/8). */
	em_len = (op->key.bits - 1 + 7) / 8;
	h_len = ops_hash_size(op->hash);
	if (p->sLen > em_len || em_len - p->sLen < h_len + 2)
		return CKR_MECHANISM_PARAM_INVALID;
	op->salt_len = p->sLen;
	return CKR_OK;
}

static CK_RV oaep_params(struct p11_op *op, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;

	if (p == NULL || m->ulParameterLen != sizeof(*p))
		return CKR_MECHANISM_PARAM_INVALID;
	op->hash = hash_of_ckm(p->hashAlg);
	op->mgf_hash = hash_of_mgf(p->mgf);
	if (op->hash == TPM2_ALG_NULL || op->mgf_hash == TPM2_ALG_NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	/* RFC 8017 7.1.2: k >= 2 hLen + 2, or no message fits. */
	if (ops_key_bytes(op) < 2 * ops_hash_size(op->hash) + 2)
		return CKR_MECHANISM_PARAM_INVALID;
	/* Some callers leave source 0 for "no label"; accept it alike. */
	if (p->source != CKZ_DATA_SPECIFIED && p->source != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen == 0)
		return CKR_OK;
	if (p->pSourceData == NULL || p->ulSourceDataLen > OPS_LABEL_MAX)
		return CKR_MECHANISM_PARAM_INVALID;
	op->label = OPENSSL_memdup(p->pSourceData, p->ulSourceDataLen);
	if (op->label == NULL)
		return CKR_HOST_MEMORY;
	op->label_len = p->ulSourceDataLen;
	return CKR_OK;
}

CK_RV ops_mech_params(struct p11_op *op, const struct ops_mech *d, const CK_MECHANISM *m)
{
	if (d->fam == FAM_RSA_PSS)
		return pss_params(op, d, m);
	if (d->fam == FAM_RSA_OAEP)
		return oaep_params(op, m);
	/* Parameterless mechanisms: a NULL or empty parameter only. */
	if (m->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	op->hash = d->hash;
	return CKR_OK;
}
