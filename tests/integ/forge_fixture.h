/* A raw protocol client against a running broker (started by a script;
 * BROKER_URL, BROKER_CA, A11_TCTI) with the real TPM: the good exchange,
 * step by step, for tests that then break one thing. Header-only (static)
 * because each integration binary is its own program. */
#ifndef A11_TEST_FORGE_FIXTURE_H
#define A11_TEST_FORGE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/attester/client.h"
#include "../../src/proto/proto.h"
#include "../../src/tpm/tpm.h"
#include "../testlib.h"

static struct tpm *tpm;

struct fx {
	struct tpm_key ek, ak;
	struct challenge_req creq;
	struct challenge_resp cresp;
	struct evidence_req ev;
};

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

/* POST body; returns the HTTP status, the problem code in code. */
static long post(const char *path, const char *body, size_t len, char *code, char *resp_json)
{
	char detail[256];
	struct client_response r;
	struct client *c;

	(void)len;
	assert_int_equal(client_open(t_env("BROKER_URL"), t_env("BROKER_CA"), 5000, 15000, &c),
			 A11_OK);
	assert_int_equal(client_post(c, path, body, &r), A11_OK);
	client_close(c);
	code[0] = '\0';
	if (r.status != 200)
		problem_decode(r.body, r.len, code, 32, detail, sizeof(detail));
	else if (resp_json != NULL)
		snprintf(resp_json, 65536, "%s", r.body);
	free(r.body);
	return r.status;
}

/* The challenge for cred, optionally naming a lease to renew. */
static void challenge_lease(struct fx *f, const char *cred, const char *lease)
{
	uint8_t *der;
	size_t len;
	char code[32], *json = malloc(65536), *req;

	memset(f, 0, sizeof(*f));
	assert_int_equal(tpm_ek_cert(tpm, TPM_EK_RSA2048, &der, &len), A11_OK);
	assert_int_equal(tpm_ek_load(tpm, TPM_EK_RSA2048, &f->ek), A11_OK);
	assert_int_equal(tpm_ak_create(tpm, TPM2_ALG_ECC, &f->ak), A11_OK);
	snprintf(f->creq.credential, sizeof(f->creq.credential), "%s", cred);
	snprintf(f->creq.lease, sizeof(f->creq.lease), "%s", lease);
	memcpy(f->creq.ek_cert, der, len);
	f->creq.ek_cert_len = len;
	f->creq.ek = f->ek.pub;
	f->creq.ak = f->ak.pub;
	free(der);
	req = challenge_req_encode(&f->creq);
	assert_int_equal(post("/v1/challenge", req, strlen(req), code, json), 200);
	assert_int_equal(challenge_resp_decode(json, strlen(json), &f->cresp), A11_OK);
	free(req);
	free(json);
}

static void challenge(struct fx *f, const char *cred)
{
	challenge_lease(f, cred, "");
}

/* Good evidence for the challenge (wrapped to the EK, no PIN). */
static void evidence(struct fx *f)
{
	TPM2B_DATA nonce = { .size = f->cresp.nonce.size };
	TPM2B_ATTEST att;

	memcpy(nonce.buffer, f->cresp.nonce.buffer, nonce.size);
	snprintf(f->ev.session, sizeof(f->ev.session), "%s", f->cresp.session);
	assert_int_equal(tpm_activate_credential(tpm, &f->ak, &f->ek, &f->cresp.credential_blob,
						 &f->cresp.encrypted_secret, &f->ev.activated), A11_OK);
	assert_int_equal(tpm_pcr_read(tpm, &f->cresp.pcr_selection, &f->ev.pcrs), A11_OK);
	assert_int_equal(tpm_quote(tpm, &f->ak, &nonce, &f->cresp.pcr_selection, &att,
				   &f->ev.quote.sig), A11_OK);
	memcpy(f->ev.quote.data, att.attestationData, att.size);
	f->ev.quote.len = att.size;
}

static long send_evidence(struct fx *f, char *code)
{
	char *req = evidence_req_encode(&f->ev);
	long st;

	assert_non_null(req);
	st = post("/v1/evidence", req, strlen(req), code, NULL);
	free(req);
	return st;
}

static void done(struct fx *f)
{
	tpm_key_release(tpm, &f->ak);
	tpm_key_release(tpm, &f->ek);
}

static void expect(struct fx *f, long status, const char *code)
{
	char got[32];

	assert_int_equal(send_evidence(f, got), status);
	assert_string_equal(got, code);
	done(f);
}

#endif
