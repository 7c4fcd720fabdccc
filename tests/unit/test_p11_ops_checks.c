/* src/p11/ops*.c, the rest: decryption (PKCS#1 v1.5, OAEP on the TPM
 * and in software, the two-call convention with the plaintext kept for
 * the retry, multi-part), errors ending the operation and token_* results
 * passed through unchanged, mechanism parameters, key and mechanism
 * mismatches and CKA_ALLOWED_MECHANISMS.
 *
 * The TPM is the software stand-in of p11_ops_fixture.h; the real TPM
 * path through token_tpm.c is covered by the integration tests. */
#include "p11_ops_fixture.h"

/* Encrypt pt to rsa with OpenSSL: PKCS#1 v1.5 when md is NULL, else OAEP. */
static size_t ossl_encrypt(const EVP_MD *md, const EVP_MD *mgf, const char *label,
			   const uint8_t *pt, size_t len, uint8_t *ct)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(rsa.pub, NULL);
	size_t clen = 256;

	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, md ? RSA_PKCS1_OAEP_PADDING
							      : RSA_PKCS1_PADDING), 1);
	if (md != NULL) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf), 1);
	}
	if (label != NULL)
		assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_strdup(label),
								  (int)strlen(label)), 1);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &clen, pt, len), 1);
	EVP_PKEY_CTX_free(ctx);
	return clen;
}

static CK_RV decrypt1(const CK_MECHANISM *m, const uint8_t *ct, size_t clen, uint8_t *pt,
		      CK_ULONG *len)
{
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(&rsa, CKO_PRIVATE_KEY);
	CK_RV rv = ops_init(&op, OP_DECRYPT, m, &key);

	*len = 512;
	if (rv == CKR_OK)
		rv = ops_decrypt(&op, true, ct, clen, pt, len);
	assert_int_equal(op.kind, OP_NONE);
	return rv;
}

static void test_decrypt_paths(void **state)
{
	static const struct {
		TPMI_ALG_HASH h, mgf;
		const char *label;
		bool tpm;
	} cases[] = {
		{ TPM2_ALG_SHA1, TPM2_ALG_SHA1, NULL, true },
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA256, NULL, true },
		{ TPM2_ALG_SHA512, TPM2_ALG_SHA512, NULL, true },
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA256, "a label", false },
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA1, NULL, false },
		{ TPM2_ALG_SHA1, TPM2_ALG_SHA384, "x", false },
	};
	CK_MECHANISM pkcs = { CKM_RSA_PKCS, NULL, 0 };
	uint8_t ct[256], pt[512];
	CK_ULONG len;

	(void)state;
	fx_reset_counts();
	assert_int_equal(decrypt1(&pkcs, ct, ossl_encrypt(NULL, NULL, NULL, msg, MSG_LEN, ct), pt,
				  &len), CKR_OK);
	assert_int_equal(fake_tpm.scheme, TPM2_ALG_RSAES);
	assert_int_equal(len, MSG_LEN);
	assert_memory_equal(pt, msg, MSG_LEN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *l = cases[i].label;
		CK_RSA_PKCS_OAEP_PARAMS op = { ckm_of(cases[i].h), mgf_of(cases[i].mgf),
					       CKZ_DATA_SPECIFIED, (void *)l, l ? strlen(l) : 0 };
		CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
		size_t clen = ossl_encrypt(fx_md(cases[i].h), fx_md(cases[i].mgf), l, msg, 20, ct);

		fx_reset_counts();
		assert_int_equal(decrypt1(&m, ct, clen, pt, &len), CKR_OK);
		assert_int_equal(len, 20);
		assert_memory_equal(pt, msg, 20);
		assert_int_equal(fake_tpm.scheme, cases[i].tpm ? TPM2_ALG_OAEP : TPM2_ALG_NULL);
		/* A different label is a decoding error, not other plaintext. */
		op.pSourceData = (void *)"other";
		op.ulSourceDataLen = 5;
		assert_int_equal(decrypt1(&m, ct, clen, pt, &len), CKR_ENCRYPTED_DATA_INVALID);
		fx_reset_counts();
		assert_int_equal(decrypt1(&m, ct, clen - 1, pt, &len),
				 CKR_ENCRYPTED_DATA_LEN_RANGE);
		assert_int_equal(fake_tpm.n_decrypt, 0);
	}
}

/* §5.2 for decryption: NULL gives the modulus length without the TPM; a
 * short buffer gets the exact length, and the retry is answered from the
 * plaintext kept in the operation, not by a second TPM command. */
static void test_two_call_decrypt(void **state)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(&rsa, CKO_PRIVATE_KEY);
	uint8_t ct[256], ct2[256], pt[256];
	CK_ULONG len;

	(void)state;
	ossl_encrypt(NULL, NULL, NULL, msg, MSG_LEN, ct);
	fx_reset_counts();
	assert_int_equal(ops_init(&op, OP_DECRYPT, &m, &key), CKR_OK);
	assert_int_equal(ops_decrypt(&op, true, ct, 256, NULL, &len), CKR_OK);
	assert_int_equal(len, 256);
	assert_int_equal(fake_tpm.n_decrypt, 0);
	len = 8;
	assert_int_equal(ops_decrypt(&op, true, ct, 256, pt, &len), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(len, MSG_LEN);
	assert_int_equal(op.kind, OP_DECRYPT);
	assert_int_equal(ops_decrypt(&op, true, ct, 256, NULL, &len), CKR_OK);
	assert_int_equal(len, MSG_LEN);
	assert_int_equal(ops_decrypt(&op, true, ct, 256, pt, &len), CKR_OK);
	assert_int_equal(fake_tpm.n_decrypt, 1);
	assert_memory_equal(pt, msg, MSG_LEN);
	assert_int_equal(op.kind, OP_NONE);

	/* A retry with other ciphertext is decrypted afresh. */
	ossl_encrypt(NULL, NULL, NULL, msg, 10, ct2);
	assert_int_equal(ops_init(&op, OP_DECRYPT, &m, &key), CKR_OK);
	len = 8;
	assert_int_equal(ops_decrypt(&op, true, ct, 256, pt, &len), CKR_BUFFER_TOO_SMALL);
	len = 10;
	assert_int_equal(ops_decrypt(&op, true, ct2, 256, pt, &len), CKR_OK);
	assert_int_equal(len, 10);
	assert_int_equal(fake_tpm.n_decrypt, 3);

	/* C_DecryptUpdate collects; C_DecryptFinal decrypts and sizes alike. */
	assert_int_equal(ops_init(&op, OP_DECRYPT, &m, &key), CKR_OK);
	assert_int_equal(ops_update(&op, ct, 100), CKR_OK);
	assert_int_equal(ops_update(&op, ct + 100, 156), CKR_OK);
	len = 1;
	assert_int_equal(ops_decrypt(&op, false, NULL, 0, pt, &len), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(len, MSG_LEN);
	assert_int_equal(ops_decrypt(&op, false, NULL, 0, pt, &len), CKR_OK);
	assert_memory_equal(pt, msg, MSG_LEN);
	assert_int_equal(fake_tpm.n_decrypt, 4);
	assert_int_equal(ops_init(&op, OP_DECRYPT, &m, &key), CKR_OK);
	assert_int_equal(ops_update(&op, ct, 200), CKR_OK);
	assert_int_equal(ops_update(&op, ct, 57), CKR_ENCRYPTED_DATA_LEN_RANGE);
	assert_int_equal(op.kind, OP_NONE);
}

/* token_* results come back unchanged, and every error ends the op. */
static void test_errors_end_operation(void **state)
{
	CK_MECHANISM sha = { CKM_SHA256_RSA_PKCS, NULL, 0 }, pkcs = { CKM_RSA_PKCS, NULL, 0 };
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(&rsa, CKO_PRIVATE_KEY);
	uint8_t buf[512];
	CK_ULONG len = sizeof(buf);

	(void)state;
	assert_int_equal(ops_sign(&op, true, msg, 1, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(ops_update(&op, msg, 1), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(ops_verify(&op, true, msg, 1, buf, 1), CKR_OPERATION_NOT_INITIALIZED);
	fake_tpm.fail = CKR_USER_NOT_LOGGED_IN;
	assert_int_equal(sign1(&rsa, &sha, msg, MSG_LEN, buf, &len), CKR_USER_NOT_LOGGED_IN);
	assert_int_equal(sign1(&p256, &(CK_MECHANISM){ CKM_ECDSA, NULL, 0 }, msg, 32, buf, &len),
			 CKR_USER_NOT_LOGGED_IN);
	fake_tpm.fail = CKR_ATTEST11_PLATFORM_CHANGED;
	assert_int_equal(sign1(&rsa, &pkcs, msg, 36, buf, &len), CKR_ATTEST11_PLATFORM_CHANGED);
	assert_int_equal(decrypt1(&pkcs, buf, 256, buf, &len), CKR_ATTEST11_PLATFORM_CHANGED);
	fake_tpm.fail = CKR_OK;
	/* Bad padding from the TPM, passed through. */
	memset(buf, 0x11, 256);
	assert_int_equal(decrypt1(&pkcs, buf, 256, buf, &len), CKR_ENCRYPTED_DATA_INVALID);

	/* A call for another kind leaves the operation alone. */
	assert_int_equal(ops_init(&op, OP_SIGN, &sha, &key), CKR_OK);
	assert_int_equal(ops_verify(&op, true, msg, 1, buf, 1), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(ops_decrypt(&op, true, msg, 1, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(ops_init(&op, OP_SIGN, &sha, &key), CKR_OPERATION_ACTIVE);
	assert_int_equal(op.kind, OP_SIGN);
	assert_int_equal(ops_sign(&op, true, NULL, 5, buf, &len), CKR_ARGUMENTS_BAD);
	assert_int_equal(op.kind, OP_NONE);
	assert_int_equal(ops_init(&op, OP_SIGN, &sha, &key), CKR_OK);
	assert_int_equal(ops_update(&op, NULL, 5), CKR_ARGUMENTS_BAD);
	assert_int_equal(op.kind, OP_NONE);
	assert_int_equal(ops_init(&op, OP_SIGN, &sha, &key), CKR_OK);
	assert_int_equal(ops_sign(&op, true, msg, 1, buf, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(op.kind, OP_NONE);
	/* ops.c is the one layer that checks arguments: an empty signature
	 * has the wrong length, a NULL one with a length is a bad argument. */
	key = fx_p11(&rsa, CKO_PUBLIC_KEY);
	assert_int_equal(ops_init(&op, OP_VERIFY, &sha, &key), CKR_OK);
	assert_int_equal(ops_verify(&op, true, msg, 1, NULL, 0), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(op.kind, OP_NONE);
	assert_int_equal(ops_init(&op, OP_VERIFY, &sha, &key), CKR_OK);
	assert_int_equal(ops_verify(&op, true, msg, 1, NULL, 256), CKR_ARGUMENTS_BAD);
	assert_int_equal(op.kind, OP_NONE);
	assert_int_equal(ops_init(&op, OP_VERIFY, &sha, &key), CKR_OK);
	assert_int_equal(ops_verify(&op, true, NULL, 1, buf, 256), CKR_ARGUMENTS_BAD);
	assert_int_equal(op.kind, OP_NONE);
}

static CK_RV init1(enum p11_op_kind kind, const struct fx_key *k, CK_OBJECT_CLASS cls,
		   CK_MECHANISM_TYPE mech, void *param, CK_ULONG plen)
{
	CK_MECHANISM m = { mech, param, plen };
	struct p11_op op = { 0 };
	struct p11_key key;
	CK_RV rv;

	if (k != NULL)
		key = fx_p11(k, cls);
	rv = ops_init(&op, kind, &m, k == NULL ? NULL : &key);

	if (rv == CKR_OK)
		ops_clear(&op);
	assert_int_equal(op.kind, OP_NONE);
	return rv;
}
#define SIGN_INIT(k, mech, p, l) init1(OP_SIGN, k, CKO_PRIVATE_KEY, mech, p, l)

static void test_bad_parameters(void **state)
{
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_ULONG four = 4;

	(void)state;
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_PSS, &pss, sizeof(pss)), CKR_OK);
	assert_int_equal(SIGN_INIT(&rsa, CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss)), CKR_OK);
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_PSS, NULL, 0), CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_PSS, &pss, sizeof(pss) - 1),
			 CKR_MECHANISM_PARAM_INVALID);
	/* CKM_SHA384_RSA_PKCS_PSS with a SHA-256 hashAlg contradicts itself. */
	assert_int_equal(SIGN_INIT(&rsa, CKM_SHA384_RSA_PKCS_PSS, &pss, sizeof(pss)),
			 CKR_MECHANISM_PARAM_INVALID);
	pss.mgf = CKG_MGF1_SHA224;
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_PSS, &pss, sizeof(pss)),
			 CKR_MECHANISM_PARAM_INVALID);
	pss.mgf = CKG_MGF1_SHA256;
	pss.hashAlg = CKM_MD5;
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_PSS, &pss, sizeof(pss)),
			 CKR_MECHANISM_PARAM_INVALID);
	pss.hashAlg = CKM_SHA256;
	pss.sLen = 256 - 32 - 1; /* one beyond the largest salt */
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_PSS, &pss, sizeof(pss)),
			 CKR_MECHANISM_PARAM_INVALID);

	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_RSA_PKCS_OAEP, &oaep,
			       sizeof(oaep)), CKR_OK);
	oaep.source = 0; /* tolerated for "no label" */
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_RSA_PKCS_OAEP, &oaep,
			       sizeof(oaep)), CKR_OK);
	oaep.source = 2;
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_RSA_PKCS_OAEP, &oaep,
			       sizeof(oaep)), CKR_MECHANISM_PARAM_INVALID);
	oaep.source = CKZ_DATA_SPECIFIED;
	oaep.ulSourceDataLen = 3; /* and no data */
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_RSA_PKCS_OAEP, &oaep,
			       sizeof(oaep)), CKR_MECHANISM_PARAM_INVALID);
	oaep.ulSourceDataLen = 0;
	oaep.mgf = 0;
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_RSA_PKCS_OAEP, &oaep,
			       sizeof(oaep)), CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_RSA_PKCS_OAEP, NULL, 0),
			 CKR_MECHANISM_PARAM_INVALID);

	/* Mechanisms without parameters take none (a non-NULL empty one is fine). */
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS, &four, sizeof(four)),
			 CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(SIGN_INIT(&p256, CKM_ECDSA_SHA256, &four, sizeof(four)),
			 CKR_MECHANISM_PARAM_INVALID);
	assert_int_equal(SIGN_INIT(&p256, CKM_ECDSA, &four, 0), CKR_OK);
	assert_int_equal(init1(OP_DIGEST, NULL, 0, CKM_SHA256, &four, sizeof(four)),
			 CKR_MECHANISM_PARAM_INVALID);
}

static void test_key_mismatch(void **state)
{
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(&rsa, CKO_PRIVATE_KEY);
	CK_MECHANISM_TYPE only[] = { CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS_OAEP };
	CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };

	(void)state;
	assert_int_equal(SIGN_INIT(&p256, CKM_SHA256_RSA_PKCS, NULL, 0), CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(SIGN_INIT(&rsa, CKM_ECDSA, NULL, 0), CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(init1(OP_SIGN, &rsa, CKO_PUBLIC_KEY, CKM_RSA_PKCS, NULL, 0),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	assert_int_equal(init1(OP_VERIFY, &p256, CKO_PRIVATE_KEY, CKM_ECDSA, NULL, 0),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PUBLIC_KEY, CKM_RSA_PKCS, NULL, 0),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* The mechanism must offer the function. */
	assert_int_equal(SIGN_INIT(&rsa, CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(init1(OP_DECRYPT, &rsa, CKO_PRIVATE_KEY, CKM_SHA256_RSA_PKCS, NULL, 0),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(SIGN_INIT(&rsa, CKM_SHA256, NULL, 0), CKR_MECHANISM_INVALID);
	assert_int_equal(init1(OP_DIGEST, NULL, 0, CKM_ECDSA, NULL, 0), CKR_MECHANISM_INVALID);
	assert_int_equal(SIGN_INIT(&rsa, CKM_MD5_RSA_PKCS, NULL, 0), CKR_MECHANISM_INVALID);
	assert_int_equal(SIGN_INIT(&rsa1024, CKM_RSA_PKCS, NULL, 0), CKR_KEY_SIZE_RANGE);

	/* CKA_ALLOWED_MECHANISMS. */
	key.allowed = only;
	key.n_allowed = 2;
	assert_int_equal(ops_init(&op, OP_SIGN, &(CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 }, &key),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(op.kind, OP_NONE);
	assert_int_equal(ops_init(&op, OP_SIGN, &(CK_MECHANISM){ CKM_SHA256_RSA_PKCS, NULL, 0 },
				  &key), CKR_OK);
	assert_null(op.key.allowed);
	ops_clear(&op);
	assert_int_equal(ops_init(&op, OP_DECRYPT,
				  &(CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) }, &key),
			 CKR_OK);
	ops_clear(&op);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decrypt_paths),
		cmocka_unit_test(test_two_call_decrypt),
		cmocka_unit_test(test_errors_end_operation),
		cmocka_unit_test(test_bad_parameters),
		cmocka_unit_test(test_key_mismatch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
