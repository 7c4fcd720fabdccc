/* The simulated host (src/simhost) on its own, against src/wire's side of
 * each exchange: it activates what wire_make_credential sealed, its quotes
 * and certifications pass wire's verifiers, and it unwraps what
 * wire_dup_key / wire_dup_sealed built, for every EK kind. */
#include <stdlib.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "../../src/wire/attest.h"
#include "../../src/wire/key.h"
#include "../../src/wire/wrap.h"
#include "simhost_fixture.h"
#include "tmpdir_fixture.h"

static const enum simhost_ek eks[] = { SIMHOST_EK_RSA2048, SIMHOST_EK_P256, SIMHOST_EK_P384 };
#define N_EKS (sizeof(eks) / sizeof(eks[0]))

struct fx {
	struct keycert ca;
	struct simhost *h[N_EKS];
	TPM2B_DATA nonce;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	keycert_ca(&f->ca, "simhost test EK CA");
	for (size_t i = 0; i < N_EKS; i++)
		f->h[i] = host_new(eks[i], &f->ca);
	f->nonce.size = 32;
	assert_int_equal(RAND_bytes(f->nonce.buffer, 32), 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < N_EKS; i++)
		simhost_free(f->h[i]);
	keycert_free(&f->ca);
	free(f);
	return 0;
}

/* The AK's QN under the endorsement hierarchy, computed here. */
static void ak_qn(const struct simhost *h, TPM2B_NAME *qn)
{
	TPM2B_NAME name, eh;

	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &eh);
	assert_int_equal(wire_name(&simhost_ak(h)->publicArea, &name), A11_OK);
	assert_int_equal(wire_qualified_name(&eh, &name, qn), A11_OK);
}

static void test_ek_cert(void **state)
{
	struct fx *f = *state;
	struct tmpdir d;
	char path[PATH_MAX];
	size_t len;

	tmpdir_make(&d);
	tmpdir_file(&d, "ekca.pem", path);
	cert_write(f->ca.cert, path);
	for (size_t i = 0; i < N_EKS; i++) {
		const uint8_t *der = simhost_ek_cert(f->h[i], &len);

		assert_int_equal(wire_ekcert_verify(der, len, path,
						    &simhost_public(f->h[i], SIMHOST_EK)->publicArea),
				 A11_OK);
		/* ... and names no other EK. */
		assert_int_equal(wire_ekcert_verify(der, len, path,
				&simhost_public(f->h[(i + 1) % N_EKS], SIMHOST_EK)->publicArea),
				 A11_ERR_EKCERT_KEY);
	}
	tmpdir_remove(&d);
}

static void test_activate(void **state)
{
	struct fx *f = *state;
	TPM2B_DIGEST secret = { .size = 32 }, got;
	TPM2B_ID_OBJECT cred;
	TPM2B_ENCRYPTED_SECRET enc;
	TPM2B_NAME name, other;

	assert_int_equal(RAND_bytes(secret.buffer, 32), 1);
	for (size_t i = 0; i < N_EKS; i++) {
		const TPMT_PUBLIC *ek = &simhost_public(f->h[i], SIMHOST_EK)->publicArea;

		assert_int_equal(wire_name(&simhost_ak(f->h[i])->publicArea, &name), A11_OK);
		assert_int_equal(wire_make_credential(ek, &name, &secret, &cred, &enc), A11_OK);
		assert_int_equal(simhost_activate(f->h[i], &cred, &enc, &got), A11_OK);
		assert_int_equal(got.size, 32);
		assert_memory_equal(got.buffer, secret.buffer, 32);
		/* Sealed for another AK: the integrity HMAC fails. */
		assert_int_equal(wire_name(&simhost_ak(f->h[(i + 1) % N_EKS])->publicArea, &other),
				 A11_OK);
		assert_int_equal(wire_make_credential(ek, &other, &secret, &cred, &enc), A11_OK);
		assert_int_equal(simhost_activate(f->h[i], &cred, &enc, &got), A11_ERR_TPM_INTEGRITY);
		/* Sealed to another EK: the seed does not decrypt to the right keys. */
		assert_int_equal(wire_make_credential(
			&simhost_public(f->h[(i + 1) % N_EKS], SIMHOST_EK)->publicArea, &name,
			&secret, &cred, &enc), A11_OK);
		assert_int_not_equal(simhost_activate(f->h[i], &cred, &enc, &got), A11_OK);
	}
}

static void test_quote(void **state)
{
	struct fx *f = *state;
	struct simhost *h = f->h[1];
	TPML_PCR_SELECTION sel = { .count = 1 };
	struct a11_pcr_values v;
	struct proto_attest q;
	TPMS_ATTEST out;
	TPM2B_NAME qn;
	uint8_t val[32];
	struct wire_quote_expect x = { &f->nonce, &sel, &v, &qn };

	memset(val, 0x42, sizeof(val));
	assert_int_equal(simhost_pcr_set(h, 0, val), A11_OK);
	assert_int_equal(simhost_pcr_extend(h, 7, val), A11_OK);
	sel.pcrSelections[0] = (TPMS_PCR_SELECTION){ TPM2_ALG_SHA256, 3, { 0x81, 0, 0 } };
	simhost_clock(h)->clock = 77777;
	ak_qn(h, &qn);
	assert_int_equal(simhost_quote(h, &f->nonce, &sel, &q, &v), A11_OK);
	assert_int_equal(v.count, 2);
	assert_memory_equal(v.v[0].buffer, val, 32);
	assert_int_equal(wire_quote_verify(&simhost_ak(h)->publicArea, q.data, q.len, &q.sig, &x,
					   &out), A11_OK);
	assert_int_equal(out.clockInfo.clock, 77777);
	/* A bank the host did not allocate comes back empty. */
	sel.pcrSelections[0].hash = TPM2_ALG_SHA1;
	assert_int_equal(simhost_quote(h, &f->nonce, &sel, &q, &v), A11_OK);
	assert_int_equal(v.count, 0);
	assert_int_equal(wire_quote_verify(&simhost_ak(h)->publicArea, q.data, q.len, &q.sig, &x,
					   NULL), A11_ERR_PCR_SELECTION);
	assert_int_equal(simhost_pcr_set(h, 24, val), A11_ERR_ARG);
}

static void test_certify(void **state)
{
	struct fx *f = *state;
	struct simhost *h = f->h[2];
	const TPMT_PUBLIC *ak = &simhost_ak(h)->publicArea;
	struct proto_attest a;
	TPM2B_DIGEST pd = { .size = 32 };
	TPM2B_NAME qn;

	ak_qn(h, &qn);
	assert_int_equal(simhost_certify(h, SIMHOST_SRK, &f->nonce, &a), A11_OK);
	assert_int_equal(wire_certify_verify(ak, a.data, a.len, &a.sig, &f->nonce, &qn,
			 &simhost_public(h, SIMHOST_SRK)->publicArea, NULL), A11_OK);
	/* No born key yet, then one under a policy. */
	assert_int_equal(simhost_certify(h, SIMHOST_BORN, &f->nonce, &a), A11_ERR_ARG);
	memset(pd.buffer, 0x5a, 32);
	assert_int_equal(simhost_born_key(h, &pd), A11_OK);
	assert_false(simhost_public(h, SIMHOST_BORN)->publicArea.objectAttributes &
		     TPMA_OBJECT_USERWITHAUTH);
	assert_int_equal(simhost_certify(h, SIMHOST_BORN, &f->nonce, &a), A11_OK);
	assert_int_equal(wire_certify_verify(ak, a.data, a.len, &a.sig, &f->nonce, &qn,
			 &simhost_public(h, SIMHOST_BORN)->publicArea, NULL), A11_OK);
	assert_int_equal(wire_certify_verify(ak, a.data, a.len, &a.sig, &f->nonce, &qn,
			 &simhost_public(h, SIMHOST_SRK)->publicArea, NULL), A11_ERR_NAME);
}

/* wire_dup_key's blob for key under parent opens to a matching key. */
static void dup_roundtrip(struct simhost *h, enum simhost_obj parent, EVP_PKEY *key,
			  EVP_PKEY *other)
{
	const struct wire_dup_opts o = { .name_alg = TPM2_ALG_SHA256 };
	struct wire_dup d, d2;
	TPM2B_SENSITIVE s, s2;

	assert_int_equal(wire_dup_key(key, &simhost_public(h, parent)->publicArea, &o, &d), A11_OK);
	assert_int_equal(simhost_unwrap(h, parent, &d.pub, &d.duplicate, &d.seed, &s), A11_OK);
	assert_int_equal(simhost_sensitive_matches(&d.pub.publicArea, &s.sensitiveArea), A11_OK);
	/* Another key's sensitive area does not match this public area. */
	assert_int_equal(wire_dup_key(other, &simhost_public(h, parent)->publicArea, &o, &d2),
			 A11_OK);
	assert_int_equal(simhost_unwrap(h, parent, &d2.pub, &d2.duplicate, &d2.seed, &s2), A11_OK);
	assert_int_equal(simhost_sensitive_matches(&d.pub.publicArea, &s2.sensitiveArea),
			 A11_ERR_NAME);
	/* A flipped byte, or another object's Name, fails the outer HMAC. */
	assert_int_equal(simhost_unwrap(h, parent, &d2.pub, &d.duplicate, &d.seed, &s),
			 A11_ERR_TPM_INTEGRITY);
	d.duplicate.buffer[d.duplicate.size - 1] ^= 1;
	assert_int_equal(simhost_unwrap(h, parent, &d.pub, &d.duplicate, &d.seed, &s),
			 A11_ERR_TPM_INTEGRITY);
	wire_dup_clear(&d);
	wire_dup_clear(&d2);
}

static void test_unwrap_keys(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *ec = t_keygen("p256"), *ec2 = t_keygen("p384"), *rsa = t_keygen("rsa2048");

	for (size_t i = 0; i < N_EKS; i++) {
		dup_roundtrip(f->h[i], SIMHOST_EK, ec, rsa);
		dup_roundtrip(f->h[i], SIMHOST_EK, rsa, ec2);
	}
	dup_roundtrip(f->h[0], SIMHOST_SRK, ec2, ec);
	dup_roundtrip(f->h[0], SIMHOST_SRK, rsa, ec);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec2);
	EVP_PKEY_free(rsa);
}

static void test_unwrap_sealed(void **state)
{
	struct fx *f = *state;
	struct simhost *h = f->h[1];
	const struct wire_dup_opts o = { .name_alg = TPM2_ALG_SHA256 };
	uint8_t data[32];
	struct wire_dup d;
	TPM2B_SENSITIVE s;

	memset(data, 0x33, sizeof(data));
	assert_int_equal(wire_dup_sealed(data, sizeof(data), &simhost_public(h, SIMHOST_SRK)->publicArea,
					 &o, &d), A11_OK);
	assert_int_equal(simhost_unwrap(h, SIMHOST_SRK, &d.pub, &d.duplicate, &d.seed, &s), A11_OK);
	assert_int_equal(simhost_sensitive_matches(&d.pub.publicArea, &s.sensitiveArea), A11_OK);
	assert_memory_equal(s.sensitiveArea.sensitive.bits.buffer, data, sizeof(data));
	/* Wrapped to the SRK: the EK cannot open it. */
	assert_int_not_equal(simhost_unwrap(h, SIMHOST_EK, &d.pub, &d.duplicate, &d.seed, &s), A11_OK);
	s.sensitiveArea.sensitive.bits.size = 0;
	assert_int_equal(simhost_sensitive_matches(&d.pub.publicArea, &s.sensitiveArea), A11_ERR_NAME);
	wire_dup_clear(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ek_cert),
		cmocka_unit_test(test_activate),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_certify),
		cmocka_unit_test(test_unwrap_keys),
		cmocka_unit_test(test_unwrap_sealed),
	};

	/* tss2-mu logs every rejected structure; the rejections are the point. */
	setenv("TSS2_LOG", "all+none", 0);
	setenv("ATTEST11_LOG", "error", 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
