/* The attester's two requests, built as src/attester/attester.c builds
 * them from a TPM: the identity for the challenge; for the evidence the
 * activation, quote and PCR values, then (fresh lease) the PIN's proof,
 * the certified parent and a born key, or (renewal, ca kind) the
 * certification of the key the host already holds. */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "../wire/pin.h"
#include "../wire/policy.h"
#include "internal.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)

a11_err simhost_challenge_req(struct simhost *h, const char *credential, const char *lease,
			      struct challenge_req *out)
{
	if (h == NULL || credential == NULL || out == NULL ||
	    strlen(credential) > PROTO_NAME_MAX || (lease && strlen(lease) > PROTO_LEASE_MAX) ||
	    h->ek_cert_len > sizeof(out->ek_cert))
		return A11_ERR_ARG;
	memset(out, 0, sizeof(*out));
	snprintf(out->credential, sizeof(out->credential), "%s", credential);
	snprintf(out->lease, sizeof(out->lease), "%s", lease ? lease : "");
	memcpy(out->ek_cert, h->ek_cert, h->ek_cert_len);
	out->ek_cert_len = h->ek_cert_len;
	out->ek = h->ek.pub;
	out->ak = h->ak.pub;
	/* What the release is checked against starts with this exchange. */
	h->renewing = out->lease[0] != '\0';
	return A11_OK;
}

static void nonce_of(const struct challenge_resp *c, TPM2B_DATA *nonce)
{
	nonce->size = c->nonce.size;
	memcpy(nonce->buffer, c->nonce.buffer, c->nonce.size);
}

/* The key the certificate will name: authPolicy = PolicyAuthorize by the
 * approver with the lease's policyRef, as attester.c's born_key. */
static a11_err anchored_key(struct simhost *h, const struct challenge_resp *c)
{
	const struct lease_anchor *an = &c->anchor;
	TPM2B_DIGEST pd;
	a11_err r = wire_key_policy(&an->approver.publicArea, an->policy_ref,
				    sizeof(an->policy_ref), &pd);

	return r == A11_OK ? simhost_born_key(h, &pd) : r;
}

/* The PIN's authValue is derived whenever the key takes one; it is sent
 * as the proof only when the caller has a PIN (attester.c, fresh_objects). */
static a11_err pin_proof(struct simhost *h, const struct challenge_resp *c, const char *pin,
			 struct evidence_req *ev)
{
	const char *p = pin != NULL ? pin : "";
	a11_err r;

	if (!c->key_auth)
		return A11_OK;
	r = wire_pin_auth(p, strlen(p), c->salt, sizeof(c->salt), c->iterations, &h->auth);
	if (r == A11_OK && pin != NULL) {
		ev->pin_auth = h->auth;
		ev->has_pin = true;
	}
	return r;
}

static a11_err fresh_objects(struct simhost *h, const struct challenge_resp *c,
			     const struct simhost_evidence_opts *o, struct evidence_req *ev)
{
	TPM2B_DATA nonce;
	a11_err r;

	nonce_of(c, &nonce);
	TRY(pin_proof(h, c, o->pin, ev));
	h->wrapped_to_ek = o->wrap_to_ek;
	if (!o->wrap_to_ek) {
		TRY(simhost_certify(h, SIMHOST_SRK, &nonce, &ev->parent_certify));
		ev->parent = h->srk.pub;
		ev->has_parent = true;
	}
	if (c->kind != CRED_CA)
		goto out;
	if (!o->keep_key || h->born.key == NULL)
		TRY(anchored_key(h, c));
	TRY(simhost_certify(h, SIMHOST_BORN, &nonce, &ev->key_certify));
	ev->key = h->born.pub;
	ev->has_key = true;
out:
	return r;
}

/* A renewal of the ca kind certifies the key the host already holds. */
static a11_err renewal_objects(struct simhost *h, const struct challenge_resp *c,
			       struct evidence_req *ev)
{
	TPM2B_DATA nonce;
	a11_err r;

	if (c->kind != CRED_CA)
		return A11_OK;
	if (h->born.key == NULL)
		return A11_ERR_ARG; /* nothing to renew */
	nonce_of(c, &nonce);
	r = simhost_certify(h, SIMHOST_BORN, &nonce, &ev->key_certify);
	ev->key = h->born.pub;
	ev->has_key = r == A11_OK;
	return r;
}

a11_err simhost_evidence(struct simhost *h, const struct challenge_resp *c,
			 const struct simhost_evidence_opts *opts, struct evidence_req *out)
{
	static const struct simhost_evidence_opts none = { 0 };
	const struct simhost_evidence_opts *o = opts != NULL ? opts : &none;
	TPM2B_DATA nonce;
	a11_err r;

	if (h == NULL || c == NULL || out == NULL)
		return A11_ERR_ARG;
	memset(out, 0, sizeof(*out));
	OPENSSL_cleanse(&h->auth, sizeof(h->auth));
	nonce_of(c, &nonce);
	snprintf(out->session, sizeof(out->session), "%s", c->session);
	TRY(simhost_activate(h, &c->credential_blob, &c->encrypted_secret, &out->activated));
	TRY(simhost_quote(h, &nonce, &c->pcr_selection, &out->quote, &out->pcrs));
	h->quoted = out->pcrs;
	h->quoted_clock = h->clock;
	TRY(h->renewing ? renewal_objects(h, c, out) : fresh_objects(h, c, o, out));
out:
	if (r != A11_OK) {
		log_warn("simulated evidence failed: %s", a11_strerror(r));
		OPENSSL_cleanse(out, sizeof(*out));
	}
	return r;
}
