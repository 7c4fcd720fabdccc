/* Releases that must never happen, tried against the real broker and TPM
 * (started by tests/integ/soundness.sh; BROKER_URL, BROKER_CA, A11_TCTI,
 * BROKER_ADMIN: the admin command line, PIN: the ca-pin credential's PIN,
 * ALLOW_NONE: a policy file whose allow-list leaves this TPM out). */
#include "../../src/attester/released_key.h"
#include "../../src/wire/pin.h"
#include "../../src/wire/policy.h"
#include "forge_fixture.h"

/* A TPM-born key under the challenge's anchor (what a host makes for the
 * ca kind, or what an attacker with TPM access makes), certified by the
 * AK, as the evidence's key. */
static void born_key(struct fx *f, struct tpm_key *srk, const TPM2B_AUTH *auth,
		     struct tpm_key *key)
{
	const struct lease_anchor *an = &f->cresp.anchor;
	struct release shape = { .auth_value = auth != NULL };
	TPM2B_DATA nonce = { .size = f->cresp.nonce.size };
	struct tpm_policy pol;
	TPM2B_PRIVATE priv;
	TPM2B_DIGEST pd;
	TPM2B_ATTEST att;

	attester_key_policy(&shape, &pol);
	assert_int_equal(wire_key_policy(&an->approver.publicArea, an->policy_ref,
					 sizeof(an->policy_ref), &pd), A11_OK);
	assert_int_equal(tpm_key_create(tpm, srk, TPM2_ALG_ECC, auth, &pd, &pol, &priv, key),
			 A11_OK);
	memcpy(nonce.buffer, f->cresp.nonce.buffer, nonce.size);
	assert_int_equal(tpm_certify(tpm, &f->ak, key, &nonce, &att, &f->ev.key_certify.sig),
			 A11_OK);
	memcpy(f->ev.key_certify.data, att.attestationData, att.size);
	f->ev.key_certify.len = att.size;
	f->ev.key = key->pub;
	f->ev.has_key = true;
}

static void pin_proof(struct fx *f, const char *pin, TPM2B_AUTH *auth)
{
	assert_int_equal(wire_pin_auth(pin, strlen(pin), f->cresp.salt, sizeof(f->cresp.salt),
				       f->cresp.iterations, auth), A11_OK);
	f->ev.pin_auth = *auth;
	f->ev.has_pin = true;
}

/* Sends the evidence; on a release, its lease id goes to lease. */
static long send_for_lease(struct fx *f, char *code, char lease[PROTO_LEASE_MAX + 1])
{
	char *req = evidence_req_encode(&f->ev), *json = malloc(65536);
	struct release rel = { 0 };
	long st;

	assert_non_null(req);
	assert_non_null(json);
	st = post("/v1/evidence", req, strlen(req), code, json);
	if (st == 200) {
		assert_int_equal(release_decode(json, strlen(json), &rel), A11_OK);
		snprintf(lease, PROTO_LEASE_MAX + 1, "%s", rel.lease);
		release_clear(&rel);
	}
	free(req);
	free(json);
	return st;
}

/* A fresh ca release: key ends up holding the lease's key. */
static void fresh_ca(const char *cred, const char *pin, struct tpm_key *srk,
		     struct tpm_key *key, TPM2B_AUTH *auth, char lease[PROTO_LEASE_MAX + 1])
{
	struct fx f;
	char code[32];

	challenge(&f, cred);
	evidence(&f);
	if (pin != NULL)
		pin_proof(&f, pin, auth);
	born_key(&f, srk, pin ? auth : NULL, key);
	assert_int_equal(send_for_lease(&f, code, lease), 200);
	done(&f);
}

/* A renewal names its lease and presents key; returns the HTTP status. */
static long renew(const char *cred, const char *lease, struct tpm_key *key, char *code)
{
	TPM2B_DATA nonce;
	TPM2B_ATTEST att;
	char got[PROTO_LEASE_MAX + 1];
	struct fx f;
	long st;

	challenge_lease(&f, cred, lease);
	evidence(&f);
	nonce.size = f.cresp.nonce.size;
	memcpy(nonce.buffer, f.cresp.nonce.buffer, nonce.size);
	assert_int_equal(tpm_certify(tpm, &f.ak, key, &nonce, &att, &f.ev.key_certify.sig), A11_OK);
	memcpy(f.ev.key_certify.data, att.attestationData, att.size);
	f.ev.key_certify.len = att.size;
	f.ev.key = key->pub;
	f.ev.has_key = true;
	st = send_for_lease(&f, code, got);
	done(&f);
	return st;
}

/* Anyone on the host who knows a lease id can ask for its renewal; the
 * challenge then hands out the lease's policyRef, so a key with the right
 * authPolicy is easy to make. A renewal certifies the lease's own key and
 * no other. */
static void test_ca_renewal_certifies_only_its_key(void **state)
{
	struct tpm_key srk, k1, k2;
	char lease[PROTO_LEASE_MAX + 1], code[32];
	struct fx f;

	(void)state;
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_ECC, &srk), A11_OK);
	fresh_ca("mint", NULL, &srk, &k1, NULL, lease);
	assert_int_equal(renew("mint", lease, &k1, code), 200);
	challenge_lease(&f, "mint", lease);
	evidence(&f);
	born_key(&f, &srk, NULL, &k2);
	assert_int_equal(send_evidence(&f, code), 403);
	assert_string_equal(code, "key_invalid");
	done(&f);
	tpm_key_release(tpm, &k2);
	tpm_key_release(tpm, &k1);
	tpm_key_release(tpm, &srk);
}

/* Renewals need no PIN, but a PIN-locked credential renews nothing. */
static void test_locked_credential_renews_nothing(void **state)
{
	struct tpm_key srk, k1, k2;
	TPM2B_AUTH auth, wrong;
	char lease[PROTO_LEASE_MAX + 1], code[32];
	struct fx f;

	(void)state;
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_ECC, &srk), A11_OK);
	fresh_ca("ca-pin", t_env("PIN"), &srk, &k1, &auth, lease);
	assert_int_equal(renew("ca-pin", lease, &k1, code), 200);
	challenge(&f, "ca-pin");   /* one wrong PIN locks it (pin_max_failures 1) */
	evidence(&f);
	pin_proof(&f, "not the PIN", &wrong);
	born_key(&f, &srk, &wrong, &k2);
	expect(&f, 423, "pin_locked");
	tpm_key_release(tpm, &k2);
	assert_int_equal(renew("ca-pin", lease, &k1, code), 423);
	assert_string_equal(code, "pin_locked");
	tpm_key_release(tpm, &k1);
	tpm_key_release(tpm, &srk);
}

/* The policy in force when the release is decided applies to it: a TPM
 * struck off the allow-list after its challenge gets nothing. */
static void test_policy_tightened_after_challenge(void **state)
{
	char cmd[2048];
	struct fx f;

	(void)state;
	challenge(&f, "tight");
	snprintf(cmd, sizeof(cmd), "%s credential policy tight %s", t_env("BROKER_ADMIN"),
		 t_env("ALLOW_NONE"));
	assert_int_equal(system(cmd), 0);
	evidence(&f);
	expect(&f, 403, "ek_not_allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca_renewal_certifies_only_its_key),
		cmocka_unit_test(test_locked_credential_renews_nothing),
		cmocka_unit_test(test_policy_tightened_after_challenge),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
