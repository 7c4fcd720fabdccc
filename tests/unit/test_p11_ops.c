/* src/p11/ops*.c, signing side: mechanism tables, the mapping of every
 * signature mechanism onto TPM commands, multi-part operations, the
 * two-call convention for signatures, software verification and digests.
 * Decryption, error handling and ops_init's checks: test_p11_ops_checks.c.
 *
 * The TPM is the software stand-in of p11_ops_fixture.h (it defines
 * token_sign/token_decrypt; the real TPM path through token_tpm.c is covered
 * by the integration tests). Every signature is also checked with plain
 * OpenSSL calls on the public key, independently of ops_verify, and
 * deterministic ones (PKCS#1 v1.5) byte for byte against OpenSSL's. */
#include <openssl/rand.h>

#include "p11_ops_fixture.h"
#include "../../src/p11/ops_int.h"

static void test_mechanism_tables(void **state)
{
	const CK_MECHANISM_TYPE *l, *kl;
	CK_MECHANISM_INFO info;
	size_t n, kn;

	(void)state;
	ops_mechanisms(CKK_RSA, &l, &n);
	ops_key_mechanisms(CKK_RSA, &kl, &kn);
	assert_int_equal(n, 15);
	assert_int_equal(kn, 11);
	assert_ptr_equal(l, kl);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ops_mechanism_info(CKK_RSA, l[i], &info), CKR_OK);
	for (size_t i = 0; i < kn; i++)
		assert_true(l[i] != CKM_SHA256 && l[i] != CKM_SHA_1);
	assert_int_equal(ops_mechanism_info(CKK_RSA, CKM_RSA_PKCS, &info), CKR_OK);
	assert_int_equal(info.flags, CKF_SIGN | CKF_VERIFY | CKF_DECRYPT);
	assert_int_equal(info.ulMinKeySize, 2048);
	assert_int_equal(info.ulMaxKeySize, 4096);
	assert_int_equal(ops_mechanism_info(CKK_RSA, CKM_RSA_PKCS_OAEP, &info), CKR_OK);
	assert_int_equal(info.flags, CKF_DECRYPT);
	assert_int_equal(ops_mechanism_info(CKK_RSA, CKM_SHA384, &info), CKR_OK);
	assert_int_equal(info.flags, CKF_DIGEST);
	assert_int_equal(info.ulMaxKeySize, 0);
	assert_int_equal(ops_mechanism_info(CKK_RSA, CKM_ECDSA, &info), CKR_MECHANISM_INVALID);
	assert_int_equal(ops_mechanism_info(CKK_RSA, CKM_MD5, &info), CKR_MECHANISM_INVALID);

	ops_mechanisms(CKK_EC, &l, &n);
	ops_key_mechanisms(CKK_EC, &kl, &kn);
	assert_int_equal(n, 9);
	assert_int_equal(kn, 5);
	assert_int_equal(ops_mechanism_info(CKK_EC, CKM_ECDSA_SHA384, &info), CKR_OK);
	assert_int_equal(info.flags, CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMEDCURVE |
				     CKF_EC_UNCOMPRESS);
	assert_int_equal(info.ulMinKeySize, 256);
	assert_int_equal(info.ulMaxKeySize, 521);
	assert_int_equal(ops_mechanism_info(CKK_EC, CKM_RSA_PKCS, &info), CKR_MECHANISM_INVALID);
	ops_mechanisms(CKK_AES, &l, &n);
	assert_int_equal(n, 0);
}

/* Hash-and-sign RSA: one TPM2_Sign with the mechanism's hash. */
static void test_rsa_hash_and_sign(void **state)
{
	uint8_t sig[1024];
	CK_ULONG len;

	(void)state;
	for (size_t i = 0; i < 8; i++) {
		TPMI_ALG_HASH h = hashes[i % 4];
		bool pss = i >= 4;
		static const CK_MECHANISM_TYPE mechs[] = {
			CKM_SHA1_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS,
			CKM_SHA512_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS,
			CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS,
		};
		CK_RSA_PKCS_PSS_PARAMS pp = { ckm_of(h), mgf_of(h), hlen(h) };
		CK_MECHANISM m = { mechs[i], pss ? &pp : NULL, pss ? sizeof(pp) : 0 };

		fx_reset_counts();
		assert_int_equal(sign1(&rsa, &m, msg, MSG_LEN, sig, &len), CKR_OK);
		assert_int_equal(len, 256);
		assert_int_equal(fake_tpm.n_sign, 1);
		assert_int_equal(fake_tpm.n_decrypt, 0);
		assert_int_equal(fake_tpm.scheme, pss ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA);
		assert_int_equal(fake_tpm.hash, h);
		ossl_rsa(fx_md(h), NULL, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING,
			 (int)hlen(h), fx_md(h), msg, MSG_LEN, sig, len);
		assert_int_equal(verify1(&rsa, &m, msg, MSG_LEN, sig, len), CKR_OK);
		sig[100] ^= 0x04;
		assert_int_equal(verify1(&rsa, &m, msg, MSG_LEN, sig, len), CKR_SIGNATURE_INVALID);
	}
}

/* OpenSSL's PKCS#1 v1.5 signature of msg with hash h, and the DigestInfo
 * inside it (recovered without a hash: the whole T of RFC 8017 9.2). */
static size_t ossl_pkcs1(TPMI_ALG_HASH h, uint8_t *sig, uint8_t *di, size_t *di_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(rsa.pub, NULL);
	size_t len = 256;

	assert_int_equal(EVP_DigestSignInit(mctx, NULL, fx_md(h), NULL, rsa.priv), 1);
	assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, MSG_LEN), 1);
	assert_int_equal(EVP_PKEY_verify_recover_init(ctx), 1);
	*di_len = 256;
	assert_int_equal(EVP_PKEY_verify_recover(ctx, di, di_len, sig, len), 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_MD_CTX_free(mctx);
	return len;
}

static void test_rsa_pkcs_digest_info(void **state)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	uint8_t want[256], di[256], sig[1024];
	size_t di_len;
	CK_ULONG len;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		size_t wlen = ossl_pkcs1(hashes[i], want, di, &di_len);

		fx_reset_counts();
		assert_int_equal(sign1(&rsa, &m, di, di_len, sig, &len), CKR_OK);
		/* The TPM built the DigestInfo itself: TPM2_Sign, no raw op. */
		assert_int_equal(fake_tpm.n_sign, 1);
		assert_int_equal(fake_tpm.n_decrypt, 0);
		assert_int_equal(fake_tpm.scheme, TPM2_ALG_RSASSA);
		assert_int_equal(fake_tpm.hash, hashes[i]);
		assert_int_equal(len, wlen);
		assert_memory_equal(sig, want, wlen);
		assert_int_equal(verify1(&rsa, &m, di, di_len, sig, len), CKR_OK);
	}
}

/* TLS 1.0/1.1's MD5 || SHA-1 and other non-DigestInfo data: padded here,
 * then the raw private operation. */
static void test_rsa_pkcs_raw(void **state)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(rsa.priv, NULL);
	uint8_t blob[245], sig[1024], want[256];
	size_t wlen = sizeof(want);
	CK_ULONG len;

	(void)state;
	dgst(TPM2_ALG_SHA1, msg, MSG_LEN, blob + 16);
	assert_int_equal(EVP_Digest(msg, MSG_LEN, blob, NULL, EVP_md5(), NULL), 1);
	fx_reset_counts();
	assert_int_equal(sign1(&rsa, &m, blob, 36, sig, &len), CKR_OK);
	assert_int_equal(fake_tpm.n_sign, 0);
	assert_int_equal(fake_tpm.n_decrypt, 1);
	assert_int_equal(fake_tpm.scheme, TPM2_ALG_NULL);
	assert_int_equal(len, 256);
	ossl_rsa(NULL, NULL, RSA_PKCS1_PADDING, 0, NULL, blob, 36, sig, len);
	/* Deterministic: exactly OpenSSL's own PKCS#1 signature of the blob. */
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, want, &wlen, blob, 36), 1);
	assert_memory_equal(sig, want, wlen);
	assert_int_equal(verify1(&rsa, &m, blob, 36, sig, len), CKR_OK);
	assert_int_equal(verify1(&rsa, &m, blob, 35, sig, len), CKR_SIGNATURE_INVALID);
	/* k - 11 bytes is the most PKCS#1 v1.5 can carry. */
	RAND_bytes(blob, sizeof(blob));
	assert_int_equal(sign1(&rsa, &m, blob, 245, sig, &len), CKR_OK);
	ossl_rsa(NULL, NULL, RSA_PKCS1_PADDING, 0, NULL, blob, 245, sig, len);
	fx_reset_counts();
	assert_int_equal(sign1(&rsa, &m, want, 246, sig, &len), CKR_DATA_LEN_RANGE);
	assert_int_equal(fake_tpm.n_decrypt, 0);
	assert_int_equal(verify1(&rsa, &m, want, 246, sig, 256), CKR_DATA_LEN_RANGE);
	EVP_PKEY_CTX_free(ctx);
}

/* CKM_RSA_PKCS_PSS on a digest: the TPM for TLS 1.3's parameters, the
 * raw path (EMSA-PSS here) for any other salt or MGF1 hash. */
static void test_rsa_pss_params_paths(void **state)
{
	static const struct {
		TPMI_ALG_HASH h, mgf;
		CK_ULONG salt;
		bool tpm;
	} cases[] = {
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA256, 32, true },
		{ TPM2_ALG_SHA384, TPM2_ALG_SHA384, 48, true },
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA256, 0, false },
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA1, 32, false },
		{ TPM2_ALG_SHA512, TPM2_ALG_SHA256, 20, false },
		{ TPM2_ALG_SHA256, TPM2_ALG_SHA256, 256 - 32 - 2, false }, /* the largest */
	};
	uint8_t d[64], sig[1024];
	CK_ULONG len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CK_RSA_PKCS_PSS_PARAMS pp = { ckm_of(cases[i].h), mgf_of(cases[i].mgf),
					      cases[i].salt };
		CK_MECHANISM m = { CKM_RSA_PKCS_PSS, &pp, sizeof(pp) };
		size_t dl = dgst(cases[i].h, msg, MSG_LEN, d);

		fx_reset_counts();
		assert_int_equal(sign1(&rsa, &m, d, dl, sig, &len), CKR_OK);
		assert_int_equal(fake_tpm.n_sign, cases[i].tpm ? 1 : 0);
		assert_int_equal(fake_tpm.n_decrypt, cases[i].tpm ? 0 : 1);
		ossl_rsa(NULL, fx_md(cases[i].h), RSA_PKCS1_PSS_PADDING, (int)cases[i].salt,
			 fx_md(cases[i].mgf), d, dl, sig, len);
		assert_int_equal(verify1(&rsa, &m, d, dl, sig, len), CKR_OK);
		/* The input of CKM_RSA_PKCS_PSS is a digest of the named hash. */
		assert_int_equal(sign1(&rsa, &m, d, dl - 1, sig, &len), CKR_DATA_LEN_RANGE);
		assert_int_equal(verify1(&rsa, &m, d, dl + 1, sig, 256), CKR_DATA_LEN_RANGE);
		/* In place: the signature overwrites the digest it is made of. */
		memcpy(sig, d, dl);
		assert_int_equal(sign1(&rsa, &m, sig, dl, sig, &len), CKR_OK);
		ossl_rsa(NULL, fx_md(cases[i].h), RSA_PKCS1_PSS_PADDING, (int)cases[i].salt,
			 fx_md(cases[i].mgf), d, dl, sig, len);
	}
}

static CK_MECHANISM_TYPE ecdsa_of(TPMI_ALG_HASH h)
{
	return h == TPM2_ALG_SHA1 ? CKM_ECDSA_SHA1 : h == TPM2_ALG_SHA256 ? CKM_ECDSA_SHA256 :
	       h == TPM2_ALG_SHA384 ? CKM_ECDSA_SHA384 : CKM_ECDSA_SHA512;
}

static void test_ecdsa_hash_and_sign(void **state)
{
	const struct fx_key *keys[] = { &p256, &p384 };
	uint8_t sig[1024], d[64];
	CK_ULONG len;

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		size_t cb = k == 0 ? 32 : 48;

		for (size_t i = 0; i < 4; i++) {
			CK_MECHANISM m = { ecdsa_of(hashes[i]), NULL, 0 };
			size_t sent = hlen(hashes[i]) < cb ? hlen(hashes[i]) : cb;

			fx_reset_counts();
			assert_int_equal(sign1(keys[k], &m, msg, MSG_LEN, sig, &len), CKR_OK);
			assert_int_equal(len, 2 * cb);
			assert_int_equal(fake_tpm.n_sign, 1);
			assert_int_equal(fake_tpm.scheme, TPM2_ALG_ECDSA);
			/* Longer digests reach the TPM already truncated. */
			assert_int_equal(hlen(fake_tpm.hash), sent);
			ossl_ec(keys[k], fx_md(hashes[i]), msg, MSG_LEN, sig, len);
			assert_int_equal(verify1(keys[k], &m, msg, MSG_LEN, sig, len), CKR_OK);
			/* CKM_ECDSA on the digest gives a signature of the same thing. */
			m.mechanism = CKM_ECDSA;
			assert_int_equal(verify1(keys[k], &m, d, dgst(hashes[i], msg, MSG_LEN, d),
						 sig, len), CKR_OK);
			sig[len - 1] ^= 1;
			assert_int_equal(verify1(keys[k], &m, d, hlen(hashes[i]), sig, len),
					 CKR_SIGNATURE_INVALID);
		}
	}
}

/* CKM_ECDSA on input of every awkward length: what the TPM is sent must
 * give the signature ECDSA defines for the input itself (OpenSSL checks
 * it against the untouched input, truncating as the standard says). */
static void test_ecdsa_raw_lengths(void **state)
{
	static const struct {
		const struct fx_key *k;
		size_t len, sent; /* sent 0: refused */
	} cases[] = {
		{ &p384, 1, 20 }, { &p384, 20, 20 }, { &p384, 28, 32 }, { &p384, 32, 32 },
		{ &p384, 40, 48 }, { &p384, 48, 48 }, { &p384, 64, 48 }, { &p384, 100, 48 },
		{ &p256, 20, 20 }, { &p256, 33, 32 }, { &p256, 64, 32 },
		{ &p521, 32, 32 }, { &p521, 64, 64 }, { &p521, 65, 0 }, { &p521, 66, 0 },
		/* 320-bit order: 40 bytes of e inside a 48-byte digest. */
		{ &bp320, 32, 32 }, { &bp320, 33, 48 }, { &bp320, 40, 48 }, { &bp320, 64, 48 },
	};
	uint8_t in[100], sig[1024];
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_ULONG len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		RAND_bytes(in, sizeof(in));
		in[0] |= 0x80; /* so truncation and padding both show */
		fx_reset_counts();
		if (cases[i].sent == 0) {
			assert_int_equal(sign1(cases[i].k, &m, in, cases[i].len, sig, &len),
					 CKR_DATA_LEN_RANGE);
			assert_int_equal(fake_tpm.n_sign, 0);
			continue;
		}
		assert_int_equal(sign1(cases[i].k, &m, in, cases[i].len, sig, &len), CKR_OK);
		assert_int_equal(hlen(fake_tpm.hash), cases[i].sent);
		ossl_ec(cases[i].k, NULL, in, cases[i].len, sig, len);
		assert_int_equal(verify1(cases[i].k, &m, in, cases[i].len, sig, len), CKR_OK);
	}
}

static void test_put_padded(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_true(ops_put_padded(out, 4, (const uint8_t *)"\x01\x02", 2));
	assert_memory_equal(out, "\x00\x00\x01\x02", 4);
	assert_true(ops_put_padded(out, 4, (const uint8_t *)"\x00\x00\x09\x08\x07\x06", 6));
	assert_memory_equal(out, "\x09\x08\x07\x06", 4);
	assert_false(ops_put_padded(out, 4, (const uint8_t *)"\x00\x01\x02\x03\x04\x05", 6));
	assert_true(ops_put_padded(out, 4, NULL, 0));
	assert_memory_equal(out, "\x00\x00\x00\x00", 4);
}

/* Update in three pieces, then Final. */
static CK_RV sign_parts(const struct fx_key *k, const CK_MECHANISM *m, const uint8_t *data,
			size_t len, uint8_t *sig, CK_ULONG *sig_len)
{
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(k, CKO_PRIVATE_KEY);
	CK_RV rv = ops_init(&op, OP_SIGN, m, &key);

	assert_int_equal(rv, CKR_OK);
	assert_int_equal(ops_update(&op, data, 5), CKR_OK);
	assert_int_equal(ops_update(&op, NULL, 0), CKR_OK);
	assert_int_equal(ops_update(&op, data + 5, len - 5), CKR_OK);
	*sig_len = 1024;
	rv = ops_sign(&op, false, NULL, 0, sig, sig_len);
	assert_int_equal(op.kind, OP_NONE);
	return rv;
}

static void test_multipart(void **state)
{
	CK_MECHANISM sha = { CKM_SHA256_RSA_PKCS, NULL, 0 }, raw = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM ec = { CKM_ECDSA_SHA384, NULL, 0 }, ecraw = { CKM_ECDSA, NULL, 0 };
	uint8_t one[1024], two[1024], big[OPS_RAW_MAX + 1] = { 0 };
	CK_ULONG l1, l2;
	struct p11_op op = { 0 };
	struct p11_key key;

	(void)state;
	assert_int_equal(sign1(&rsa, &sha, msg, MSG_LEN, one, &l1), CKR_OK);
	assert_int_equal(sign_parts(&rsa, &sha, msg, MSG_LEN, two, &l2), CKR_OK);
	assert_int_equal(l1, l2);
	assert_memory_equal(one, two, l1);
	assert_int_equal(sign1(&rsa, &raw, msg, MSG_LEN, one, &l1), CKR_OK);
	assert_int_equal(sign_parts(&rsa, &raw, msg, MSG_LEN, two, &l2), CKR_OK);
	assert_memory_equal(one, two, l1);
	assert_int_equal(sign_parts(&p384, &ec, msg, MSG_LEN, two, &l2), CKR_OK);
	ossl_ec(&p384, EVP_sha384(), msg, MSG_LEN, two, l2);
	assert_int_equal(sign_parts(&p256, &ecraw, msg, MSG_LEN, two, &l2), CKR_OK);
	ossl_ec(&p256, NULL, msg, MSG_LEN, two, l2);

	/* Multi-part verify. */
	key = fx_p11(&p256, CKO_PUBLIC_KEY);
	assert_int_equal(ops_init(&op, OP_VERIFY, &ecraw, &key), CKR_OK);
	assert_int_equal(ops_update(&op, msg, 7), CKR_OK);
	assert_int_equal(ops_update(&op, msg + 7, MSG_LEN - 7), CKR_OK);
	assert_int_equal(ops_verify(&op, false, NULL, 0, two, l2), CKR_OK);
	assert_int_equal(op.kind, OP_NONE);

	/* Raw mechanisms collect at most OPS_RAW_MAX bytes. */
	key = fx_p11(&rsa, CKO_PRIVATE_KEY);
	assert_int_equal(ops_init(&op, OP_SIGN, &raw, &key), CKR_OK);
	assert_int_equal(ops_update(&op, big, OPS_RAW_MAX - 1), CKR_OK);
	assert_int_equal(ops_update(&op, big, 2), CKR_DATA_LEN_RANGE);
	assert_int_equal(op.kind, OP_NONE);
	/* A one-shot call after an Update is out of sequence, and ends it. */
	assert_int_equal(ops_init(&op, OP_SIGN, &sha, &key), CKR_OK);
	assert_int_equal(ops_update(&op, msg, 3), CKR_OK);
	l1 = sizeof(one);
	assert_int_equal(ops_sign(&op, true, msg, MSG_LEN, one, &l1), CKR_OPERATION_ACTIVE);
	assert_int_equal(op.kind, OP_NONE);
}

/* §5.2 for signatures: sizes known without the TPM, a short buffer keeps
 * the operation (and its unhashed data) for the retry. */
static void test_two_call_sign(void **state)
{
	CK_MECHANISM sha = { CKM_SHA256_RSA_PKCS, NULL, 0 }, ec = { CKM_ECDSA_SHA256, NULL, 0 };
	struct p11_op op = { 0 };
	struct p11_key key = fx_p11(&rsa, CKO_PRIVATE_KEY);
	uint8_t sig[1024];
	CK_ULONG len;

	(void)state;
	fx_reset_counts();
	assert_int_equal(ops_init(&op, OP_SIGN, &sha, &key), CKR_OK);
	assert_int_equal(ops_sign(&op, true, msg, MSG_LEN, NULL, &len), CKR_OK);
	assert_int_equal(len, 256);
	len = 255;
	assert_int_equal(ops_sign(&op, true, msg, MSG_LEN, sig, &len), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(len, 256);
	assert_int_equal(op.kind, OP_SIGN);
	assert_int_equal(fake_tpm.n_sign, 0);
	assert_int_equal(ops_sign(&op, true, msg, MSG_LEN, sig, &len), CKR_OK);
	assert_int_equal(op.kind, OP_NONE);
	/* Had the data been hashed at each call, this would fail. */
	ossl_rsa(EVP_sha256(), NULL, RSA_PKCS1_PADDING, 0, NULL, msg, MSG_LEN, sig, len);

	/* The same at Final, on P-384: r || s is 96 bytes. */
	key = fx_p11(&p384, CKO_PRIVATE_KEY);
	fx_reset_counts();
	assert_int_equal(ops_init(&op, OP_SIGN, &ec, &key), CKR_OK);
	assert_int_equal(ops_update(&op, msg, MSG_LEN), CKR_OK);
	assert_int_equal(ops_sign(&op, false, NULL, 0, NULL, &len), CKR_OK);
	assert_int_equal(len, 96);
	len = 10;
	assert_int_equal(ops_sign(&op, false, NULL, 0, sig, &len), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(len, 96);
	assert_int_equal(fake_tpm.n_sign, 0);
	assert_int_equal(ops_sign(&op, false, NULL, 0, sig, &len), CKR_OK);
	assert_int_equal(len, 96);
	ossl_ec(&p384, EVP_sha256(), msg, MSG_LEN, sig, len);
}

/* The operation keeps its own reference to the public key. */
static void test_key_reference(void **state)
{
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	struct fx_key copy;
	struct p11_op op = { 0 };
	struct p11_key key;
	uint8_t sig[1024];
	CK_ULONG len;

	(void)state;
	assert_int_equal(sign1(&p256, &m, msg, MSG_LEN, sig, &len), CKR_OK);
	assert_int_equal(EVP_PKEY_up_ref(p256.priv), 1);
	fx_key_init(&copy, p256.priv);
	key = fx_p11(&copy, CKO_PUBLIC_KEY);
	assert_int_equal(ops_init(&op, OP_VERIFY, &m, &key), CKR_OK);
	fx_key_free(&copy); /* an object destroyed at logout */
	assert_int_equal(ops_verify(&op, true, msg, MSG_LEN, sig, len), CKR_OK);
}

static void test_verify_bad(void **state)
{
	CK_MECHANISM r = { CKM_SHA256_RSA_PKCS, NULL, 0 }, e = { CKM_ECDSA_SHA256, NULL, 0 };
	uint8_t sig[1024], zero[64] = { 0 };
	CK_ULONG len;

	(void)state;
	assert_int_equal(sign1(&rsa, &r, msg, MSG_LEN, sig, &len), CKR_OK);
	assert_int_equal(verify1(&rsa, &r, msg, MSG_LEN, sig, len - 1), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(verify1(&rsa, &r, msg, MSG_LEN, sig, len + 1), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(verify1(&rsa, &r, msg, MSG_LEN - 1, sig, len), CKR_SIGNATURE_INVALID);
	memset(sig, 0xff, len); /* above the modulus */
	assert_int_equal(verify1(&rsa, &r, msg, MSG_LEN, sig, len), CKR_SIGNATURE_INVALID);
	assert_int_equal(sign1(&p256, &e, msg, MSG_LEN, sig, &len), CKR_OK);
	assert_int_equal(verify1(&p256, &e, msg, MSG_LEN, sig, len - 1), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(verify1(&p256, &e, msg, MSG_LEN, sig, 0), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(verify1(&p384, &e, msg, MSG_LEN, sig, len), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(verify1(&p256, &e, msg, 3, sig, len), CKR_SIGNATURE_INVALID);
	assert_int_equal(verify1(&p256, &e, msg, MSG_LEN, zero, 64), CKR_SIGNATURE_INVALID);
}

static void test_digests(void **state)
{
	uint8_t want[64], got[64];
	struct p11_op op = { 0 };
	CK_ULONG len;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		CK_MECHANISM m = { ckm_of(hashes[i]), NULL, 0 };
		size_t n = dgst(hashes[i], msg, MSG_LEN, want);

		assert_int_equal(ops_init(&op, OP_DIGEST, &m, NULL), CKR_OK);
		assert_int_equal(ops_digest(&op, true, msg, MSG_LEN, NULL, &len), CKR_OK);
		assert_int_equal(len, n);
		len = n - 1;
		assert_int_equal(ops_digest(&op, true, msg, MSG_LEN, got, &len),
				 CKR_BUFFER_TOO_SMALL);
		assert_int_equal(ops_digest(&op, true, msg, MSG_LEN, got, &len), CKR_OK);
		assert_memory_equal(got, want, n);
		assert_int_equal(op.kind, OP_NONE);

		assert_int_equal(ops_init(&op, OP_DIGEST, &m, NULL), CKR_OK);
		assert_int_equal(ops_update(&op, msg, 10), CKR_OK);
		assert_int_equal(ops_update(&op, msg + 10, MSG_LEN - 10), CKR_OK);
		len = sizeof(got);
		assert_int_equal(ops_digest(&op, false, NULL, 0, got, &len), CKR_OK);
		assert_int_equal(len, n);
		assert_memory_equal(got, want, n);
	}
	assert_int_equal(ops_init(&op, OP_DIGEST, &(CK_MECHANISM){ CKM_SHA256, NULL, 0 }, NULL),
			 CKR_OK);
	assert_int_equal(ops_update(&op, msg, 10), CKR_OK);
	assert_int_equal(ops_digest(&op, true, msg, 10, got, &len), CKR_OPERATION_ACTIVE);
	assert_int_equal(op.kind, OP_NONE);
}

/* Run last: it leaves ops_rsa.c remembering that "the TPM" uses the
 * largest PSS salt. The first TPM signature is caught and redone on the
 * raw path; later ones go there directly. */
static void test_pss_max_salt_tpm(void **state)
{
	CK_RSA_PKCS_PSS_PARAMS pp = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp) };
	uint8_t sig[1024];
	CK_ULONG len;

	(void)state;
	fake_tpm.max_salt = true;
	fx_reset_counts();
	assert_int_equal(sign1(&rsa, &m, msg, MSG_LEN, sig, &len), CKR_OK);
	assert_int_equal(fake_tpm.n_sign, 1);
	assert_int_equal(fake_tpm.n_decrypt, 1);
	ossl_rsa(EVP_sha256(), NULL, RSA_PKCS1_PSS_PADDING, 32, EVP_sha256(), msg, MSG_LEN, sig,
		 len);
	fx_reset_counts();
	assert_int_equal(sign1(&rsa, &m, msg, MSG_LEN, sig, &len), CKR_OK);
	assert_int_equal(fake_tpm.n_sign, 0);
	assert_int_equal(fake_tpm.n_decrypt, 1);
	ossl_rsa(EVP_sha256(), NULL, RSA_PKCS1_PSS_PADDING, 32, EVP_sha256(), msg, MSG_LEN, sig,
		 len);
	fake_tpm.max_salt = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mechanism_tables),
		cmocka_unit_test(test_rsa_hash_and_sign),
		cmocka_unit_test(test_rsa_pkcs_digest_info),
		cmocka_unit_test(test_rsa_pkcs_raw),
		cmocka_unit_test(test_rsa_pss_params_paths),
		cmocka_unit_test(test_ecdsa_hash_and_sign),
		cmocka_unit_test(test_ecdsa_raw_lengths),
		cmocka_unit_test(test_put_padded),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_two_call_sign),
		cmocka_unit_test(test_key_reference),
		cmocka_unit_test(test_verify_bad),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_pss_max_salt_tpm),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
