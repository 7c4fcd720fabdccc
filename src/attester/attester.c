#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../wire/aead.h"
#include "../wire/pin.h"
#include "../wire/policy.h"
#include "attester.h"
#include "client.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)
#define TOKEN_AAD "attest11 token v1"

/* State of one run that the caller never sees. */
struct run {
	struct tpm *t;
	struct client *http;
	const struct attester_config *c;
	struct attester_result *res;
	struct tpm_key ek, ak;
	struct challenge_req creq;
	struct challenge_resp cresp;
	struct evidence_req ev;
	struct tpm_policy policy;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* POST json to path; 200 -> body, else the broker's problem. */
static a11_err post(struct run *x, const char *path, char *json, struct client_response *resp)
{
	char url[1024];
	const struct attester_config *c = x->c;
	a11_err r;

	if (json == NULL)
		return A11_ERR_NOMEM;
	snprintf(url, sizeof(url), "%s%s", c->broker_url, path);
	r = client_post(x->http, url, json, resp);
	OPENSSL_cleanse(json, strlen(json)); /* the evidence request carries the PIN */
	free(json);
	if (r != A11_OK || resp->status == 200)
		return r;
	if (problem_decode(resp->body ? resp->body : "", resp->len, x->res->refusal,
			   sizeof(x->res->refusal), x->res->detail, sizeof(x->res->detail)) != A11_OK) {
		log_error("broker answered HTTP %ld without a problem report", resp->status);
		return A11_ERR_PROTOCOL;
	}
	log_error("broker refused %s: %s (%s)", x->c->credential, x->res->refusal, x->res->detail);
	return A11_ERR_REFUSED;
}

static a11_err challenge(struct run *x)
{
	struct client_response resp;
	uint8_t *der = NULL;
	size_t len = 0;
	a11_err r;

	TRY(tpm_ek_cert(x->t, x->c->ek, &der, &len));
	TRY(len <= sizeof(x->creq.ek_cert) ? A11_OK : A11_ERR_UNSUPPORTED);
	TRY(tpm_ek_load(x->t, x->c->ek, &x->ek));
	TRY(tpm_ak_create(x->t, TPM2_ALG_ECC, &x->ak));
	snprintf(x->creq.credential, sizeof(x->creq.credential), "%s", x->c->credential);
	snprintf(x->creq.lease, sizeof(x->creq.lease), "%s", x->c->lease ? x->c->lease : "");
	memcpy(x->creq.ek_cert, der, len);
	x->creq.ek_cert_len = len;
	x->creq.ek = x->ek.pub;
	x->creq.ak = x->ak.pub;
	r = post(x, "/v1/challenge", challenge_req_encode(&x->creq), &resp);
	if (r == A11_OK && challenge_resp_decode(resp.body, resp.len, &x->cresp) != A11_OK)
		r = A11_ERR_PROTOCOL;
	if (r == A11_OK)
		log_info("credential %s (%s), session %s, %u-byte nonce, %u PCR bank(s)",
			 x->c->credential, cred_kind_name(x->cresp.kind), x->cresp.session,
			 x->cresp.nonce.size, x->cresp.pcr_selection.count);
	free(resp.body);
out:
	free(der);
	return r;
}

static a11_err certify(struct run *x, struct tpm_key *obj, TPM2B_PUBLIC *pub,
		       struct proto_attest *a)
{
	TPM2B_DATA nonce = { .size = x->cresp.nonce.size };
	TPM2B_ATTEST att;
	a11_err r;

	memcpy(nonce.buffer, x->cresp.nonce.buffer, nonce.size);
	if ((r = tpm_certify(x->t, &x->ak, obj, &nonce, &att, &a->sig)) != A11_OK)
		return r;
	memcpy(a->data, att.attestationData, att.size);
	a->len = att.size;
	*pub = obj->pub;
	return A11_OK;
}

/* The key a certificate will be issued for, with the authPolicy the
 * broker will check: PolicyPCR over today's values if bound, then
 * PolicyAuthValue if the PIN protects it. */
static a11_err born_key(struct run *x)
{
	TPM2B_DIGEST pd;
	a11_err r = wire_key_policy(x->cresp.bind_pcrs ? &x->cresp.pcr_selection : NULL,
				    &x->ev.pcrs, x->cresp.key_auth, &pd);

	if (r == A11_OK)
		r = tpm_key_create(x->t, &x->res->parent, TPM2_ALG_ECC,
				   x->cresp.key_auth ? &x->res->auth : NULL, &pd,
				   pd.size ? &x->policy : NULL, &x->res->priv, &x->res->key);
	if (r == A11_OK)
		r = certify(x, &x->res->key, &x->ev.key, &x->ev.key_certify);
	x->ev.has_key = r == A11_OK;
	return r;
}

/* The key the credential is wrapped to: the EK itself, or the SRK. */
static a11_err load_parent(struct tpm *t, const struct attester_config *c, struct tpm_key *out)
{
	return c->wrap_to_ek ? tpm_ek_load(t, c->ek, out) : tpm_srk_load(t, TPM2_ALG_RSA, out);
}

static a11_err evidence(struct run *x)
{
	TPM2B_DATA nonce = { .size = x->cresp.nonce.size };
	TPM2B_ATTEST att;
	a11_err r;

	memcpy(nonce.buffer, x->cresp.nonce.buffer, nonce.size);
	snprintf(x->ev.session, sizeof(x->ev.session), "%s", x->cresp.session);
	TRY(tpm_activate_credential(x->t, &x->ak, &x->ek, &x->cresp.credential_blob,
				    &x->cresp.encrypted_secret, &x->ev.activated));
	TRY(tpm_pcr_read(x->t, &x->cresp.pcr_selection, &x->ev.pcrs));
	TRY(tpm_quote(x->t, &x->ak, &nonce, &x->cresp.pcr_selection, &att, &x->ev.quote.sig));
	memcpy(x->ev.quote.data, att.attestationData, att.size);
	x->ev.quote.len = att.size;
	x->policy.pcr = x->cresp.bind_pcrs;
	x->policy.pcrs = x->cresp.pcr_selection;
	x->policy.auth_value = x->cresp.bind_pcrs && x->cresp.key_auth;
	if (x->cresp.key_auth) {
		const char *pin = x->c->pin ? x->c->pin : "";
		TRY(wire_pin_auth(pin, strlen(pin), x->cresp.salt, sizeof(x->cresp.salt),
				  x->cresp.iterations, &x->res->auth));
	}
	TRY(load_parent(x->t, x->c, &x->res->parent));
	if (!x->c->wrap_to_ek) {
		TRY(certify(x, &x->res->parent, &x->ev.parent, &x->ev.parent_certify));
		x->ev.has_parent = true;
	}
	if (x->cresp.kind == CRED_CA)
		TRY(born_key(x));
	if (x->c->pin != NULL) {
		snprintf(x->ev.pin, sizeof(x->ev.pin), "%s", x->c->pin);
		x->ev.has_pin = true;
	}
	log_info("AK activated with the EK, quote over %u PCR values, key to be "
		 "wrapped to the %s%s", x->ev.pcrs.count, x->c->wrap_to_ek ? "EK" : "certified SRK",
		 x->ev.has_key ? ", TPM-born key certified" : "");
out:
	return r;
}

static a11_err send_evidence(struct run *x)
{
	struct client_response resp;
	a11_err r = post(x, "/v1/evidence", evidence_req_encode(&x->ev), &resp);

	if (r == A11_OK && release_decode(resp.body, resp.len, &x->res->rel) != A11_OK)
		r = A11_ERR_PROTOCOL;
	free(resp.body);
	if (r == A11_OK)
		log_info("verdict and release: %s credential, %zu certificate(s), lease %s until %lld",
			 cred_kind_name(x->res->rel.kind), x->res->rel.cert_count, x->res->rel.lease,
			 (long long)x->res->rel.lease_expires);
	return r;
}

/* Repository and token: import the blob under the parent and load it
 * with the policy the broker said it carries. */
static a11_err import(struct run *x)
{
	struct release *rel = &x->res->rel;
	const TPM2B_DATA none = { 0 };
	const TPMT_SYM_DEF_OBJECT nosym = { .algorithm = TPM2_ALG_NULL };
	const struct tpm_import in = { &rel->pub, &rel->duplicate, &rel->seed, &none, &nosym };
	/* Only PCR-bound keys carry a policy (see wire_key_policy). */
	struct tpm_policy pol = { .pcr = true, .pcrs = rel->pcr_selection,
				  .auth_value = rel->auth_value };
	bool use_policy = rel->pcr_bound;
	a11_err r;

	if (!rel->has_key || rel->kind != x->cresp.kind)
		return A11_ERR_PROTOCOL;
	if ((r = tpm_import(x->t, &x->res->parent, &in, &x->res->priv)) != A11_OK)
		return r;
	return tpm_load(x->t, &x->res->parent, &rel->pub, &x->res->priv,
			use_policy ? &pol : NULL, rel->auth_value ? &x->res->auth : NULL,
			&x->res->key);
}

static a11_err unseal_token(struct run *x)
{
	struct attester_result *res = x->res;
	TPM2B_SENSITIVE_DATA key;
	a11_err r;

	if (res->rel.token_ct == NULL)
		return A11_ERR_PROTOCOL;
	if ((r = tpm_unseal(x->t, &res->key, &key)) != A11_OK)
		return r;
	r = key.size == WIRE_AEAD_KEY ? wire_aead_open(key.buffer, TOKEN_AAD, res->rel.token_ct,
						      res->rel.token_ct_len, &res->token,
						      &res->token_len)
				      : A11_ERR_PROTOCOL;
	OPENSSL_cleanse(&key, sizeof(key));
	/* The sealed key has done its job: keep nothing loaded. */
	tpm_key_release(x->t, &res->key);
	return r;
}

static a11_err receive(struct run *x)
{
	if (x->cresp.kind == CRED_CA)
		return x->res->rel.kind == CRED_CA && x->res->rel.cert_count > 0 ? A11_OK
										   : A11_ERR_PROTOCOL;
	a11_err r = import(x);
	if (r == A11_OK && x->cresp.kind == CRED_TOKEN)
		r = unseal_token(x);
	return r;
}

a11_err attester_run(struct tpm *t, const struct attester_config *c, struct attester_result *out)
{
	struct run *x = calloc(1, sizeof(*x));
	double t0 = now_ms(), t1, t2, t3;
	a11_err r;

	memset(out, 0, sizeof(*out));
	out->parent.tr = out->key.tr = ESYS_TR_NONE;
	if (x == NULL)
		return A11_ERR_NOMEM;
	*x = (struct run){ .t = t, .c = c, .res = out };
	x->ek.tr = x->ak.tr = ESYS_TR_NONE;
	TRY(client_open(c->ca_file, c->connect_timeout_ms ? c->connect_timeout_ms : 5000,
			c->timeout_ms ? c->timeout_ms : 15000, &x->http));
	TRY(challenge(x));
	t1 = now_ms();
	TRY(evidence(x));
	t2 = now_ms();
	TRY(send_evidence(x));
	t3 = now_ms();
	TRY(receive(x));
	log_info("the credential now lives in the TPM%s%s",
		 x->res->rel.pcr_bound ? ", bound to the attested PCRs" : "",
		 x->res->rel.auth_value ? ", usable only with the PIN" : "");
	out->ms = (struct attester_timing){ .challenge = t1 - t0, .tpm_evidence = t2 - t1,
					    .evidence = t3 - t2, .import = now_ms() - t3 };
out:
	client_close(x->http);
	tpm_key_release(t, &x->ak);
	tpm_key_release(t, &x->ek);
	if (r != A11_OK) {
		char code[32], detail[256];
		memcpy(code, out->refusal, sizeof(code));
		memcpy(detail, out->detail, sizeof(detail));
		attester_result_clear(t, out);
		memcpy(out->refusal, code, sizeof(code));
		memcpy(out->detail, detail, sizeof(detail));
	}
	OPENSSL_cleanse(x, sizeof(*x));
	free(x);
	return r;
}

/* Flush a loaded object but keep its description for reloading. */
static void unload(struct tpm *t, struct tpm_key *k)
{
	struct tpm_key gone = *k;

	if (k->tr != ESYS_TR_NONE)
		tpm_key_release(t, &gone);
	k->tr = ESYS_TR_NONE;
}

void attester_unload(struct tpm *t, struct attester_result *r)
{
	unload(t, &r->key);
	unload(t, &r->parent);
}

a11_err attester_reload(struct tpm *t, const struct attester_config *c, struct attester_result *r)
{
	struct tpm_key k;
	a11_err e;

	if (r->priv.size == 0)
		return A11_ERR_ARG; /* nothing to reload: a token, or never released */
	if ((e = load_parent(t, c, &r->parent)) != A11_OK)
		return e;
	e = tpm_load(t, &r->parent, &r->key.pub, &r->priv, r->key.use_policy ? &r->key.policy : NULL,
		     r->rel.auth_value ? &r->auth : NULL, &k);
	if (e == A11_OK)
		r->key = k;
	else
		unload(t, &r->parent);
	return e;
}

void attester_result_clear(struct tpm *t, struct attester_result *r)
{
	tpm_key_release(t, &r->key);
	tpm_key_release(t, &r->parent);
	release_clear(&r->rel);
	if (r->token != NULL)
		OPENSSL_cleanse(r->token, r->token_len);
	free(r->token);
	OPENSSL_cleanse(r, sizeof(*r));
	r->key.tr = r->parent.tr = ESYS_TR_NONE;
}
