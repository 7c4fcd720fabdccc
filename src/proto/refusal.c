#include <string.h>

#include "refusal.h"

static const struct {
	const char *code;
	int status;
	const char *title;
} table[REF__COUNT] = {
	[REF_NONE] = { "ok", 200, "accepted" },
	[REF_BAD_REQUEST] = { "bad_request", 400, "malformed request" },
	[REF_PAYLOAD_TOO_LARGE] = { "payload_too_large", 413, "request body too large" },
	[REF_UNKNOWN_CREDENTIAL] = { "unknown_credential", 404, "no credential of that name" },
	[REF_EKCERT_UNTRUSTED] = { "ekcert_untrusted", 403,
				   "EK certificate not issued by a trusted TPM manufacturer CA" },
	[REF_EK_NOT_ALLOWED] = { "ek_not_allowed", 403, "this TPM is not enrolled for the credential" },
	[REF_AK_INVALID] = { "ak_invalid", 400, "attestation key is not an acceptable TPM key" },
	[REF_SESSION_UNKNOWN] = { "session_unknown", 403, "unknown session: start with a challenge" },
	[REF_NONCE_EXPIRED] = { "nonce_expired", 403, "the challenge expired: start again" },
	[REF_NONCE_REUSED] = { "nonce_reused", 403, "the challenge was already used" },
	[REF_AK_NOT_ACTIVATED] = { "ak_not_activated", 403,
				   "attestation key is not bound to the EK (credential activation failed)" },
	[REF_QUOTE_INVALID] = { "quote_invalid", 403, "the TPM quote does not verify" },
	[REF_PCR_SELECTION] = { "pcr_selection", 403,
				"quoted PCR selection differs from the request (PCR bank not allocated?)" },
	[REF_PCR_DIGEST] = { "pcr_digest", 403, "PCR values do not match the quoted digest" },
	[REF_PCR_VALUES] = { "pcr_values", 403,
			     "PCR values are not among the policy's reference values" },
	[REF_EVENTLOG_REQUIRED] = { "eventlog_required", 403,
				    "the policy appraises the boot's event log, and none was sent" },
	[REF_EVENTLOG_INVALID] = { "eventlog_invalid", 403,
				   "the event log is malformed or of an unsupported format" },
	[REF_EVENTLOG_MISMATCH] = { "eventlog_mismatch", 403,
				    "the event log does not replay to the quoted PCR values" },
	[REF_EVENTLOG_POLICY] = { "eventlog_policy", 403,
				  "an event of the boot's log breaks the policy's event rules" },
	[REF_TPM_REBOOT_REPLAY] = { "tpm_reboot_replay", 403,
				    "TPM reset or restart count went backwards (replay or rollback)" },
	[REF_TRUST_TIER] = { "trust_tier", 403,
			     "the attestation result does not reach the tier the policy requires" },
	[REF_PARENT_INVALID] = { "parent_invalid", 403, "the storage parent key is not acceptable" },
	[REF_KEY_INVALID] = { "key_invalid", 403, "the TPM-born key is not acceptable" },
	[REF_PIN_REQUIRED] = { "pin_required", 401, "this credential needs a PIN" },
	[REF_PIN_INCORRECT] = { "pin_incorrect", 401, "wrong PIN" },
	[REF_PIN_LOCKED] = { "pin_locked", 423, "PIN locked after too many failures" },
	[REF_LEASE_UNKNOWN] = { "lease_unknown", 403, "unknown lease" },
	[REF_LEASE_REVOKED] = { "lease_revoked", 403, "the lease was revoked" },
	[REF_POLICY_CHANGED] = { "policy_changed", 409,
				 "the credential's policy changed during the exchange: start again" },
	[REF_STORE_BUSY] = { "store_busy", 503,
			     "the broker's database is locked by another process: retry after Retry-After" },
	[REF_BUSY] = { "busy", 503, "too many attestations in progress: retry after Retry-After" },
	[REF_INTERNAL] = { "internal", 500, "internal broker error (see the broker log)" },
};

static unsigned idx(enum refusal r)
{
	return (unsigned)r < REF__COUNT ? (unsigned)r : REF_INTERNAL;
}

const char *refusal_code(enum refusal r)
{
	return table[idx(r)].code;
}

const char *refusal_title(enum refusal r)
{
	return table[idx(r)].title;
}

int refusal_status(enum refusal r)
{
	return table[idx(r)].status;
}

enum refusal refusal_parse(const char *code)
{
	for (unsigned i = 0; code != NULL && i < REF__COUNT; i++)
		if (strcmp(table[i].code, code) == 0)
			return (enum refusal)i;
	return REF__COUNT;
}
