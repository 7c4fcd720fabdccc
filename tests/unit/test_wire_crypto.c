/* Broker-side TPM crypto: KDFs, policy digests, seeds, outer/inner
 * wrappers, import blobs and MakeCredential. Known answers come from
 * NOTES.md §2; everything else is undone here with OpenSSL primitives
 * (KBKDF for KDFa, SSKDF for KDFe, raw OAEP/ECDH/HMAC/AES-CFB), never with
 * the code under test, and compared with the original keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "../testlib.h"
#include "../../src/wire/hash.h"
#include "../../src/wire/kdf.h"
#include "../../src/wire/key.h"
#include "../../src/wire/policy.h"
#include "../../src/wire/wrap.h"

static const EVP_MD *md_of(TPMI_ALG_HASH alg)
{
	return alg == TPM2_ALG_SHA384 ? EVP_sha384() :
	       alg == TPM2_ALG_SHA1 ? EVP_sha1() : EVP_sha256();
}

static size_t ds_of(TPMI_ALG_HASH alg)
{
	return (size_t)EVP_MD_get_size(md_of(alg));
}

static void seq(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)i;
}

static void assert_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[256];

	assert_int_equal(t_unhex(hex, want, sizeof(want)), len);
	assert_memory_equal(got, want, len);
}

/* The NOTES.md Name U = 000b || AA x 32. */
static void name_u(TPM2B_NAME *n)
{
	memset(n, 0, sizeof(*n));
	n->size = 34;
	n->name[1] = 0x0b;
	memset(n->name + 2, 0xAA, 32);
}

/* ---- independent references ------------------------------------------ */

/* KDFa is SP 800-108 counter mode with HMAC, 32-bit counter and length,
 * a 00 separator: exactly OpenSSL's KBKDF defaults (label = salt). */
static void ref_kdfa(TPMI_ALG_HASH alg, const uint8_t *key, size_t klen, const char *label,
		     const uint8_t *ctx, size_t clen, uint8_t *out, size_t bits)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM p[7], *q = p;

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *)"counter", 0);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *)"HMAC", 0);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md_of(alg)), 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, klen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label));
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx, clen);
	*q = OSSL_PARAM_construct_end();
	assert_non_null(kc);
	assert_int_equal(EVP_KDF_derive(kc, out, bits / 8, p), 1);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
}

/* KDFe is SP 800-56C one-step with a hash: OpenSSL's SSKDF, with
 * FixedInfo = use || 00 || PartyU || PartyV. */
static void ref_kdfe(TPMI_ALG_HASH alg, const uint8_t *z, size_t zlen, const char *use,
		     const uint8_t *pu, size_t pulen, const uint8_t *pv, size_t pvlen,
		     uint8_t *out, size_t bits)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	uint8_t info[300];
	size_t ul = strlen(use) + 1;
	OSSL_PARAM p[4];

	assert_true(ul + pulen + pvlen <= sizeof(info));
	memcpy(info, use, ul);
	memcpy(info + ul, pu, pulen);
	memcpy(info + ul + pulen, pv, pvlen);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md_of(alg)), 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, ul + pulen + pvlen);
	p[3] = OSSL_PARAM_construct_end();
	assert_non_null(kc);
	assert_int_equal(EVP_KDF_derive(kc, out, bits / 8, p), 1);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
}

/* ---- known answers (NOTES.md §2) and KDF properties ------------------- */

static void test_kdfa_kat(void **state)
{
	static const struct {
		TPMI_ALG_HASH alg;
		size_t key_len; /* of the 00..2f sequence */
		const char *label;
		bool with_u;
		size_t bits;
		const char *hex;
	} v[] = {
		{ TPM2_ALG_SHA256, 32, "INTEGRITY", false, 256,
		  "bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e" },
		{ TPM2_ALG_SHA256, 32, "STORAGE", true, 128, "0415b32b6f43896a87e7b29be8f2ac14" },
		{ TPM2_ALG_SHA256, 32, "STORAGE", true, 256,
		  "f21ebee417de1a0b7d7f4e76cf59d4b980eaf32a209911fcb1ecae55a42a1cc8" },
		{ TPM2_ALG_SHA384, 48, "STORAGE", true, 256,
		  "5762ba59194554860a86caa8ef9c49d4723c9cb78947672254d95e7d074e6c3e" },
		/* Empty key (Python model): OpenSSL's HMAC must not reuse an old key. */
		{ TPM2_ALG_SHA256, 0, "TEST", false, 256,
		  "ca36c7db3e17700725cd5905a5ec1316da2a624a056cee3fdd759c33ca45f7e8" },
	};
	uint8_t seed[48], out[32];
	TPM2B_NAME u;

	(void)state;
	seq(seed, sizeof(seed));
	name_u(&u);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(wire_kdfa(v[i].alg, v[i].key_len ? seed : NULL, v[i].key_len,
					   v[i].label, v[i].with_u ? u.name : NULL,
					   v[i].with_u ? u.size : 0, NULL, 0, out, v[i].bits), A11_OK);
		assert_hex(out, v[i].bits / 8, v[i].hex);
	}
}

/* Several blocks (the counter must go 1, 2, 3...) and a cut last block,
 * against OpenSSL's KBKDF; U and V split anywhere give the same bytes. */
static void test_kdfa_multiblock(void **state)
{
	static const struct { TPMI_ALG_HASH alg; size_t bits; } c[] = {
		{ TPM2_ALG_SHA256, 512 }, { TPM2_ALG_SHA256, 264 },
		{ TPM2_ALG_SHA384, 1000 }, { TPM2_ALG_SHA1, 168 },
	};
	uint8_t key[32], uv[40], got[125], want[125];

	(void)state;
	seq(key, sizeof(key));
	memset(uv, 0x5C, sizeof(uv));
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ref_kdfa(c[i].alg, key, sizeof(key), "STORAGE", uv, sizeof(uv), want, c[i].bits);
		assert_int_equal(wire_kdfa(c[i].alg, key, sizeof(key), "STORAGE", uv, 10,
					   uv + 10, 30, got, c[i].bits), A11_OK);
		assert_memory_equal(got, want, c[i].bits / 8);
	}
	/* The first block of a long output differs from a short one: L is hashed. */
	assert_int_equal(wire_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, got, 256), A11_OK);
	assert_int_equal(wire_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, want, 512), A11_OK);
	assert_memory_not_equal(got, want, 32);
}

static void test_kdfe(void **state)
{
	uint8_t z[66], pu[48], pv[48], got[100], want[100];

	(void)state;
	memset(z, 0x11, sizeof(z));
	memset(pu, 0x22, sizeof(pu));
	memset(pv, 0x33, sizeof(pv));
	assert_int_equal(wire_kdfe(TPM2_ALG_SHA256, z, 32, "DUPLICATE", pu, 32, pv, 32, got, 256), A11_OK);
	assert_hex(got, 32, "287b9d20caed847e961f18839485447566f4c32511488f0b31aefc3cb5b5a362");
	assert_int_equal(wire_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32, got, 256), A11_OK);
	assert_hex(got, 32, "349308f14b258cab5f67a14bfd8329ea42365fcdca2f9e7e658bc7504d5d0cb3");
	/* Multi-block, P-521-sized Z, against OpenSSL's SSKDF. */
	ref_kdfe(TPM2_ALG_SHA384, z, 66, "DUPLICATE", pu, 48, pv, 48, want, 800);
	assert_int_equal(wire_kdfe(TPM2_ALG_SHA384, z, 66, "DUPLICATE", pu, 48, pv, 48, got, 800), A11_OK);
	assert_memory_equal(got, want, 100);
	ref_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32, want, 520);
	assert_int_equal(wire_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", pu, 32, pv, 32, got, 520), A11_OK);
	assert_memory_equal(got, want, 65);
}

static void test_kdf_bad_args(void **state)
{
	uint8_t k[32] = { 1 }, out[32];

	(void)state;
	assert_int_equal(wire_kdfa(TPM2_ALG_SHA256, k, 32, "X", NULL, 0, NULL, 0, out, 0), A11_ERR_ARG);
	assert_int_equal(wire_kdfa(TPM2_ALG_SHA256, k, 32, "X", NULL, 0, NULL, 0, out, 12), A11_ERR_ARG);
	assert_int_equal(wire_kdfa(TPM2_ALG_SHA256, k, 32, NULL, NULL, 0, NULL, 0, out, 256), A11_ERR_ARG);
	assert_int_equal(wire_kdfa(TPM2_ALG_SHA256, k, 32, "X", NULL, 5, NULL, 0, out, 256), A11_ERR_ARG);
	assert_int_equal(wire_kdfa(TPM2_ALG_SM3_256, k, 32, "X", NULL, 0, NULL, 0, out, 256),
			 A11_ERR_UNSUPPORTED);
	assert_int_equal(wire_kdfe(TPM2_ALG_SHA256, k, 32, "X", NULL, 0, NULL, 0, out, 7), A11_ERR_ARG);
	assert_int_equal(wire_kdfe(TPM2_ALG_SHA256, k, 32, NULL, NULL, 0, NULL, 0, out, 256), A11_ERR_ARG);
	assert_int_equal(wire_kdfe(0x1234, k, 32, "X", NULL, 0, NULL, 0, out, 256), A11_ERR_UNSUPPORTED);
}

/* ---- policy digests --------------------------------------------------- */

static void test_policy_kat(void **state)
{
	TPML_PCR_SELECTION sel = { .count = 1 };
	struct a11_pcr_values vals;
	TPM2B_DIGEST pd;
	TPM2B_NAME endorsement;

	(void)state;
	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &endorsement);
	assert_int_equal(wire_policy_init(TPM2_ALG_SHA256, &pd), A11_OK);
	assert_int_equal(wire_policy_secret(TPM2_ALG_SHA256, &pd, &endorsement, NULL), A11_OK);
	assert_hex(pd.buffer, pd.size, "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa");

	assert_int_equal(wire_policy_init(TPM2_ALG_SHA256, &pd), A11_OK);
	assert_int_equal(wire_policy_authvalue(TPM2_ALG_SHA256, &pd), A11_OK);
	assert_hex(pd.buffer, pd.size, "8fcd2169ab92694e0c633f1ab772842b8241bbc20288981fc7ac1eddc1fddb0e");

	sel.pcrSelections[0] = (TPMS_PCR_SELECTION){ .hash = TPM2_ALG_SHA256, .sizeofSelect = 3,
						     .pcrSelect = { 0x81, 0, 0 } };
	memset(&vals, 0, sizeof(vals));
	vals.count = 2;
	vals.v[0].size = vals.v[1].size = 32;
	assert_int_equal(wire_policy_init(TPM2_ALG_SHA256, &pd), A11_OK);
	assert_int_equal(wire_policy_pcr(TPM2_ALG_SHA256, &pd, &sel, &vals), A11_OK);
	assert_hex(pd.buffer, pd.size, "02e3642b3e29eeccfffd8031c00a6f0a0febe5ceea2f6ef6b0322fe81598cf31");
}

/* Two banks, a policyRef and a SHA-384 session. Expected digests come
 * from an independent Python model of the same formulas. */
static void test_policy_formulas(void **state)
{
	TPML_PCR_SELECTION sel = { .count = 2 };
	struct a11_pcr_values vals = { .count = 3 };
	TPM2B_NONCE ref = { .size = 3, .buffer = "abc" };
	TPM2B_NAME u;
	TPM2B_DIGEST pd;

	(void)state;
	sel.pcrSelections[0] = (TPMS_PCR_SELECTION){ TPM2_ALG_SHA1, 3, { 0x01 } };
	sel.pcrSelections[1] = (TPMS_PCR_SELECTION){ TPM2_ALG_SHA256, 3, { 0x06 } };
	for (int i = 0; i < 3; i++) {
		vals.v[i].size = i ? 32 : 20;
		memset(vals.v[i].buffer, i + 1, vals.v[i].size);
	}
	assert_int_equal(wire_policy_init(TPM2_ALG_SHA384, &pd), A11_OK);
	assert_int_equal(wire_policy_pcr(TPM2_ALG_SHA384, &pd, &sel, &vals), A11_OK);
	assert_hex(pd.buffer, 48, "8001ecc384d25bee1ee26874a82afc4c535e326a95d0dd59"
				  "f74ab1a7e47ce4e933b42b25ef73738fedcd2f91128a62c0");
	name_u(&u);
	assert_int_equal(wire_policy_secret(TPM2_ALG_SHA384, &pd, &u, &ref), A11_OK);
	assert_hex(pd.buffer, 48, "a433aae22004824d93cbba8597312710ed70526f9f00b4fa"
				  "d0fd185c9b37bac0a54fd77e977725917ee44b35dcf8d4d4");
	/* Wrong value count or size, a digest of another bank: refused. */
	vals.count = 2;
	assert_int_equal(wire_policy_pcr(TPM2_ALG_SHA384, &pd, &sel, &vals), A11_ERR_ARG);
	vals.count = 3, vals.v[0].size = 32;
	assert_int_equal(wire_policy_pcr(TPM2_ALG_SHA384, &pd, &sel, &vals), A11_ERR_ARG);
	assert_int_equal(wire_policy_authvalue(TPM2_ALG_SHA256, &pd), A11_ERR_ARG);
	assert_int_equal(wire_policy_init(0x1234, &pd), A11_ERR_UNSUPPORTED);
}

/* ---- parents, seeds and the outer wrapper ---------------------------- */

struct parent {
	EVP_PKEY *key;
	TPMT_PUBLIC pub;
};

struct keys {
	EVP_PKEY *k[4];          /* rsa2048, rsa3072, p256, p384 */
	struct parent p[3];      /* RSA-2048, P-256 (SHA-256/AES-128), P-384 (SHA-384/AES-256) */
};

/* A storage parent as the TCG templates make one. */
static void make_parent(struct parent *p, EVP_PKEY *key, TPMI_ALG_HASH alg, UINT16 aes_bits)
{
	TPMT_SYM_DEF_OBJECT *s;

	memset(p, 0, sizeof(*p));
	p->key = key;
	assert_int_equal(wire_pub_from_evp(key, &p->pub), A11_OK);
	p->pub.nameAlg = alg;
	p->pub.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
				  TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
	s = p->pub.type == TPM2_ALG_RSA ? &p->pub.parameters.rsaDetail.symmetric :
					   &p->pub.parameters.eccDetail.symmetric;
	*s = (TPMT_SYM_DEF_OBJECT){ TPM2_ALG_AES, { .aes = aes_bits }, { .aes = TPM2_ALG_CFB } };
	p->pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	if (p->pub.type == TPM2_ALG_ECC) {
		p->pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

static int setup_keys(void **state)
{
	static const char *kinds[] = { "rsa2048", "rsa3072", "p256", "p384" };
	struct keys *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return -1;
	for (int i = 0; i < 4; i++)
		k->k[i] = t_keygen(kinds[i]);
	make_parent(&k->p[0], t_keygen("rsa2048"), TPM2_ALG_SHA256, 128);
	make_parent(&k->p[1], t_keygen("p256"), TPM2_ALG_SHA256, 128);
	make_parent(&k->p[2], t_keygen("p384"), TPM2_ALG_SHA384, 256);
	*state = k;
	return 0;
}

static int teardown_keys(void **state)
{
	struct keys *k = *state;

	for (int i = 0; i < 4; i++)
		EVP_PKEY_free(k->k[i]);
	for (int i = 0; i < 3; i++)
		EVP_PKEY_free(k->p[i].key);
	free(k);
	return 0;
}

/* Z = x(d_P * Q_e): what the TPM computes with the parent's private key.
 * Q_e becomes an OpenSSL key through key.c, which is not under test here. */
static size_t ecdh_with_parent(const struct parent *p, const TPMS_ECC_POINT *qe, uint8_t *z)
{
	TPMT_PUBLIC eph = { .type = TPM2_ALG_ECC, .unique.ecc = *qe };
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, p->key, NULL);
	EVP_PKEY *peer = NULL;
	size_t zlen = 66;

	eph.parameters.eccDetail.curveID = p->pub.parameters.eccDetail.curveID;
	assert_int_equal(wire_pub_to_evp(&eph, &peer), A11_OK);
	assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(ctx, peer), 1);
	assert_int_equal(EVP_PKEY_derive(ctx, z, &zlen), 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return zlen;
}

/* RSA-OAEP decryption with the parent's private key: the seed, or 0. */
static size_t oaep_decrypt(const struct parent *p, const char *label, size_t label_len,
			   const TPM2B_ENCRYPTED_SECRET *enc, uint8_t *seed)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, p->key, NULL);
	uint8_t tmp[512]; /* OpenSSL wants room for a whole modulus */
	size_t len = sizeof(tmp);
	int ok;

	assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md_of(p->pub.nameAlg)), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(p->pub.nameAlg)), 1);
	assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup(label, label_len),
						     (int)label_len) > 0);
	ok = EVP_PKEY_decrypt(ctx, tmp, &len, enc->secret, enc->size) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return 0;
	memcpy(seed, tmp, len);
	return len;
}

/* The seed as the TPM recovers it from enc with the parent's private key. */
static size_t recover_seed(const struct parent *p, const char *label,
			   const TPM2B_ENCRYPTED_SECRET *enc, uint8_t *seed)
{
	size_t ds = ds_of(p->pub.nameAlg), off = 0, zlen;
	TPMS_ECC_POINT qe;
	uint8_t z[66];

	if (p->pub.type == TPM2_ALG_RSA) {
		assert_int_equal(oaep_decrypt(p, label, strlen(label) + 1, enc, seed), ds);
		return ds;
	}
	memset(&qe, 0, sizeof(qe));
	assert_int_equal(Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc->secret, enc->size, &off, &qe), 0);
	assert_int_equal(off, enc->size);
	zlen = ecdh_with_parent(p, &qe, z);
	assert_int_equal(qe.x.size, zlen); /* padded to the field size */
	ref_kdfe(p->pub.nameAlg, z, zlen, label, qe.x.buffer, qe.x.size,
		 p->pub.unique.ecc.x.buffer, p->pub.unique.ecc.x.size, seed, ds * 8);
	return ds;
}

/* Undo the outer wrapper as TPM2_Import does: check the HMAC over
 * encSens || Name, then decrypt. Returns the plaintext length, or 0 if the
 * HMAC does not match. */
static size_t outer_unwrap(const TPMT_PUBLIC *parent, const uint8_t *seed, size_t slen,
			   const TPM2B_NAME *name, const uint8_t *blob, size_t blen,
			   uint8_t *plain)
{
	TPMI_ALG_HASH alg = parent->nameAlg;
	size_t ds = ds_of(alg), kb = parent->parameters.rsaDetail.symmetric.keyBits.aes / 8;
	size_t elen = blen - 2 - ds, mlen = 0;
	uint8_t sym[32], hk[64], mac[64], iv[16] = { 0 }, buf[1200];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_true(blen > 2 + ds && (size_t)(blob[0] << 8 | blob[1]) == ds);
	ref_kdfa(alg, seed, slen, "STORAGE", name->name, name->size, sym, kb * 8);
	ref_kdfa(alg, seed, slen, "INTEGRITY", NULL, 0, hk, ds * 8);
	memcpy(buf, blob + 2 + ds, elen);
	memcpy(buf + elen, name->name, name->size);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, EVP_MD_get0_name(md_of(alg)), NULL, hk, ds,
				  buf, elen + name->size, mac, sizeof(mac), &mlen));
	if (memcmp(mac, blob + 2, ds) != 0) {
		EVP_CIPHER_CTX_free(c);
		return 0;
	}
	assert_int_equal(EVP_DecryptInit_ex(c, kb == 16 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(),
					    NULL, sym, iv), 1);
	assert_int_equal(EVP_DecryptUpdate(c, plain, &n, blob + 2 + ds, (int)elen), 1);
	assert_int_equal((size_t)n, elen);
	EVP_CIPHER_CTX_free(c);
	return elen;
}

static void test_outer_wrap_kat(void **state)
{
	TPMT_PUBLIC parent = { .type = TPM2_ALG_RSA, .nameAlg = TPM2_ALG_SHA256 };
	TPM2B_DIGEST seed = { .size = 32 };
	uint8_t plain[34], out[100];
	size_t len = sizeof(out);
	TPM2B_NAME u;

	(void)state;
	parent.parameters.rsaDetail.symmetric =
		(TPMT_SYM_DEF_OBJECT){ TPM2_ALG_AES, { .aes = 128 }, { .aes = TPM2_ALG_CFB } };
	seq(seed.buffer, 32);
	name_u(&u);
	plain[0] = 0, plain[1] = 0x20;
	memset(plain + 2, 0x5A, 32);
	assert_int_equal(wire_outer_wrap(&parent, &seed, &u, plain, 34, out, &len), A11_OK);
	assert_int_equal(len, 68);
	assert_hex(out, len, "00209a1055f41ab985868e43ef34318eac29f11055103067d38de967cd22ddf635dc"
			     "1e4a70a964261b071ad66a674f80c86c2493743b2bbabb72b3da97b130eaa389ae0c");
	/* One byte short of room: refused, not truncated. */
	len = 67;
	assert_int_equal(wire_outer_wrap(&parent, &seed, &u, plain, 34, out, &len), A11_ERR_ARG);
	len = sizeof(out);
	parent.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CBC;
	assert_int_equal(wire_outer_wrap(&parent, &seed, &u, plain, 34, out, &len), A11_ERR_UNSUPPORTED);
	parent.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	seed.size = 0;
	assert_int_equal(wire_outer_wrap(&parent, &seed, &u, plain, 34, out, &len), A11_ERR_ARG);
}

/* The seed decrypts with the parent's private key (RSA: OAEP with the
 * label and its NUL; ECC: ECDH + KDFe), for both labels. */
static void test_seed(void **state)
{
	struct keys *k = *state;
	static const char *labels[] = { "DUPLICATE", "IDENTITY" };
	uint8_t got[64];
	struct parent rsa384;

	make_parent(&rsa384, k->p[0].key, TPM2_ALG_SHA384, 128);
	for (int i = 0; i < 4; i++) {
		const struct parent *p = i < 3 ? &k->p[i] : &rsa384;

		for (int l = 0; l < 2; l++) {
			TPM2B_DIGEST seed;
			TPM2B_ENCRYPTED_SECRET enc;

			assert_int_equal(wire_seed_make(&p->pub, labels[l], &seed, &enc), A11_OK);
			assert_int_equal(seed.size, ds_of(p->pub.nameAlg));
			assert_int_equal(recover_seed(p, labels[l], &enc, got), seed.size);
			assert_memory_equal(got, seed.buffer, seed.size);
		}
	}
	/* The NUL is part of the OAEP label: without it decryption fails. */
	TPM2B_DIGEST seed;
	TPM2B_ENCRYPTED_SECRET enc;

	assert_int_equal(wire_seed_make(&k->p[0].pub, "DUPLICATE", &seed, &enc), A11_OK);
	assert_int_equal(oaep_decrypt(&k->p[0], "DUPLICATE", 9, &enc, got), 0);
	assert_int_equal(oaep_decrypt(&k->p[0], "DUPLICATE", 10, &enc, got), 32);
}

/* ---- import blobs ----------------------------------------------------- */

static void name_of(const TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	unsigned int n = 0;

	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off), 0);
	name->name[0] = (uint8_t)(pub->nameAlg >> 8);
	name->name[1] = (uint8_t)pub->nameAlg;
	assert_int_equal(EVP_Digest(buf, off, name->name + 2, &n, md_of(pub->nameAlg), NULL), 1);
	name->size = (UINT16)(2 + n);
}

/* Import in software: seed, outer wrapper, inner wrapper, sensitive area.
 * Checks what a TPM checks and returns the sensitive area. */
static void unwrap_dup(const struct parent *p, const struct wire_dup_opts *o,
		       const struct wire_dup *d, TPMT_SENSITIVE *s)
{
	uint8_t seed[64], plain[1200], iv[16] = { 0 }, h[64];
	size_t slen, len, off = 0, ds = ds_of(o->name_alg), pre = 0;
	TPM2B_SENSITIVE sens;
	TPM2B_NAME name;
	unsigned int n;

	name_of(&d->pub.publicArea, &name);
	assert_int_equal(d->pub.publicArea.objectAttributes &
			 (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT), 0);
	slen = recover_seed(p, "DUPLICATE", &d->seed, seed);
	len = outer_unwrap(&p->pub, seed, slen, &name, d->duplicate.buffer, d->duplicate.size, plain);
	assert_true(len > 0);
	if (o->inner) {
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int m = 0;

		assert_int_equal(d->sym.algorithm, TPM2_ALG_AES);
		assert_int_equal(d->sym.keyBits.aes, 128);
		assert_int_equal(d->sym.mode.aes, TPM2_ALG_CFB);
		assert_int_equal(d->enc_key.size, 16);
		assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_128_cfb128(), NULL, d->enc_key.buffer, iv), 1);
		assert_int_equal(EVP_DecryptUpdate(c, plain, &m, plain, (int)len), 1);
		EVP_CIPHER_CTX_free(c);
		pre = 2 + ds;
		assert_int_equal(plain[0] << 8 | plain[1], ds);
		memcpy(plain + len, name.name, name.size);
		EVP_Digest(plain + pre, len - pre + name.size, h, &n, md_of(o->name_alg), NULL);
		assert_memory_equal(h, plain + 2, ds);
	} else {
		assert_int_equal(d->sym.algorithm, TPM2_ALG_NULL);
		assert_int_equal(d->enc_key.size, 0);
	}
	memset(&sens, 0, sizeof(sens));
	assert_int_equal(Tss2_MU_TPM2B_SENSITIVE_Unmarshal(plain + pre, len - pre, &off, &sens), 0);
	assert_int_equal(off, len - pre);
	*s = sens.sensitiveArea;
	assert_int_equal(s->sensitiveType, d->pub.publicArea.type);
	/* A fresh obfuscation value of the object's digest size, not the seed. */
	assert_int_equal(s->seedValue.size, ds);
	assert_memory_not_equal(s->seedValue.buffer, seed, ds < slen ? ds : slen);
	assert_int_equal(s->authValue.size, o->auth_value ? o->auth_value->size : 0);
	if (o->auth_value)
		assert_memory_equal(s->authValue.buffer, o->auth_value->buffer, o->auth_value->size);
}

static void assert_bn(EVP_PKEY *key, const char *param, const uint8_t *got, size_t len)
{
	BIGNUM *bn = NULL;
	uint8_t want[512];

	assert_int_equal(EVP_PKEY_get_bn_param(key, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, want, (int)len), (int)len);
	assert_memory_equal(got, want, len);
	BN_free(bn);
}

/* The imported key is the original: RSA p (and p | n), ECC d, and the
 * public area carries the same public key and the requested policy. */
static void check_key(EVP_PKEY *key, const struct wire_dup_opts *o, const struct wire_dup *d,
		      const TPMT_SENSITIVE *s)
{
	const TPMT_PUBLIC *pub = &d->pub.publicArea;
	TPMA_OBJECT want = TPMA_OBJECT_SIGN_ENCRYPT;

	if (pub->type == TPM2_ALG_RSA) {
		BIGNUM *n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
		BIGNUM *p = BN_bin2bn(s->sensitive.rsa.buffer, s->sensitive.rsa.size, NULL);
		BN_CTX *bc = BN_CTX_new();
		BIGNUM *rem = BN_new();

		want |= TPMA_OBJECT_DECRYPT;
		assert_int_equal(s->sensitive.rsa.size, pub->parameters.rsaDetail.keyBits / 16);
		assert_bn(key, OSSL_PKEY_PARAM_RSA_FACTOR1, s->sensitive.rsa.buffer, s->sensitive.rsa.size);
		assert_bn(key, OSSL_PKEY_PARAM_RSA_N, pub->unique.rsa.buffer, pub->unique.rsa.size);
		assert_int_equal(BN_mod(rem, n, p, bc), 1);
		assert_true(BN_is_zero(rem));
		assert_int_equal(pub->parameters.rsaDetail.scheme.scheme, TPM2_ALG_NULL);
		BN_free(n), BN_free(p), BN_free(rem), BN_CTX_free(bc);
	} else {
		assert_int_equal(s->sensitive.ecc.size, pub->unique.ecc.x.size);
		assert_bn(key, OSSL_PKEY_PARAM_PRIV_KEY, s->sensitive.ecc.buffer, s->sensitive.ecc.size);
		assert_bn(key, OSSL_PKEY_PARAM_EC_PUB_X, pub->unique.ecc.x.buffer, pub->unique.ecc.x.size);
		assert_int_equal(pub->parameters.eccDetail.scheme.scheme, TPM2_ALG_NULL);
	}
	if (o->auth_policy == NULL)
		want |= TPMA_OBJECT_USERWITHAUTH;
	assert_int_equal(pub->objectAttributes, want);
	assert_int_equal(pub->nameAlg, o->name_alg);
	assert_int_equal(pub->authPolicy.size, o->auth_policy ? o->auth_policy->size : 0);
}

/* Every key kind to every parent kind, with and without inner wrapper. */
static void dup_matrix(struct keys *k, const struct wire_dup_opts *o)
{
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 3; j++) {
			struct wire_dup d;
			TPMT_SENSITIVE s;

			assert_int_equal(wire_dup_key(k->k[i], &k->p[j].pub, o, &d), A11_OK);
			unwrap_dup(&k->p[j], o, &d, &s);
			check_key(k->k[i], o, &d, &s);
			wire_dup_clear(&d);
			assert_int_equal(d.enc_key.size, 0);
		}
}

/* Plain; inner wrapper with an authValue; SHA-384 policy-only object. */
static void test_dup_key(void **state)
{
	TPM2B_AUTH auth = { .size = 6, .buffer = "123456" };
	TPM2B_DIGEST pol = { .size = 48 };
	const struct wire_dup_opts o[] = {
		{ .name_alg = TPM2_ALG_SHA256 },
		{ .name_alg = TPM2_ALG_SHA256, .auth_value = &auth, .inner = true },
		{ .name_alg = TPM2_ALG_SHA384, .auth_policy = &pol, .inner = true },
	};

	memset(pol.buffer, 0xC3, 48);
	for (size_t i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		dup_matrix(*state, &o[i]);
}

static void test_dup_sealed(void **state)
{
	struct keys *k = *state;
	TPM2B_DIGEST pol = { .size = 32 };
	struct wire_dup_opts o[2] = { { .name_alg = TPM2_ALG_SHA256 },
				      { .name_alg = TPM2_ALG_SHA256, .auth_policy = &pol, .inner = true } };
	uint8_t data[WIRE_SEALED_MAX], h[32 + WIRE_SEALED_MAX];
	unsigned int n;

	seq(data, sizeof(data));
	memset(pol.buffer, 0x7E, 32);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++) {
			struct wire_dup d;
			TPMT_SENSITIVE s;
			const TPMT_PUBLIC *pub = &d.pub.publicArea;
			size_t len = i ? 5 : sizeof(data);

			assert_int_equal(wire_dup_sealed(data, len, &k->p[j].pub, &o[i], &d), A11_OK);
			unwrap_dup(&k->p[j], &o[i], &d, &s);
			assert_int_equal(pub->type, TPM2_ALG_KEYEDHASH);
			assert_int_equal(pub->parameters.keyedHashDetail.scheme.scheme, TPM2_ALG_NULL);
			assert_int_equal(pub->objectAttributes, i ? 0 : TPMA_OBJECT_USERWITHAUTH);
			assert_int_equal(s.sensitive.bits.size, len);
			assert_memory_equal(s.sensitive.bits.buffer, data, len);
			/* unique = H(seedValue || data), which Load verifies */
			memcpy(h, s.seedValue.buffer, 32);
			memcpy(h + 32, data, len);
			assert_int_equal(EVP_Digest(h, 32 + len, h, &n, EVP_sha256(), NULL), 1);
			assert_int_equal(pub->unique.keyedHash.size, 32);
			assert_memory_equal(pub->unique.keyedHash.buffer, h, 32);
			wire_dup_clear(&d);
		}
}

/* ---- MakeCredential --------------------------------------------------- */

static void test_make_credential(void **state)
{
	struct keys *k = *state;
	TPMT_PUBLIC akpub = { .nameAlg = TPM2_ALG_SHA256 };
	TPM2B_NAME ak, other;
	uint8_t seed[64], plain[200];

	assert_int_equal(wire_pub_from_evp(k->k[2], &akpub), A11_OK);
	akpub.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED;
	akpub.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	akpub.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	akpub.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	akpub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	name_of(&akpub, &ak);
	other = ak;
	other.name[5] ^= 1;
	for (int j = 0; j < 3; j++) {
		const struct parent *ek = &k->p[j];
		size_t ds = ds_of(ek->pub.nameAlg), slen, len, off = 0;
		TPM2B_DIGEST secret = { .size = (UINT16)ds }, got;
		TPM2B_ID_OBJECT cred;
		TPM2B_ENCRYPTED_SECRET enc;

		memset(secret.buffer, 0xE5, ds);
		assert_int_equal(wire_make_credential(&ek->pub, &ak, &secret, &cred, &enc), A11_OK);
		slen = recover_seed(ek, "IDENTITY", &enc, seed);
		/* Bound to the AK: ActivateCredential with another key fails. */
		assert_int_equal(outer_unwrap(&ek->pub, seed, slen, &other, cred.credential,
					      cred.size, plain), 0);
		len = outer_unwrap(&ek->pub, seed, slen, &ak, cred.credential, cred.size, plain);
		memset(&got, 0, sizeof(got));
		assert_int_equal(Tss2_MU_TPM2B_DIGEST_Unmarshal(plain, len, &off, &got), 0);
		assert_int_equal(off, len);
		assert_int_equal(got.size, ds);
		assert_memory_equal(got.buffer, secret.buffer, ds);

		secret.size = (UINT16)(ds + 1);
		assert_int_equal(wire_make_credential(&ek->pub, &ak, &secret, &cred, &enc), A11_ERR_ARG);
		assert_int_equal(cred.size, 0);
		secret.size = 0;
		assert_int_equal(wire_make_credential(&ek->pub, &ak, &secret, &cred, &enc), A11_ERR_ARG);
	}
}

/* ---- inputs that must fail cleanly ----------------------------------- */

static void test_bad_inputs(void **state)
{
	struct keys *k = *state;
	struct wire_dup_opts o = { .name_alg = TPM2_ALG_SHA256 };
	TPM2B_DIGEST seed, secret = { .size = 16 }, pol = { .size = 20 };
	TPM2B_AUTH auth = { .size = 33 };
	TPM2B_ENCRYPTED_SECRET enc;
	TPM2B_ID_OBJECT cred;
	TPM2B_NAME u;
	TPMT_PUBLIC bad = k->p[0].pub;
	struct wire_dup d;
	uint8_t data[WIRE_SEALED_MAX + 1] = { 0 };
	EVP_PKEY *pubonly = NULL;

	name_u(&u);
	bad.type = TPM2_ALG_KEYEDHASH;
	assert_int_equal(wire_seed_make(&bad, "DUPLICATE", &seed, &enc), A11_ERR_UNSUPPORTED);
	assert_int_equal(wire_dup_key(k->k[0], &bad, &o, &d), A11_ERR_UNSUPPORTED);
	assert_int_equal(wire_make_credential(&bad, &u, &secret, &cred, &enc), A11_ERR_UNSUPPORTED);
	bad = k->p[1].pub;
	bad.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	assert_int_equal(wire_dup_key(k->k[2], &bad, &o, &d), A11_ERR_UNSUPPORTED);
	assert_int_equal(d.enc_key.size, 0);
	bad.parameters.eccDetail.symmetric =
		(TPMT_SYM_DEF_OBJECT){ TPM2_ALG_CAMELLIA, { .camellia = 128 }, { .camellia = TPM2_ALG_CFB } };
	assert_int_equal(wire_dup_sealed(data, 4, &bad, &o, &d), A11_ERR_UNSUPPORTED);
	bad = k->p[1].pub;
	bad.unique.ecc.y.buffer[5] ^= 1; /* not on the curve */
	assert_int_equal(wire_seed_make(&bad, "DUPLICATE", &seed, &enc), A11_ERR_PARSE);
	bad = k->p[0].pub;
	bad.unique.rsa.size = 100;
	assert_int_equal(wire_seed_make(&bad, "DUPLICATE", &seed, &enc), A11_ERR_PARSE);
	bad.nameAlg = 0x1234;
	assert_int_equal(wire_seed_make(&bad, "DUPLICATE", &seed, &enc), A11_ERR_UNSUPPORTED);

	assert_int_equal(wire_dup_sealed(data, sizeof(data), &k->p[0].pub, &o, &d), A11_ERR_ARG);
	assert_int_equal(wire_dup_sealed(data, 0, &k->p[0].pub, &o, &d), A11_ERR_ARG);
	assert_int_equal(wire_dup_sealed(NULL, 4, &k->p[0].pub, &o, &d), A11_ERR_ARG);
	o.auth_policy = &pol; /* not a SHA-256 digest */
	assert_int_equal(wire_dup_sealed(data, 4, &k->p[0].pub, &o, &d), A11_ERR_ARG);
	o.auth_policy = NULL, o.auth_value = &auth; /* longer than the digest */
	assert_int_equal(wire_dup_key(k->k[2], &k->p[0].pub, &o, &d), A11_ERR_ARG);
	o.auth_value = NULL, o.name_alg = TPM2_ALG_NULL;
	assert_int_equal(wire_dup_key(k->k[2], &k->p[0].pub, &o, &d), A11_ERR_UNSUPPORTED);
	o.name_alg = TPM2_ALG_SHA256;

	/* A public key has nothing to import. */
	TPMT_PUBLIC pp = { 0 };
	assert_int_equal(wire_pub_from_evp(k->k[2], &pp), A11_OK);
	assert_int_equal(wire_pub_to_evp(&pp, &pubonly), A11_OK);
	assert_int_equal(wire_dup_key(pubonly, &k->p[0].pub, &o, &d), A11_ERR_ARG);
	EVP_PKEY_free(pubonly);
	assert_int_equal(wire_dup_key(NULL, &k->p[0].pub, &o, &d), A11_ERR_ARG);
	assert_int_equal(wire_make_credential(&k->p[0].pub, &u, NULL, &cred, &enc), A11_ERR_ARG);
	wire_dup_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kdfa_kat),
		cmocka_unit_test(test_kdfa_multiblock),
		cmocka_unit_test(test_kdfe),
		cmocka_unit_test(test_kdf_bad_args),
		cmocka_unit_test(test_policy_kat),
		cmocka_unit_test(test_policy_formulas),
		cmocka_unit_test(test_outer_wrap_kat),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_dup_key),
		cmocka_unit_test(test_dup_sealed),
		cmocka_unit_test(test_make_credential),
		cmocka_unit_test(test_bad_inputs),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
