/* The broker's release, checked before anything of it is used, shown or
 * written to the state directory (docs/threat-model.md, "A hostile
 * broker"). A release that decodes can still be one the broker cannot
 * have meant: certificates that do not parse or are for another key, or
 * approval terms that the TPM would refuse at the first signature. Each
 * refusal names its cause, so the log says "the release was wrong" and
 * not "the platform changed". */
#include <string.h>
#include <openssl/x509.h>

#include "../common/log.h"
#include "../wire/attest.h"
#include "../wire/key.h"
#include "../wire/policy.h"
#include "check.h"

/* The broker's approval runs lease_ttl (at most PROTO_LEASE_TTL_MAX s)
 * of TPM clock from the quote. */
#define CLOCK_SPAN_MAX_MS ((uint64_t)PROTO_LEASE_TTL_MAX * 1000u)

static a11_err refuse(const struct release *rel, const char *why)
{
	log_error("lease %s: the broker's release is refused: %s", rel->lease, why);
	return A11_ERR_PROTOCOL;
}

/* DER, exactly cert_len[i] bytes of it. */
static X509 *parse_cert(const struct release *rel, size_t i)
{
	const uint8_t *p = rel->certs[i];
	X509 *x = d2i_X509(NULL, &p, (long)rel->cert_len[i]);

	if (x != NULL && p != rel->certs[i] + rel->cert_len[i]) {
		X509_free(x);
		x = NULL;
	}
	if (x == NULL)
		log_error("lease %s: certificate %zu of the release is not one DER X.509 "
			  "certificate", rel->lease, i);
	return x;
}

a11_err attester_check_certs(const struct release *rel, const TPMT_PUBLIC *key)
{
	bool ok = rel->cert_count <= PROTO_MAX_CERTS;

	if (rel->kind == CRED_TOKEN && rel->cert_count > 0)
		return refuse(rel, "a token comes with no certificate");
	for (size_t i = 0; ok && i < rel->cert_count; i++) {
		X509 *x = parse_cert(rel, i);

		ok = x != NULL;
		if (ok && i == 0 && (key == NULL || !wire_cert_has_key(x, key))) {
			log_error("lease %s: the leaf certificate is not for the credential's key",
				  rel->lease);
			ok = false;
		}
		X509_free(x);
	}
	return ok ? A11_OK : refuse(rel, "its certificates");
}

const TPMT_PUBLIC *attester_key_public(const struct attester_result *r)
{
	if (r->rel.kind == CRED_TOKEN)
		return NULL;
	return r->key.pub.size != 0 ? &r->key.pub.publicArea : &r->rel.pub.publicArea;
}

/* The policy's shape: which steps run before PolicyAuthorize. */
static bool same_shape(const struct release *a, const struct release *b)
{
	return a->kind == b->kind && a->auth_value == b->auth_value &&
	       a->pcr_bound == b->pcr_bound &&
	       (!a->pcr_bound || wire_pcr_selection_eq(&a->pcr_selection, &b->pcr_selection));
}

/* The terms against what the attester knows: its quote's clock and boot,
 * and the challenge's PIN and PCR binding. */
static a11_err check_terms(const struct release *rel, const struct release_expect *x)
{
	const struct approval *a = &rel->approval;
	uint64_t from = x->quote_clock.clock;

	if (a->clock_end <= from)
		return refuse(rel, "clock_end is not after the quote's TPM clock");
	if (a->clock_end - from > CLOCK_SPAN_MAX_MS)
		return refuse(rel, "clock_end is more than 366 days after the quote's TPM clock");
	if (a->reset_count != x->quote_clock.resetCount)
		return refuse(rel, "reset_count is not the quote's (this TPM boot)");
	if (rel->auth_value != x->key_auth)
		return refuse(rel, "policy.auth_value disagrees with the challenge's key_auth");
	if (rel->pcr_bound != x->bind_pcrs)
		return refuse(rel, "policy.pcr_selection disagrees with the challenge's bind_pcrs");
	if (rel->pcr_bound && !wire_pcr_selection_eq(&rel->pcr_selection, x->sel))
		return refuse(rel, "policy.pcr_selection is not the challenge's pcr_selection");
	if (x->live != NULL && !same_shape(rel, x->live))
		return refuse(rel, "the renewal changes the kind or the key's policy steps");
	return A11_OK;
}

/* The approver signs approved_policy; the TPM enforces the terms. They
 * must be the same thing, or the first signature fails. */
static a11_err check_digest(const struct release *rel, const struct release_expect *x)
{
	const struct approval *a = &rel->approval;
	const struct wire_lease_terms t = {
		.clock_end = a->clock_end, .reset_count = a->reset_count,
		.pcrs = rel->pcr_bound ? &rel->pcr_selection : NULL, .values = x->values,
		.auth_value = rel->auth_value,
	};
	TPM2B_DIGEST want;

	if (wire_lease_policy(&t, &want) != A11_OK)
		return refuse(rel, "its terms make no policy digest");
	if (want.size != a->approved.size || memcmp(want.buffer, a->approved.buffer, want.size))
		return refuse(rel, "approved_policy is not the digest of its terms");
	return A11_OK;
}

a11_err attester_check_release(const struct release *rel, const struct release_expect *x)
{
	a11_err r;

	if (rel->kind != x->kind)
		return refuse(rel, "its kind is not the challenge's");
	if (rel->kind == CRED_CA && x->live == NULL && rel->cert_count == 0)
		return refuse(rel, "a ca kind release without its certificate");
	if ((r = attester_check_certs(rel, x->key)) != A11_OK ||
	    (r = check_terms(rel, x)) != A11_OK)
		return r;
	return check_digest(rel, x);
}
