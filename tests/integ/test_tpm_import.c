/* Software wrap (src/wire) -> TPM Import/Load/use (src/tpm) -> OpenSSL
 * checks the result: the broker's and the module's halves agree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "../../src/tpm/tpm.h"
#include "../../src/wire/key.h"
#include "../../src/wire/policy.h"
#include "../../src/wire/wrap.h"
#include "../testlib.h"

static struct tpm *tpm;

static int setup(void **state)
{
	(void)state;
	return tpm_open(t_env("A11_TCTI"), &tpm) == A11_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	tpm_close(tpm);
	return 0;
}

enum parent_kind { P_SRK_RSA, P_SRK_ECC, P_EK_RSA, P_EK_P384 };

static void load_parent(enum parent_kind p, struct tpm_key *k)
{
	a11_err r;

	switch (p) {
	case P_SRK_RSA: r = tpm_srk_load(tpm, TPM2_ALG_RSA, k); break;
	case P_SRK_ECC: r = tpm_srk_load(tpm, TPM2_ALG_ECC, k); break;
	case P_EK_RSA: r = tpm_ek_load(tpm, TPM_EK_RSA2048, k); break;
	default: r = tpm_ek_load(tpm, TPM_EK_ECC_P384, k); break;
	}
	assert_int_equal(r, A11_OK);
}

/* Wrap key to parent in software, import and load it in the TPM. */
static void wrap_and_load(EVP_PKEY *key, struct tpm_key *parent,
			  const struct wire_dup_opts *opts, const struct tpm_policy *pol,
			  const TPM2B_AUTH *auth, struct tpm_key *out)
{
	struct wire_dup d;
	TPM2B_PRIVATE priv;
	struct tpm_import in;

	assert_int_equal(wire_dup_key(key, &parent->pub.publicArea, opts, &d), A11_OK);
	in = (struct tpm_import){ &d.pub, &d.duplicate, &d.seed, &d.enc_key, &d.sym };
	assert_int_equal(tpm_import(tpm, parent, &in, &priv), A11_OK);
	assert_int_equal(tpm_load(tpm, parent, &d.pub, &priv, pol, auth, out), A11_OK);
	wire_dup_clear(&d);
}

static void sign_and_check(struct tpm_key *k, EVP_PKEY *key, TPM2_ALG_ID scheme,
			   TPMI_ALG_HASH hash)
{
	TPM2B_DIGEST dg;
	TPMT_SIGNATURE sig;

	t_digest(hash, "attest11 round trip", &dg);
	assert_int_equal(tpm_sign(tpm, k, scheme, hash, &dg, &sig), A11_OK);
	assert_true(t_verify(key, hash, dg.buffer, dg.size, &sig));
	/* A different digest must not verify with the same signature. */
	dg.buffer[0] ^= 1;
	assert_false(t_verify(key, hash, dg.buffer, dg.size, &sig));
}

static void matrix_case(const char *kind, enum parent_kind p, bool inner)
{
	EVP_PKEY *key = t_keygen(kind);
	struct tpm_key parent, k;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256, .inner = inner };

	load_parent(p, &parent);
	wrap_and_load(key, &parent, &opts, NULL, NULL, &k);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		sign_and_check(&k, key, TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
		sign_and_check(&k, key, TPM2_ALG_RSAPSS, TPM2_ALG_SHA384);
	} else {
		sign_and_check(&k, key, TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
		sign_and_check(&k, key, TPM2_ALG_ECDSA, TPM2_ALG_SHA384);
	}
	tpm_key_release(tpm, &k);
	tpm_key_release(tpm, &parent);
	EVP_PKEY_free(key);
}

static void test_import_matrix(void **state)
{
	static const char *const kinds[] = { "rsa2048", "rsa3072", "p256", "p384" };

	(void)state;
	for (size_t i = 0; i < 4; i++)
		for (int p = P_SRK_RSA; p <= P_EK_P384; p++) {
			print_message("%s under parent %d\n", kinds[i], p);
			matrix_case(kinds[i], (enum parent_kind)p, false);
		}
}

static void test_import_inner_wrapper(void **state)
{
	(void)state;
	matrix_case("p256", P_SRK_RSA, true);
	matrix_case("rsa2048", P_EK_P384, true);
}

/* A blob wrapped to one parent does not import under another. */
static void test_import_wrong_parent(void **state)
{
	EVP_PKEY *key = t_keygen("p256");
	struct tpm_key rsa, other;
	struct wire_dup d;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256 };
	TPM2B_PRIVATE priv;
	struct tpm_import in;

	(void)state;
	load_parent(P_SRK_RSA, &rsa);
	load_parent(P_EK_RSA, &other);
	assert_int_equal(wire_dup_key(key, &rsa.pub.publicArea, &opts, &d), A11_OK);
	in = (struct tpm_import){ &d.pub, &d.duplicate, &d.seed, &d.enc_key, &d.sym };
	assert_int_not_equal(tpm_import(tpm, &other, &in, &priv), A11_OK);
	/* A flipped byte in the blob fails the TPM's integrity check. */
	d.duplicate.buffer[d.duplicate.size - 1] ^= 1;
	assert_int_equal(tpm_import(tpm, &rsa, &in, &priv), A11_ERR_TPM_INTEGRITY);
	wire_dup_clear(&d);
	tpm_key_release(tpm, &rsa);
	tpm_key_release(tpm, &other);
	EVP_PKEY_free(key);
}

/* Encrypt with OpenSSL under the original key, decrypt in the TPM. */
static void decrypt_case(struct tpm_key *k, EVP_PKEY *key, int padding, TPM2_ALG_ID scheme)
{
	uint8_t msg[256] = "premaster secret";
	size_t mlen = padding == RSA_NO_PADDING ? 256 : 17;
	TPM2B_PUBLIC_KEY_RSA ct, pt;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	size_t n = sizeof(ct.buffer);

	if (padding == RSA_NO_PADDING) /* below the modulus */
		memmove(msg + 1, "\x00\x01raw block", 12);
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, padding), 1);
	if (padding == RSA_PKCS1_OAEP_PADDING)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct.buffer, &n, msg, mlen), 1);
	ct.size = (UINT16)n;
	EVP_PKEY_CTX_free(ctx);
	assert_int_equal(tpm_rsa_decrypt(tpm, k, scheme, TPM2_ALG_SHA256, NULL, &ct, &pt), A11_OK);
	assert_int_equal(pt.size, mlen);
	assert_memory_equal(pt.buffer, msg, mlen);
}

static void test_rsa_decrypt(void **state)
{
	EVP_PKEY *key = t_keygen("rsa2048");
	struct tpm_key srk, k;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256 };

	(void)state;
	load_parent(P_SRK_RSA, &srk);
	wrap_and_load(key, &srk, &opts, NULL, NULL, &k);
	decrypt_case(&k, key, RSA_PKCS1_OAEP_PADDING, TPM2_ALG_OAEP);
	decrypt_case(&k, key, RSA_PKCS1_PADDING, TPM2_ALG_RSAES);
	decrypt_case(&k, key, RSA_NO_PADDING, TPM2_ALG_NULL);
	tpm_key_release(tpm, &k);
	tpm_key_release(tpm, &srk);
	EVP_PKEY_free(key);
}

static void test_sealed(void **state)
{
	static const uint8_t token[] = "eyJhbGciOiJFUzI1NiJ9.bearer.token";
	struct tpm_key parent, k;
	struct wire_dup d;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256 };
	TPM2B_PRIVATE priv;
	TPM2B_SENSITIVE_DATA out;
	struct tpm_import in;

	(void)state;
	for (int p = P_SRK_RSA; p <= P_EK_P384; p += 3) {
		load_parent((enum parent_kind)p, &parent);
		assert_int_equal(wire_dup_sealed(token, sizeof(token), &parent.pub.publicArea,
						 &opts, &d), A11_OK);
		in = (struct tpm_import){ &d.pub, &d.duplicate, &d.seed, &d.enc_key, &d.sym };
		assert_int_equal(tpm_import(tpm, &parent, &in, &priv), A11_OK);
		assert_int_equal(tpm_load(tpm, &parent, &d.pub, &priv, NULL, NULL, &k), A11_OK);
		assert_int_equal(tpm_unseal(tpm, &k, &out), A11_OK);
		assert_int_equal(out.size, sizeof(token));
		assert_memory_equal(out.buffer, token, sizeof(token));
		wire_dup_clear(&d);
		tpm_key_release(tpm, &k);
		tpm_key_release(tpm, &parent);
	}
}

static void pcr_extend(int pcr)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "tpm2_pcrextend -T '%s' %d:sha256=%064d >/dev/null",
		 t_env("A11_TCTI"), pcr, 1);
	assert_int_equal(system(cmd), 0);
}

/* A key whose authPolicy is PolicyPCR(16) AND PolicyAuthValue: it signs
 * while PCR 16 holds its value and the PIN is right, and never after. */
static void test_policy_pcr(void **state)
{
	EVP_PKEY *key = t_keygen("p256");
	struct tpm_key srk, k;
	struct tpm_policy pol = { .pcr = true, .auth_value = true };
	struct a11_pcr_values vals;
	TPM2B_DIGEST policy, dg;
	TPM2B_AUTH pin = { .size = 6, .buffer = "123456" };
	TPM2B_AUTH bad = { .size = 6, .buffer = "654321" };
	TPMT_SIGNATURE sig;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256, .auth_policy = &policy,
				      .auth_value = &pin };
	struct wire_dup d;
	TPM2B_PRIVATE priv;
	struct tpm_import in;

	(void)state;
	pol.pcrs = (TPML_PCR_SELECTION){ .count = 1, .pcrSelections[0] = {
		.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0x00, 0x00, 0x01 } } };
	pcr_extend(16);
	assert_int_equal(tpm_pcr_read(tpm, &pol.pcrs, &vals), A11_OK);
	assert_int_equal(wire_policy_init(TPM2_ALG_SHA256, &policy), A11_OK);
	assert_int_equal(wire_policy_pcr(TPM2_ALG_SHA256, &policy, &pol.pcrs, &vals), A11_OK);
	assert_int_equal(wire_policy_authvalue(TPM2_ALG_SHA256, &policy), A11_OK);

	load_parent(P_SRK_RSA, &srk);
	wrap_and_load(key, &srk, &opts, &pol, &pin, &k);
	sign_and_check(&k, key, TPM2_ALG_ECDSA, TPM2_ALG_SHA256);
	sign_and_check(&k, key, TPM2_ALG_ECDSA, TPM2_ALG_SHA256); /* session rebuilt */
	tpm_key_release(tpm, &k);

	/* Same blob, wrong PIN: the TPM refuses. */
	assert_int_equal(wire_dup_key(key, &srk.pub.publicArea, &opts, &d), A11_OK);
	in = (struct tpm_import){ &d.pub, &d.duplicate, &d.seed, &d.enc_key, &d.sym };
	assert_int_equal(tpm_import(tpm, &srk, &in, &priv), A11_OK);
	assert_int_equal(tpm_load(tpm, &srk, &d.pub, &priv, &pol, &bad, &k), A11_OK);
	t_digest(TPM2_ALG_SHA256, "x", &dg);
	assert_int_equal(tpm_sign(tpm, &k, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, &dg, &sig),
			 A11_ERR_TPM_AUTH);
	tpm_key_release(tpm, &k);

	/* Right PIN, PCR 16 moved: the policy no longer holds. */
	assert_int_equal(tpm_load(tpm, &srk, &d.pub, &priv, &pol, &pin, &k), A11_OK);
	pcr_extend(16);
	assert_int_equal(tpm_sign(tpm, &k, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, &dg, &sig),
			 A11_ERR_TPM_POLICY);
	wire_dup_clear(&d);
	tpm_key_release(tpm, &k);
	tpm_key_release(tpm, &srk);
	EVP_PKEY_free(key);
}

/* Without the policy session the key cannot be used by password alone. */
static void test_policy_no_password_bypass(void **state)
{
	EVP_PKEY *key = t_keygen("p256");
	struct tpm_key srk, k;
	TPM2B_DIGEST policy, dg;
	struct wire_dup_opts opts = { .name_alg = TPM2_ALG_SHA256, .auth_policy = &policy };
	TPMT_SIGNATURE sig;

	(void)state;
	assert_int_equal(wire_policy_init(TPM2_ALG_SHA256, &policy), A11_OK);
	assert_int_equal(wire_policy_authvalue(TPM2_ALG_SHA256, &policy), A11_OK);
	load_parent(P_SRK_ECC, &srk);
	wrap_and_load(key, &srk, &opts, NULL, NULL, &k);
	t_digest(TPM2_ALG_SHA256, "x", &dg);
	assert_int_not_equal(tpm_sign(tpm, &k, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, &dg, &sig),
			     A11_OK);
	tpm_key_release(tpm, &k);
	tpm_key_release(tpm, &srk);
	EVP_PKEY_free(key);
}

/* Each software policy digest equals the one a trial session on the TPM
 * reaches: PolicySecret, PolicyPCR over two PCRs, PolicyAuthValue, in
 * SHA-256 and SHA-384. */
static void test_policy_digests_match_trial(void **state)
{
	static const TPMI_ALG_HASH algs[] = { TPM2_ALG_SHA256, TPM2_ALG_SHA384 };
	struct tpm_policy pol = { .secret_endorsement = true, .pcr = true, .auth_value = true };
	struct a11_pcr_values vals;
	TPM2B_DIGEST sw, hw;
	TPM2B_NAME endorsement;

	(void)state;
	pol.pcrs = (TPML_PCR_SELECTION){ .count = 1, .pcrSelections[0] = {
		.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0x81, 0x00, 0x01 } } };
	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &endorsement);
	assert_int_equal(tpm_pcr_read(tpm, &pol.pcrs, &vals), A11_OK);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(wire_policy_init(algs[i], &sw), A11_OK);
		assert_int_equal(wire_policy_secret(algs[i], &sw, &endorsement, NULL), A11_OK);
		assert_int_equal(wire_policy_pcr(algs[i], &sw, &pol.pcrs, &vals), A11_OK);
		assert_int_equal(wire_policy_authvalue(algs[i], &sw), A11_OK);
		assert_int_equal(tpm_policy_trial(tpm, &pol, algs[i], &hw), A11_OK);
		assert_int_equal(sw.size, hw.size);
		assert_memory_equal(sw.buffer, hw.buffer, hw.size);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_matrix),
		cmocka_unit_test(test_import_inner_wrapper),
		cmocka_unit_test(test_import_wrong_parent),
		cmocka_unit_test(test_rsa_decrypt),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_policy_pcr),
		cmocka_unit_test(test_policy_no_password_bypass),
		cmocka_unit_test(test_policy_digests_match_trial),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
