/* Protocol v1 decoders (src/proto) refuse what docs/protocol.md says they
 * refuse, each case starting from a body they accept with one thing
 * changed: not JSON, not an object, duplicate keys, missing or mistyped
 * members, bad names and sessions, bad base64, TPM structures truncated or
 * with a trailing byte, every size limit, bodies over 64 KiB, half a
 * certification. Round trips and the mutation loop are in test_proto.c. */
#include <stdio.h>

#include "proto_decode.h"

/* ---- challenge request ---- */

static char *creq_base(void)
{
	struct challenge_req *m = malloc(sizeof(*m));
	char *s;

	assert_non_null(m);
	fx_creq(m, true);
	s = challenge_req_encode(m);
	assert_non_null(s);
	free(m);
	return s;
}

static void test_creq_rejects(void **state)
{
	static const char *const required[] = { "credential", "ek_cert", "ek_public", "ak_public" };
	char *base = creq_base();
	char name[PROTO_NAME_MAX + 2];

	(void)state;
	fx_generic_rejects(M_CREQ, base, "credential");
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		assert_int_equal(fx_try_del(M_CREQ, base, required[i]), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_CREQ, base, required[i], "1"), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_CREQ, base, required[i], "true"), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_CREQ, base, required[i], "null"), A11_ERR_PARSE);
	}
	assert_int_equal(fx_try_del(M_CREQ, base, "lease"), A11_OK);
	/* Credential names: 1..128 of A-Za-z0-9._- */
	memset(name, 'a', sizeof(name));
	name[PROTO_NAME_MAX] = '\0';
	assert_int_equal(fx_try_set(M_CREQ, base, "credential", json_string(name)), A11_OK);
	name[PROTO_NAME_MAX] = 'a';
	name[PROTO_NAME_MAX + 1] = '\0';
	assert_int_equal(fx_try_set(M_CREQ, base, "credential", json_string(name)), A11_ERR_PARSE);
	assert_int_equal(fx_try_set(M_CREQ, base, "credential",
				    json_string("AZaz09._-")), A11_OK);
	{
		static const char *const bad[] = { "", "a b", "a/b", "../x", "a:b", "a\tb",
			"caf\xc3\xa9", "a\"b", "a\\b", "a%2f", "a+b", "*" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (fx_try_set(M_CREQ, base, "credential", json_string(bad[i])) != A11_ERR_PARSE)
				fail_msg("credential \"%s\" was accepted", bad[i]);
	}
	assert_int_equal(fx_try_json(M_CREQ, base, "credential", "\"a\\u0000b\""), A11_ERR_PARSE);
	/* Lease ids are exactly 32 lowercase hex (test_release_hostile.c has more). */
	assert_int_equal(fx_try_set(M_CREQ, base, "lease", json_string("ABCD")), A11_ERR_PARSE);
	assert_int_equal(fx_try_set(M_CREQ, base, "lease", json_string("")), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CREQ, base, "lease", "7"), A11_ERR_PARSE);
	memset(name, 'f', sizeof(name));
	name[PROTO_LEASE_LEN] = '\0';
	assert_int_equal(fx_try_set(M_CREQ, base, "lease", json_string(name)), A11_OK);
	name[PROTO_LEASE_LEN] = 'f';
	name[PROTO_LEASE_LEN + 1] = '\0';
	assert_int_equal(fx_try_set(M_CREQ, base, "lease", json_string(name)), A11_ERR_PARSE);
	name[PROTO_LEASE_LEN - 1] = '\0';
	assert_int_equal(fx_try_set(M_CREQ, base, "lease", json_string(name)), A11_ERR_PARSE);
	/* ek_cert: 1..4096 bytes. */
	assert_int_equal(fx_try_len(M_CREQ, base, "ek_cert", PROTO_EK_CERT_MAX, 0x30), A11_OK);
	assert_int_equal(fx_try_len(M_CREQ, base, "ek_cert", PROTO_EK_CERT_MAX + 1, 0x30),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_CREQ, base, "ek_cert", 1, 0x30), A11_OK);
	assert_int_equal(fx_try_len(M_CREQ, base, "ek_cert", 0, 0x30), A11_ERR_PARSE);
	fx_bad_b64(M_CREQ, base, "ek_cert");
	fx_bad_b64(M_CREQ, base, "ek_public");
	fx_tpm_exact(M_CREQ, base, "ek_public");
	fx_tpm_exact(M_CREQ, base, "ak_public");
	free(base);
}

/* ---- challenge response ---- */

static void test_cresp_rejects(void **state)
{
	static const char *const required[] = { "session", "nonce", "expires", "pcr_selection",
		"credential_blob", "encrypted_secret", "kind", "bind_pcrs", "lease_anchor",
		"lease_anchor.approver", "lease_anchor.policy_ref" };
	struct challenge_resp m;
	char *base;

	(void)state;
	fx_cresp(&m, true);
	base = challenge_resp_encode(&m);
	assert_non_null(base);
	fx_generic_rejects(M_CRESP, base, "session");
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		assert_int_equal(fx_try_del(M_CRESP, base, required[i]), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_CRESP, base, required[i], "[]"), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_CRESP, base, required[i], "null"), A11_ERR_PARSE);
	}
	assert_int_equal(fx_try_del(M_CRESP, base, "key_auth"), A11_OK);
	/* Session: exactly 32 lowercase hex. */
	assert_int_equal(fx_try_set(M_CRESP, base, "session",
				    json_string("8c1f0123456789abcdef0123456789a")), A11_ERR_PARSE);
	assert_int_equal(fx_try_set(M_CRESP, base, "session",
				    json_string("8c1f0123456789abcdef0123456789abc")), A11_ERR_PARSE);
	assert_int_equal(fx_try_set(M_CRESP, base, "session",
				    json_string("8C1F0123456789ABCDEF0123456789AB")), A11_ERR_PARSE);
	assert_int_equal(fx_try_set(M_CRESP, base, "session",
				    json_string("8c1g0123456789abcdef0123456789ab")), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "session", "1234"), A11_ERR_PARSE);
	/* Wrong types. */
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", "\"1795400000\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", "1.5"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", "-1"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "expires", "0"), A11_OK);
	assert_int_equal(fx_try_json(M_CRESP, base, "bind_pcrs", "\"true\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "bind_pcrs", "1"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "kind", "\"hsm\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "kind", "\"Token\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "kind", "2"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "kind", "\"tokentokentokentoken\""),
			 A11_ERR_PARSE);
	/* Nonce: 16 bytes at least, a TPM2B_DATA at most. */
	assert_int_equal(fx_try_len(M_CRESP, base, "nonce", 15, 1), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_CRESP, base, "nonce", 16, 1), A11_OK);
	assert_int_equal(fx_try_len(M_CRESP, base, "nonce", sizeof(m.nonce.buffer), 1), A11_OK);
	assert_int_equal(fx_try_len(M_CRESP, base, "nonce", sizeof(m.nonce.buffer) + 1, 1),
			 A11_ERR_PARSE);
	fx_bad_b64(M_CRESP, base, "nonce");
	/* key_auth: an object, a 16-byte salt, 1..10^7 iterations. */
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth", "[]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth", "true"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth", "{}"), A11_ERR_PARSE);
	assert_int_equal(fx_try_del(M_CRESP, base, "key_auth.salt"), A11_ERR_PARSE);
	assert_int_equal(fx_try_del(M_CRESP, base, "key_auth.iterations"), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_CRESP, base, "key_auth.salt", 15, 2), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_CRESP, base, "key_auth.salt", 17, 2), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_CRESP, base, "key_auth.salt", 0, 2), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_CRESP, base, "key_auth.salt", 16, 2), A11_OK);
	fx_bad_b64(M_CRESP, base, "key_auth.salt");
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "0"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "-10000"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "10000001"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "4294977296"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "\"10000\""),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "1e4"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "1"), A11_OK);
	assert_int_equal(fx_try_json(M_CRESP, base, "key_auth.iterations", "10000000"), A11_OK);
	/* TPM structures, exactly. */
	fx_tpm_exact(M_CRESP, base, "pcr_selection");
	fx_tpm_exact(M_CRESP, base, "credential_blob");
	fx_tpm_exact(M_CRESP, base, "encrypted_secret");
	fx_bad_b64(M_CRESP, base, "credential_blob");
	{
		/* A TPM2B whose size claims more than the buffer holds. */
		uint8_t big[4 + sizeof(TPM2B_ID_OBJECT)] = { 0xff, 0xff };
		char *s = fx_with_bytes(base, "credential_blob", big, sizeof(big));

		assert_int_equal(fx_decode(M_CRESP, s), A11_ERR_PARSE);
		free(s);
	}
	free(base);
}

/* ---- release ---- */

static void test_rel_rejects(void **state)
{
	static const char *const required[] = { "kind", "policy", "policy.auth_value", "lease",
		"lease.id", "lease.expires", "lease.approved", "approval", "approval.anchor",
		"approval.clock_end",
		"approval.reset_count", "approval.approved_policy", "approval.signature",
		"attestation_result" };
	static const char *const key_parts[] = { "key.public", "key.duplicate", "key.seed" };
	struct release m;
	char *base, *s;
	json_t *a;

	(void)state;
	fx_rel(&m, 2, true);
	base = release_encode(&m);
	assert_non_null(base);
	fx_generic_rejects(M_REL, base, "kind");
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		assert_int_equal(fx_try_del(M_REL, base, required[i]), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_REL, base, required[i], "[1]"), A11_ERR_PARSE);
	}
	for (size_t i = 0; i < sizeof(key_parts) / sizeof(key_parts[0]); i++) {
		assert_int_equal(fx_try_del(M_REL, base, key_parts[i]), A11_ERR_PARSE);
		fx_tpm_exact(M_REL, base, key_parts[i]);
	}
	fx_tpm_exact(M_REL, base, "policy.pcr_selection");
	assert_int_equal(fx_try_del(M_REL, base, "policy.pcr_selection"), A11_OK);
	assert_int_equal(fx_try_del(M_REL, base, "key"), A11_OK);
	assert_int_equal(fx_try_del(M_REL, base, "certificates"), A11_OK);
	assert_int_equal(fx_try_del(M_REL, base, "token"), A11_OK);
	assert_int_equal(fx_try_json(M_REL, base, "key", "\"k\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "kind", "\"other\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "policy.auth_value", "0"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "lease.expires", "-5"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "lease.expires", "\"5\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "attestation_result", "7"), A11_ERR_PARSE);
	/* Token: an object with base64 ciphertext. */
	assert_int_equal(fx_try_json(M_REL, base, "token", "{}"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "token", "\"ct\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_REL, base, "token.ciphertext", 0, 1), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_REL, base, "token.ciphertext", PROTO_TOKEN_MAX + 28, 1),
			 A11_OK);
	assert_int_equal(fx_try_len(M_REL, base, "token.ciphertext", PROTO_TOKEN_MAX + 29, 1),
			 A11_ERR_PARSE);
	fx_bad_b64(M_REL, base, "token.ciphertext");
	/* Certificates: at most 8, each 1..8192 bytes of base64. */
	assert_int_equal(fx_try_json(M_REL, base, "certificates", "\"AAAA\""), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "certificates", "[\"AAAA\",\"\"]"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "certificates", "[\"AAAA\",3]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "certificates", "[\"AAAA\",\"AA=A\"]"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_REL, base, "certificates", "[]"), A11_OK);
	a = json_array();
	for (int i = 0; i < PROTO_MAX_CERTS; i++)
		json_array_append_new(a, json_string("MIIB"));
	assert_int_equal(fx_try_set(M_REL, base, "certificates", json_copy(a)), A11_OK);
	json_array_append_new(a, json_string("MIIB"));
	assert_int_equal(fx_try_set(M_REL, base, "certificates", a), A11_ERR_PARSE);
	{
		uint8_t *big = fx_blob(PROTO_CERT_MAX + 1, 3);

		for (size_t n = PROTO_CERT_MAX; n <= PROTO_CERT_MAX + 1; n++) {
			char *b64 = fx_b64(big, n);

			s = malloc(strlen(b64) + 8);
			assert_non_null(s);
			sprintf(s, "[\"%s\"]", b64);
			assert_int_equal(fx_try_json(M_REL, base, "certificates", s),
					 n == PROTO_CERT_MAX ? A11_OK : A11_ERR_PARSE);
			free(s);
			free(b64);
		}
		free(big);
	}
	/* The EAR is at most 16 KiB. */
	s = malloc(16386);
	assert_non_null(s);
	memset(s, 'e', 16385);
	s[16385] = '\0';
	assert_int_equal(fx_try_set(M_REL, base, "attestation_result", json_string(s)),
			 A11_ERR_PARSE);
	s[16384] = '\0';
	assert_int_equal(fx_try_set(M_REL, base, "attestation_result", json_string(s)), A11_OK);
	free(s);
	free(base);
	release_clear(&m);
}

/* ---- evidence ---- */

/* The PIN's proof is its 32-byte authValue, base64; absent is no PIN. A
 * refused request leaves nothing of it behind. */
static void test_evid_pin(void **state)
{
	struct evidence_req *m = malloc(sizeof(*m));
	char *base = fx_evid_base(false, false, true), *s;

	(void)state;
	assert_non_null(m);
	assert_int_equal(evidence_req_decode(base, strlen(base), m), A11_OK);
	assert_true(m->has_pin);
	assert_int_equal(m->pin_auth.size, WIRE_PIN_AUTH_LEN);
	s = fx_edit(base, "pin_auth", NULL, true);
	assert_int_equal(evidence_req_decode(s, strlen(s), m), A11_OK);
	assert_false(m->has_pin);
	assert_int_equal(m->pin_auth.size, 0);
	free(s);
	/* 31 and 34 bytes are not a proof; nor is a bare PIN. */
	assert_int_equal(fx_try_set(M_EVID, base, "pin_auth",
				    json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")), A11_ERR_PARSE);
	s = fx_edit(base, "pin_auth",
		    json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), false);
	assert_int_equal(evidence_req_decode(s, strlen(s), m), A11_ERR_PARSE);
	assert_false(m->has_pin);
	for (size_t i = 0; i < sizeof(m->pin_auth); i++)
		assert_int_equal(((uint8_t *)&m->pin_auth)[i], 0);
	free(s);
	assert_int_equal(fx_try_set(M_EVID, base, "pin_auth", json_string("")), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pin_auth", "1234"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pin_auth", "null"), A11_ERR_PARSE);
	fx_bad_b64(M_EVID, base, "pin_auth");
	free(base);
	free(m);
}

static void test_evid_rejects(void **state)
{
	static const char *const required[] = { "session", "activated", "quote",
		"quote_signature", "pcr_values" };
	static const char *const sessions[] = { "", "00112233445566778899aabbccddeef",
		"00112233445566778899aabbccddeeff0", "00112233445566778899AABBCCDDEEFF",
		"00112233445566778899aabbccddeefg", "00112233-45566778899aabbccddeeff" };
	char *base = fx_evid_base(true, true, true);

	(void)state;
	fx_generic_rejects(M_EVID, base, "session");
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		assert_int_equal(fx_try_del(M_EVID, base, required[i]), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_EVID, base, required[i], "0"), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_EVID, base, required[i], "{}"), A11_ERR_PARSE);
	}
	for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
		if (fx_try_set(M_EVID, base, "session", json_string(sessions[i])) != A11_ERR_PARSE)
			fail_msg("session \"%s\" was accepted", sessions[i]);
	/* activated: 1..64 bytes. */
	assert_int_equal(fx_try_len(M_EVID, base, "activated", 64, 1), A11_OK);
	assert_int_equal(fx_try_len(M_EVID, base, "activated", 65, 1), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_EVID, base, "activated", 1, 1), A11_OK);
	assert_int_equal(fx_try_len(M_EVID, base, "activated", 0, 1), A11_ERR_PARSE);
	fx_bad_b64(M_EVID, base, "activated");
	/* quote: 1..sizeof(TPMS_ATTEST) bytes, parsed later by the verifier. */
	assert_int_equal(fx_try_len(M_EVID, base, "quote", sizeof(TPMS_ATTEST), 1), A11_OK);
	assert_int_equal(fx_try_len(M_EVID, base, "quote", sizeof(TPMS_ATTEST) + 1, 1),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_EVID, base, "quote", 0, 1), A11_ERR_PARSE);
	assert_int_equal(fx_try_len(M_EVID, base, "key_certify", 0, 1), A11_ERR_PARSE);
	fx_bad_b64(M_EVID, base, "quote");
	fx_bad_b64(M_EVID, base, "quote_signature");
	/* TPM structures: exact. */
	fx_tpm_exact(M_EVID, base, "quote_signature");
	fx_tpm_exact(M_EVID, base, "parent_public");
	fx_tpm_exact(M_EVID, base, "parent_certify_signature");
	fx_tpm_exact(M_EVID, base, "key_public");
	fx_tpm_exact(M_EVID, base, "key_certify_signature");
	free(base);
}

static void test_evid_pcr_values(void **state)
{
	char *base = fx_evid_base(false, false, false);
	json_t *a = json_array();
	char d64[4 * 22 + 1], *s;
	uint8_t d[65];

	(void)state;
	memset(d, 0x5a, sizeof(d));
	EVP_EncodeBlock((unsigned char *)d64, d, 32);
	for (int i = 0; i < A11_PCR_MAX_VALUES; i++)
		json_array_append_new(a, json_string(d64));
	assert_int_equal(fx_try_set(M_EVID, base, "pcr_values", json_copy(a)), A11_OK);
	json_array_append_new(a, json_string(d64));
	assert_int_equal(fx_try_set(M_EVID, base, "pcr_values", a), A11_ERR_PARSE);
	/* An empty list is well formed (the verifier then refuses it). */
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[]"), A11_OK);
	/* Each entry: 1..64 bytes of base64. */
	EVP_EncodeBlock((unsigned char *)d64, d, 64);
	a = json_pack("[s]", d64);
	assert_int_equal(fx_try_set(M_EVID, base, "pcr_values", a), A11_OK);
	EVP_EncodeBlock((unsigned char *)d64, d, 65);
	a = json_pack("[s]", d64);
	assert_int_equal(fx_try_set(M_EVID, base, "pcr_values", a), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[\"\"]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[\"AAAA\",\"\"]"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[\"AAAA\",5]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[\"AAAA\",null]"),
			 A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[[\"AAAA\"]]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[\"AA=A\"]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "[\"AAA\"]"), A11_ERR_PARSE);
	assert_int_equal(fx_try_json(M_EVID, base, "pcr_values", "\"AAAA\""), A11_ERR_PARSE);
	s = fx_edit(base, "pcr_values", json_pack("{s:s}", "0", "AAAA"), false);
	assert_int_equal(fx_decode(M_EVID, s), A11_ERR_PARSE);
	free(s);
	free(base);
}

/* public + certification + signature: all three or none. */
static void test_evid_half_certification(void **state)
{
	static const char *const groups[2][3] = {
		{ "parent_public", "parent_certify", "parent_certify_signature" },
		{ "key_public", "key_certify", "key_certify_signature" },
	};
	char *base = fx_evid_base(true, true, false);

	(void)state;
	for (int g = 0; g < 2; g++) {
		for (int drop = 1; drop < 7; drop++) {
			char *s = strdup(base), *t;

			assert_non_null(s);
			for (int i = 0; i < 3; i++) {
				if (drop & (1 << i)) {
					t = fx_edit(s, groups[g][i], NULL, true);
					free(s);
					s = t;
				}
			}
			if (fx_decode(M_EVID, s) != A11_ERR_PARSE)
				fail_msg("%s group with mask %d dropped was accepted", groups[g][0], drop);
			free(s);
		}
		/* The whole group gone: fine, and reported absent. */
		{
			struct evidence_req *m = malloc(sizeof(*m));
			char *s = fx_edit(base, groups[g][0], NULL, true), *t;

			assert_non_null(m);
			t = fx_edit(s, groups[g][1], NULL, true);
			free(s);
			s = fx_edit(t, groups[g][2], NULL, true);
			free(t);
			assert_int_equal(evidence_req_decode(s, strlen(s), m), A11_OK);
			assert_int_equal(m->has_parent, g != 0);
			assert_int_equal(m->has_key, g != 1);
			free(s);
			free(m);
		}
		/* Malformed members of a group are not "absent". */
		assert_int_equal(fx_try_json(M_EVID, base, groups[g][0], "5"), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_EVID, base, groups[g][1], "5"), A11_ERR_PARSE);
		assert_int_equal(fx_try_json(M_EVID, base, groups[g][2], "5"), A11_ERR_PARSE);
	}
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creq_rejects),
		cmocka_unit_test(test_cresp_rejects),
		cmocka_unit_test(test_rel_rejects),
		cmocka_unit_test(test_evid_pin),
		cmocka_unit_test(test_evid_rejects),
		cmocka_unit_test(test_evid_pcr_values),
		cmocka_unit_test(test_evid_half_certification),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
