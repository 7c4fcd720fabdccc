/* The broker's approver (src/broker/approver.c): its key files, the TPM
 * public area attesters load, and signatures the software verifier (and
 * so TPM2_VerifySignature) accepts over aHash = H(approved || policyRef). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tmpdir_fixture.h"
#include "../../src/broker/approver.h"
#include "../../src/wire/attest.h"
#include "../../src/wire/key.h"
#include "../../src/wire/policy.h"

struct fx {
	struct tmpdir dir;
	char priv[PATH_MAX], pub[PATH_MAX];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(&f->dir);
	tmpdir_file(&f->dir, "approver.pem", f->priv);
	tmpdir_file(&f->dir, "approver.pub.pem", f->pub);
	assert_int_equal(approver_keygen(f->priv, f->pub), A11_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	tmpdir_remove(&f->dir);
	free(f);
	return 0;
}

static void test_files(void **state)
{
	struct fx *f = *state;
	struct approver *a = NULL;
	struct stat st;

	assert_int_equal(stat(f->priv, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(f->pub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* Never replaced. */
	assert_int_equal(approver_keygen(f->priv, f->pub), A11_ERR_EXISTS);
	/* Group or others may not read it. */
	assert_int_equal(chmod(f->priv, 0640), 0);
	assert_int_not_equal(approver_load(f->priv, &a), A11_OK);
	assert_null(a);
	assert_int_equal(chmod(f->priv, 0600), 0);
	assert_int_equal(approver_load(f->priv, &a), A11_OK);
	approver_free(a);
}

/* The TPM public area is the published public key, as an unrestricted
 * ECDSA-SHA256 P-256 signing key. */
static void test_public_area(void **state)
{
	struct fx *f = *state;
	struct approver *a = NULL;
	const TPMT_PUBLIC *p;
	EVP_PKEY *from_tpm = NULL, *published;
	FILE *fp = fopen(f->pub, "r");

	assert_non_null(fp);
	published = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(published);
	assert_int_equal(approver_load(f->priv, &a), A11_OK);
	p = &approver_public(a)->publicArea;
	assert_int_equal(p->type, TPM2_ALG_ECC);
	assert_int_equal(p->nameAlg, TPM2_ALG_SHA256);
	assert_int_equal(p->parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
	assert_int_equal(p->parameters.eccDetail.scheme.scheme, TPM2_ALG_ECDSA);
	assert_false(p->objectAttributes & TPMA_OBJECT_RESTRICTED);
	assert_true(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT);
	assert_int_equal(wire_pub_to_evp(p, &from_tpm), A11_OK);
	assert_int_equal(EVP_PKEY_eq(from_tpm, published), 1);
	EVP_PKEY_free(from_tpm);
	EVP_PKEY_free(published);
	approver_free(a);
}

static void test_signs_the_approval(void **state)
{
	struct fx *f = *state;
	struct approver *a = NULL;
	TPM2B_DIGEST approved = { .size = 32 }, ahash;
	uint8_t ref[32], msg[64];
	TPMT_SIGNATURE sig;

	memset(approved.buffer, 0xa5, 32);
	memset(ref, 0x3c, sizeof(ref));
	memcpy(msg, approved.buffer, 32);
	memcpy(msg + 32, ref, 32);
	assert_int_equal(approver_load(f->priv, &a), A11_OK);
	assert_int_equal(wire_approval_digest(&approved, ref, sizeof(ref), &ahash), A11_OK);
	assert_int_equal(approver_sign(a, &ahash, &sig), A11_OK);
	assert_int_equal(sig.sigAlg, TPM2_ALG_ECDSA);
	assert_int_equal(sig.signature.ecdsa.hash, TPM2_ALG_SHA256);
	/* Verified over approved || policyRef, hashed by the verifier. */
	assert_int_equal(wire_sig_verify(&approver_public(a)->publicArea, msg, sizeof(msg), &sig),
			 A11_OK);
	msg[63] ^= 1; /* another lease's policyRef */
	assert_int_equal(wire_sig_verify(&approver_public(a)->publicArea, msg, sizeof(msg), &sig),
			 A11_ERR_SIGNATURE);
	/* Only a SHA-256 digest is signed. */
	ahash.size = 20;
	assert_int_not_equal(approver_sign(a, &ahash, &sig), A11_OK);
	approver_free(a);
}

/* A ring (a rotation's overlap): the current key anchors new leases, an
 * old one is found by its Name and signs for the leases bound to it, an
 * unknown Name finds nothing; a lease that names none gets the current. */
static void test_ring(void **state)
{
	struct fx *f = *state;
	char old_priv[PATH_MAX], old_pub[PATH_MAX];
	struct approver *a = NULL;
	const TPM2B_PUBLIC *cur, *old;
	uint8_t name[APPROVER_NAME_LEN], ref[32], msg[64];
	TPM2B_DIGEST approved = { .size = 32 }, ahash;
	struct approver *o = NULL;
	TPM2B_PUBLIC copy;
	TPM2B_NAME n;
	TPMT_SIGNATURE sig;

	tmpdir_file(&f->dir, "old.pem", old_priv);
	tmpdir_file(&f->dir, "old.pub.pem", old_pub);
	assert_int_equal(approver_keygen(old_priv, old_pub), A11_OK);
	assert_int_equal(approver_load(f->priv, &a), A11_OK);
	assert_int_equal(approver_add(a, old_priv), A11_OK);
	assert_int_equal(approver_add(a, old_priv), A11_ERR_EXISTS);
	assert_int_equal(approver_add(a, f->priv), A11_ERR_EXISTS);
	cur = approver_public(a);
	approver_name(a, name);
	assert_int_equal(wire_name(&cur->publicArea, &n), A11_OK);
	assert_memory_equal(n.name, name, APPROVER_NAME_LEN);
	assert_ptr_equal(approver_public_of(a, name, sizeof(name)), cur);
	assert_ptr_equal(approver_public_of(a, NULL, 0), cur);
	/* The old key, by its own Name. */
	assert_int_equal(approver_load(old_priv, &o), A11_OK);
	approver_name(o, name);
	approver_free(o);
	old = approver_public_of(a, name, sizeof(name));
	assert_non_null(old);
	assert_ptr_not_equal(old, cur);
	/* Signed by the old key, given a copy of its public area: verifies
	 * with the old key only. */
	memset(approved.buffer, 0xa5, 32);
	memset(ref, 0x3c, sizeof(ref));
	memcpy(msg, approved.buffer, 32);
	memcpy(msg + 32, ref, 32);
	assert_int_equal(wire_approval_digest(&approved, ref, sizeof(ref), &ahash), A11_OK);
	copy = *old;
	assert_int_equal(approver_sign_with(a, &copy, &ahash, &sig), A11_OK);
	assert_int_equal(wire_sig_verify(&old->publicArea, msg, sizeof(msg), &sig), A11_OK);
	assert_int_equal(wire_sig_verify(&cur->publicArea, msg, sizeof(msg), &sig),
			 A11_ERR_SIGNATURE);
	name[5] ^= 1;
	assert_null(approver_public_of(a, name, sizeof(name)));
	assert_null(approver_public_of(a, name, 12));
	approver_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_public_area, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signs_the_approval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
