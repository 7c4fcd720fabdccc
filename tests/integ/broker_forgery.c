/* Forged and malformed protocol messages against a running broker
 * (started by tests/integ/broker.sh; BROKER_URL, BROKER_CA, A11_TCTI).
 * Each test runs the real exchange with the TPM, then breaks one thing
 * and checks the broker's refusal code. */
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "forge_fixture.h"

static void test_good_then_replayed(void **state)
{
	struct fx f;
	char code[32];

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	assert_int_equal(send_evidence(&f, code), 200);
	expect(&f, 403, "nonce_reused");
}

static void test_wrong_activation_proof(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	f.ev.activated.buffer[0] ^= 1;
	expect(&f, 403, "ak_not_activated");
}

static void test_quote_over_wrong_nonce(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	f.cresp.nonce.buffer[0] ^= 1; /* the attester quotes something else */
	evidence(&f);
	expect(&f, 403, "quote_invalid");
}

static void test_quote_signature_tampered(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	f.ev.quote.sig.signature.ecdsa.signatureR.buffer[4] ^= 1;
	expect(&f, 403, "quote_invalid");
}

static void test_pcr_value_tampered(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	f.ev.pcrs.v[3].buffer[0] ^= 1;
	expect(&f, 403, "pcr_digest");
}

static void test_pcr_selection_differs(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	f.cresp.pcr_selection.pcrSelections[0].pcrSelect[0] = 0x7f; /* one PCR fewer */
	evidence(&f);
	expect(&f, 403, "pcr_selection");
}

static void test_unknown_session(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	memset(f.ev.session, 'a', PROTO_SESSION_LEN);
	expect(&f, 403, "session_unknown");
}

static void test_expired_session(void **state)
{
	struct fx f;

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	sleep(6); /* the test broker's nonce_ttl is 5 s */
	expect(&f, 403, "nonce_expired");
}

static void test_ak_not_a_restricted_key(void **state)
{
	struct fx f;
	struct tpm_key srk;
	char code[32], *req;

	(void)state;
	challenge(&f, "web");
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_RSA, &srk), A11_OK);
	f.creq.ak = srk.pub; /* a decryption key posing as an AK */
	req = challenge_req_encode(&f.creq);
	assert_int_equal(post("/v1/challenge", req, strlen(req), code, NULL), 400);
	assert_string_equal(code, "ak_invalid");
	free(req);
	tpm_key_release(tpm, &srk);
	done(&f);
}

static void test_parent_certify_of_other_object(void **state)
{
	struct fx f;
	struct tpm_key srk, other;
	TPM2B_DATA nonce;
	TPM2B_ATTEST att;

	(void)state;
	challenge(&f, "web");
	evidence(&f);
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_RSA, &srk), A11_OK);
	assert_int_equal(tpm_srk_load(tpm, TPM2_ALG_ECC, &other), A11_OK);
	nonce.size = f.cresp.nonce.size;
	memcpy(nonce.buffer, f.cresp.nonce.buffer, nonce.size);
	assert_int_equal(tpm_certify(tpm, &f.ak, &other, &nonce, &att, &f.ev.parent_certify.sig),
			 A11_OK);
	memcpy(f.ev.parent_certify.data, att.attestationData, att.size);
	f.ev.parent_certify.len = att.size;
	f.ev.parent = srk.pub; /* certified: the ECC SRK; presented: the RSA one */
	f.ev.has_parent = true;
	tpm_key_release(tpm, &other);
	tpm_key_release(tpm, &srk);
	expect(&f, 403, "parent_invalid");
}

/* The repository key's private scalar appears nowhere in the release:
 * not in any decoded field, not as hex or base64 in the JSON text. */
static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; n >= m && i <= n - m; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

static void test_release_carries_no_private_key(void **state)
{
	FILE *fp = fopen(t_env("WEB_KEY"), "r");
	EVP_PKEY *k = fp ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;
	BIGNUM *d = NULL;
	uint8_t priv[32], half[16];
	char hex[65], code[32], *json = malloc(65536), *req, *b64;
	struct fx f;
	struct release rel;

	(void)state;
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_bn_param(k, "priv", &d), 1);
	assert_int_equal(BN_bn2binpad(d, priv, 32), 32);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", priv[i]);
	challenge(&f, "web");
	evidence(&f);
	req = evidence_req_encode(&f.ev);
	assert_int_equal(post("/v1/evidence", req, strlen(req), code, json), 200);
	assert_int_equal(release_decode(json, strlen(json), &rel), A11_OK);
	assert_true(rel.has_key && rel.duplicate.size > 0);
	/* Any 16 bytes of the scalar would be a leak, in clear or encoded. */
	memcpy(half, priv + 8, sizeof(half));
	assert_false(contains(rel.duplicate.buffer, rel.duplicate.size, half, sizeof(half)));
	assert_false(contains(rel.seed.secret, rel.seed.size, half, sizeof(half)));
	assert_false(contains((uint8_t *)&rel.pub, sizeof(rel.pub), half, sizeof(half)));
	for (size_t i = 0; i < rel.cert_count; i++)
		assert_false(contains(rel.certs[i], rel.cert_len[i], half, sizeof(half)));
	assert_null(strstr(json, hex));
	hex[32] = '\0';
	assert_null(strstr(json, hex + 8));
	for (int shift = 0; shift < 3; shift++) {
		b64 = malloc(64);
		EVP_EncodeBlock((uint8_t *)b64, priv + shift, 27);
		b64[20] = '\0'; /* 15 bytes' worth, aligned to this shift */
		assert_null(strstr(json, b64));
		free(b64);
	}
	release_clear(&rel);
	BN_free(d);
	EVP_PKEY_free(k);
	fclose(fp);
	free(req);
	free(json);
	done(&f);
}

static void malformed(const char *path, const char *body, long status, const char *code)
{
	char got[32];

	assert_int_equal(post(path, body, strlen(body), got, NULL), status);
	assert_string_equal(got, code);
}

static void test_malformed_requests(void **state)
{
	struct fx f;
	char *good, *p;

	(void)state;
	malformed("/v1/challenge", "{not json", 400, "bad_request");
	malformed("/v1/challenge", "[1,2,3]", 400, "bad_request");
	malformed("/v1/challenge", "{\"credential\": \"web\"}", 400, "bad_request");
	malformed("/v1/evidence", "{\"session\": 5}", 400, "bad_request");
	challenge(&f, "web");
	good = challenge_req_encode(&f.creq);
	/* bad base64 in ek_public */
	p = strstr(good, "\"ek_public\":\"") + 13;
	p[5] = '*';
	malformed("/v1/challenge", good, 400, "bad_request");
	free(good);
	/* truncated TPM structure: drop the last 8 base64 characters of ak_public */
	good = challenge_req_encode(&f.creq);
	p = strstr(good, "\"ak_public\":\"") + 13;
	memmove(strchr(p, '"') - 8, strchr(p, '"'), strlen(strchr(p, '"')) + 1);
	malformed("/v1/challenge", good, 400, "bad_request");
	free(good);
	/* an EK certificate over the 4 KiB limit */
	f.creq.ek_cert_len = 4096;
	good = challenge_req_encode(&f.creq);
	p = strstr(good, "\"ek_cert\":\"") + 11;
	{
		size_t n = strlen(good);
		char *big = malloc(n + 16);
		size_t head = (size_t)(p - good);
		memcpy(big, good, head);
		memcpy(big + head, "AAAA", 4);
		memcpy(big + head + 4, p, n - head + 1);
		malformed("/v1/challenge", big, 400, "bad_request");
		free(big);
	}
	free(good);
	done(&f);
}

/* A body over the limit is refused from its Content-Length. The client
 * asks before sending (Expect: 100-continue) so the answer cannot race
 * with the upload: the broker must say 413, not merely drop the line. */
static size_t keep(char *p, size_t size, size_t n, void *arg)
{
	struct client_response *r = arg;
	size_t len = size * n;
	char *b = realloc(r->body, r->len + len + 1);

	if (b == NULL)
		return 0;
	memcpy(b + r->len, p, len);
	r->len += len;
	b[r->len] = '\0';
	r->body = b;
	return len;
}

static void test_huge_body(void **state)
{
	size_t n = 200 * 1024;
	char *body = malloc(n + 1), url[512], code[32], detail[256];
	struct client_response r = { 0 };
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = curl_easy_init();

	(void)state;
	hdr = curl_slist_append(hdr, "Expect: 100-continue");
	memset(body, ' ', n);
	body[0] = '{';
	body[n - 1] = '}';
	body[n] = '\0';
	snprintf(url, sizeof(url), "%s/v1/challenge", t_env("BROKER_URL"));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, t_env("BROKER_CA"));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	assert_int_equal(r.status, 413);
	assert_int_equal(problem_decode(r.body, r.len, code, sizeof(code), detail, sizeof(detail)),
			 A11_OK);
	assert_string_equal(code, "payload_too_large");
	free(r.body);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_then_replayed),
		cmocka_unit_test(test_release_carries_no_private_key),
		cmocka_unit_test(test_wrong_activation_proof),
		cmocka_unit_test(test_quote_over_wrong_nonce),
		cmocka_unit_test(test_quote_signature_tampered),
		cmocka_unit_test(test_pcr_value_tampered),
		cmocka_unit_test(test_pcr_selection_differs),
		cmocka_unit_test(test_unknown_session),
		cmocka_unit_test(test_expired_session),
		cmocka_unit_test(test_ak_not_a_restricted_key),
		cmocka_unit_test(test_parent_certify_of_other_object),
		cmocka_unit_test(test_malformed_requests),
		cmocka_unit_test(test_huge_body),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
