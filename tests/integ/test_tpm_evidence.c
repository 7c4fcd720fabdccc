/* TPM evidence (src/tpm) checked by the verifier's code (src/wire):
 * EK certificates, credential activation, quotes and certifications. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../src/tpm/tpm.h"
#include "../../src/wire/attest.h"
#include "../../src/wire/key.h"
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

/* A self-signed CA nobody trusts, written to a fresh file. */
static void write_other_ca(char *path)
{
	EVP_PKEY *k = t_keygen("p256");
	X509 *c = X509_new();
	X509_NAME *n = X509_get_subject_name(c);
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"swtpm-localca-rootca",
				   -1, -1, 0);
	X509_set_issuer_name(c, n);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, k);
	assert_true(X509_sign(c, k, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_X509(f, c), 1);
	fclose(f);
	X509_free(c);
	EVP_PKEY_free(k);
}

static void test_ek_certs(void **state)
{
	static const enum tpm_ek_kind kinds[] = { TPM_EK_RSA2048, TPM_EK_ECC_P384 };
	char other[] = "/tmp/attest11-otherca-XXXXXX";
	struct tpm_key ek, wrong;
	uint8_t *der;
	size_t len;

	(void)state;
	write_other_ca(other);
	assert_int_equal(tpm_ek_load(tpm, TPM_EK_ECC_P384, &wrong), A11_OK);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(tpm_ek_cert(tpm, kinds[i], &der, &len), A11_OK);
		assert_int_equal(tpm_ek_load(tpm, kinds[i], &ek), A11_OK);
		assert_int_equal(wire_ekcert_verify(der, len, t_env("A11_EK_CA_DIR"),
						    &ek.pub.publicArea), A11_OK);
		assert_int_equal(wire_ekcert_verify(der, len, other, &ek.pub.publicArea),
				 A11_ERR_EKCERT);
		if (i == 0)
			assert_int_equal(wire_ekcert_verify(der, len, t_env("A11_EK_CA_DIR"),
							    &wrong.pub.publicArea), A11_ERR_EKCERT_KEY);
		free(der);
		tpm_key_release(tpm, &ek);
	}
	/* swtpm leaves the P-256 EK certificate index empty. */
	assert_int_equal(tpm_ek_cert(tpm, TPM_EK_ECC_P256, &der, &len), A11_ERR_TPM_NOT_FOUND);
	tpm_key_release(tpm, &wrong);
	unlink(other);
}

/* auto: the first EK whose certificate the TPM holds, ECC before RSA;
 * on swtpm (RSA-2048 and P-384 certificates) that is P-384, and the
 * identity it makes is the one an explicit p384 gets. */
static void test_ek_auto(void **state)
{
	struct tpm_identity *a, *b;
	enum tpm_ek_kind k;
	uint8_t *der, *want;
	size_t len, want_len;

	(void)state;
	assert_int_equal(tpm_ek_resolve(tpm, TPM_EK_AUTO, &k), A11_OK);
	assert_int_equal(k, TPM_EK_ECC_P384);
	for (k = TPM_EK_RSA2048; k < TPM_EK_AUTO; k++) {
		enum tpm_ek_kind got;

		assert_int_equal(tpm_ek_resolve(tpm, k, &got), A11_OK);
		assert_int_equal(got, k);
	}
	assert_int_equal(tpm_ek_resolve(tpm, (enum tpm_ek_kind)(TPM_EK_AUTO + 1), &k), A11_ERR_ARG);
	assert_int_equal(tpm_ek_cert(tpm, TPM_EK_AUTO, &der, &len), A11_OK);
	assert_int_equal(tpm_ek_cert(tpm, TPM_EK_ECC_P384, &want, &want_len), A11_OK);
	assert_int_equal(len, want_len);
	assert_memory_equal(der, want, len);
	free(der);
	free(want);
	assert_int_equal(tpm_identity_get(tpm, TPM_EK_AUTO, &a), A11_OK);
	assert_int_equal(a->kind, TPM_EK_ECC_P384);
	assert_int_equal(tpm_identity_get(tpm, TPM_EK_ECC_P384, &b), A11_OK);
	assert_ptr_equal(a, b); /* the same cache: nothing read twice */
	assert_int_equal(tpm_identity_get(tpm, TPM_EK_RSA2048, &b), A11_OK);
	assert_int_equal(b->kind, TPM_EK_RSA2048);
	assert_int_equal(b->ek.pub.publicArea.type, TPM2_ALG_RSA);
	tpm_identity_forget(tpm);
}

static void test_make_activate_credential(void **state)
{
	static const enum tpm_ek_kind kinds[] = { TPM_EK_RSA2048, TPM_EK_ECC_P384 };
	TPM2B_DIGEST secret = { .size = 32 }, got;
	TPM2B_ID_OBJECT cred;
	TPM2B_ENCRYPTED_SECRET enc;
	struct tpm_key ek, ak, other;

	(void)state;
	assert_int_equal(tpm_random(tpm, secret.buffer, secret.size), A11_OK);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(tpm_ek_load(tpm, kinds[i], &ek), A11_OK);
		assert_int_equal(tpm_ak_create(tpm, i ? TPM2_ALG_RSA : TPM2_ALG_ECC, &ak), A11_OK);
		assert_int_equal(wire_make_credential(&ek.pub.publicArea, &ak.name, &secret, &cred,
						      &enc), A11_OK);
		assert_int_equal(tpm_activate_credential(tpm, &ak, &ek, &cred, &enc, &got), A11_OK);
		assert_int_equal(got.size, secret.size);
		assert_memory_equal(got.buffer, secret.buffer, secret.size);
		/* A credential made for another AK does not activate with this one. */
		assert_int_equal(tpm_ak_create(tpm, TPM2_ALG_ECC, &other), A11_OK);
		assert_int_equal(wire_make_credential(&ek.pub.publicArea, &other.name, &secret,
						      &cred, &enc), A11_OK);
		assert_int_not_equal(tpm_activate_credential(tpm, &ak, &ek, &cred, &enc, &got),
				     A11_OK);
		tpm_key_release(tpm, &other);
		tpm_key_release(tpm, &ak);
		tpm_key_release(tpm, &ek);
	}
}

static void ak_qn(const struct tpm_key *ak, TPM2B_NAME *qn)
{
	TPM2B_NAME h;

	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &h);
	assert_int_equal(wire_qualified_name(&h, &ak->name, qn), A11_OK);
}

static const TPML_PCR_SELECTION quote_sel = {
	.count = 1,
	.pcrSelections[0] = { .hash = TPM2_ALG_SHA256, .sizeofSelect = 3,
			      .pcrSelect = { 0xff, 0xff, 0xff } },
};

static void quote_case(TPM2_ALG_ID ak_alg)
{
	struct tpm_key ak;
	TPM2B_DATA nonce = { .size = 32 }, wrong_nonce;
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig, bad_sig;
	struct a11_pcr_values pcrs, bad_pcrs;
	TPML_PCR_SELECTION other_sel = quote_sel;
	TPM2B_NAME qn, wrong_qn;
	TPMS_ATTEST out;
	struct wire_quote_expect exp = { &nonce, &quote_sel, &pcrs, &qn };

	assert_int_equal(tpm_ak_create(tpm, ak_alg, &ak), A11_OK);
	ak_qn(&ak, &qn);
	assert_int_equal(tpm_random(tpm, nonce.buffer, nonce.size), A11_OK);
	assert_int_equal(tpm_pcr_read(tpm, &quote_sel, &pcrs), A11_OK);
	assert_int_equal(pcrs.count, 24);
	assert_int_equal(tpm_quote(tpm, &ak, &nonce, &quote_sel, &attest, &sig), A11_OK);
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &sig, &exp, &out), A11_OK);
	assert_int_equal(out.type, TPM2_ST_ATTEST_QUOTE);
	assert_true(out.clockInfo.clock > 0);

	wrong_nonce = nonce;
	wrong_nonce.buffer[3] ^= 1;
	exp.nonce = &wrong_nonce;
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &sig, &exp, NULL), A11_ERR_NONCE);
	exp.nonce = &nonce;

	for (UINT16 i = 0; i < attest.size; i++) {
		attest.attestationData[i] ^= 0x01;
		assert_int_not_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData,
						       attest.size, &sig, &exp, NULL), A11_OK);
		attest.attestationData[i] ^= 0x01;
	}
	bad_sig = sig;
	if (sig.sigAlg == TPM2_ALG_ECDSA)
		bad_sig.signature.ecdsa.signatureS.buffer[5] ^= 1;
	else
		bad_sig.signature.rsassa.sig.buffer[5] ^= 1;
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &bad_sig, &exp, NULL), A11_ERR_SIGNATURE);

	bad_pcrs = pcrs;
	bad_pcrs.v[7].buffer[0] ^= 1;
	exp.pcrs = &bad_pcrs;
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &sig, &exp, NULL), A11_ERR_PCR_DIGEST);
	exp.pcrs = &pcrs;

	other_sel.pcrSelections[0].pcrSelect[2] = 0x7f; /* asked for 0..22 only */
	exp.sel = &other_sel;
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &sig, &exp, NULL), A11_ERR_PCR_SELECTION);
	exp.sel = &quote_sel;

	wrong_qn = qn;
	wrong_qn.name[wrong_qn.size - 1] ^= 1;
	exp.signer_qn = &wrong_qn;
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &sig, &exp, NULL), A11_ERR_SIGNER);
	tpm_key_release(tpm, &ak);
}

static void test_quote(void **state)
{
	(void)state;
	quote_case(TPM2_ALG_ECC);
	quote_case(TPM2_ALG_RSA);
}

/* The TPM silently drops PCRs of banks it has not allocated: a request
 * for sha1 PCRs (not allocated by the rig) yields a differing selection. */
static void test_quote_unallocated_bank(void **state)
{
	const TPML_PCR_SELECTION sel = { .count = 2, .pcrSelections = {
		{ .hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0x81 } },
		{ .hash = TPM2_ALG_SHA1, .sizeofSelect = 3, .pcrSelect = { 0x81 } } } };
	const TPML_PCR_SELECTION sel256 = { .count = 1, .pcrSelections = {
		{ .hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0x81 } } } };
	struct tpm_key ak;
	TPM2B_DATA nonce = { .size = 16 };
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	struct a11_pcr_values pcrs;
	TPM2B_NAME qn;
	struct wire_quote_expect exp = { &nonce, &sel, &pcrs, &qn };

	(void)state;
	assert_int_equal(tpm_ak_create(tpm, TPM2_ALG_ECC, &ak), A11_OK);
	ak_qn(&ak, &qn);
	assert_int_equal(tpm_pcr_read(tpm, &sel256, &pcrs), A11_OK);
	assert_int_equal(tpm_quote(tpm, &ak, &nonce, &sel, &attest, &sig), A11_OK);
	assert_int_equal(wire_quote_verify(&ak.pub.publicArea, attest.attestationData, attest.size,
					   &sig, &exp, NULL), A11_ERR_PCR_SELECTION);
	tpm_key_release(tpm, &ak);
}

static void certify_case(struct tpm_key *ak, struct tpm_key *obj, struct tpm_key *other)
{
	TPM2B_DATA nonce = { .size = 20 };
	TPM2B_ATTEST attest;
	TPMT_SIGNATURE sig;
	TPM2B_NAME qn;
	TPMS_ATTEST out;

	ak_qn(ak, &qn);
	assert_int_equal(tpm_random(tpm, nonce.buffer, nonce.size), A11_OK);
	assert_int_equal(tpm_certify(tpm, ak, obj, &nonce, &attest, &sig), A11_OK);
	assert_int_equal(wire_certify_verify(&ak->pub.publicArea, attest.attestationData,
					     attest.size, &sig, &nonce, &qn, &obj->pub.publicArea,
					     &out), A11_OK);
	assert_int_equal(wire_certify_verify(&ak->pub.publicArea, attest.attestationData,
					     attest.size, &sig, &nonce, &qn,
					     &other->pub.publicArea, NULL), A11_ERR_NAME);
}

static void test_certify(void **state)
{
	struct tpm_key ak, srk, born;
	TPM2B_PRIVATE priv;
	const TPM2B_AUTH pin = { .size = 4, .buffer = "4321" };
	TPM2B_DIGEST dg;
	TPMT_SIGNATURE sig;

	(void)state;
	assert_int_equal(tpm_ak_create(tpm, TPM2_ALG_ECC, &ak), A11_OK);
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_RSA, &srk), A11_OK);
	assert_int_equal(tpm_key_create(tpm, &srk, TPM2_ALG_ECC, &pin, NULL, NULL, &priv, &born), A11_OK);
	certify_case(&ak, &srk, &born);
	certify_case(&ak, &born, &srk);
	/* The TPM-born key signs; its public key (from the certified public) verifies. */
	{
		EVP_PKEY *pub = NULL;

		t_digest(TPM2_ALG_SHA256, "born in the TPM", &dg);
		assert_int_equal(tpm_sign(tpm, &born, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, &dg, &sig),
				 A11_OK);
		assert_int_equal(wire_pub_to_evp(&born.pub.publicArea, &pub), A11_OK);
		assert_true(t_verify(pub, TPM2_ALG_SHA256, dg.buffer, dg.size, &sig));
		EVP_PKEY_free(pub);
	}
	tpm_key_release(tpm, &born);
	tpm_key_release(tpm, &srk);
	tpm_key_release(tpm, &ak);
}

/* Whether file holds the n bytes of needle anywhere. */
static bool file_has(const char *file, const uint8_t *needle, size_t n)
{
	static uint8_t buf[1 << 20];
	FILE *f = fopen(file, "rb");
	size_t len;

	assert_non_null(f);
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(len > 0 && len < sizeof(buf));
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, needle, n) == 0)
			return true;
	return false;
}

/* A key born here gets its authValue (from the PIN) through an encrypted
 * parameter (src/tpm/create.c): a pcap TCTI over the rig's records every
 * byte both ways, and the value is not among them. The control, a key
 * created under the RSA EK (a parent that needs a policy session, left to
 * Esys in clear), shows that the recording would have caught it. */
static void test_born_auth_encrypted(void **state)
{
	static const TPM2B_AUTH secret = { 32, "authValue of a key born here 01" };
	static const TPM2B_AUTH control = { 32, "authValue sent in clear, control" };
	char dir[] = "/tmp/attest11-pcap-XXXXXX", file[PATH_MAX], conf[1024];
	struct tpm_key srk, ek, born, clear, again;
	TPM2B_PRIVATE priv, priv2;
	TPM2B_PUBLIC pub;
	TPM2B_DIGEST dg;
	TPMT_SIGNATURE sig;
	struct tpm *rec;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/tpm.pcap", dir);
	assert_int_equal(setenv("TCTI_PCAP_FILE", file, 1), 0);
	snprintf(conf, sizeof(conf), "pcap:%s", t_env("A11_TCTI"));
	assert_int_equal(tpm_open(conf, &rec), A11_OK);
	assert_int_equal(tpm_srk_load(rec, TPM2_ALG_ECC, &srk), A11_OK);
	assert_int_equal(tpm_key_create(rec, &srk, TPM2_ALG_ECC, &secret, NULL, NULL, &priv, &born),
			 A11_OK);
	pub = born.pub;
	/* swtpm holds three transient objects: make room for the control's. */
	tpm_key_release(rec, &born);
	tpm_key_release(rec, &srk);
	assert_int_equal(tpm_ek_load(rec, TPM_EK_RSA2048, &ek), A11_OK);
	assert_true(ek.use_policy);
	assert_int_equal(tpm_key_create(rec, &ek, TPM2_ALG_ECC, &control, NULL, NULL, &priv2,
					&clear), A11_OK);
	tpm_key_release(rec, &clear);
	tpm_key_release(rec, &ek);
	tpm_close(rec);
	assert_true(file_has(file, control.buffer, control.size));
	assert_false(file_has(file, secret.buffer, secret.size));
	unlink(file);
	rmdir(dir);
	/* The TPM got the value itself: the key signs with it. */
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_ECC, &srk), A11_OK);
	assert_int_equal(tpm_load(tpm, &srk, &pub, &priv, NULL, &secret, &again), A11_OK);
	t_digest(TPM2_ALG_SHA256, "authValue arrived encrypted", &dg);
	assert_int_equal(tpm_sign(tpm, &again, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, &dg, &sig), A11_OK);
	tpm_key_release(tpm, &again);
	tpm_key_release(tpm, &srk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ek_certs),
		cmocka_unit_test(test_ek_auto),
		cmocka_unit_test(test_make_activate_credential),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_unallocated_bank),
		cmocka_unit_test(test_certify),
		cmocka_unit_test(test_born_auth_encrypted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
