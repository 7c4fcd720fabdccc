/* Why the broker refused: stable codes of the protocol (docs/protocol.md),
 * each with its HTTP status and a title a person can act on. The broker
 * sends them, the attester and the module parse them back: one table, so
 * a renamed code cannot silently change what a client does. */
#ifndef A11_PROTO_REFUSAL_H
#define A11_PROTO_REFUSAL_H

enum refusal {
	REF_NONE = 0,
	REF_BAD_REQUEST,
	REF_PAYLOAD_TOO_LARGE,
	REF_UNKNOWN_CREDENTIAL,
	REF_EKCERT_UNTRUSTED,
	REF_EK_NOT_ALLOWED,
	REF_AK_INVALID,
	REF_SESSION_UNKNOWN,
	REF_NONCE_EXPIRED,
	REF_NONCE_REUSED,
	REF_AK_NOT_ACTIVATED,
	REF_QUOTE_INVALID,
	REF_PCR_SELECTION,
	REF_PCR_DIGEST,
	REF_PCR_VALUES,
	REF_EVENTLOG_REQUIRED,
	REF_EVENTLOG_INVALID,
	REF_EVENTLOG_MISMATCH,
	REF_EVENTLOG_POLICY,
	REF_TPM_REBOOT_REPLAY,
	REF_TRUST_TIER,
	REF_PARENT_INVALID,
	REF_KEY_INVALID,
	REF_PIN_REQUIRED,
	REF_PIN_INCORRECT,
	REF_PIN_LOCKED,
	REF_LEASE_UNKNOWN,
	REF_LEASE_REVOKED,
	REF_POLICY_CHANGED,
	REF_STORE_BUSY,
	REF_BUSY,
	REF_INTERNAL,
	REF__COUNT
};

const char *refusal_code(enum refusal r);   /* "pcr_values" */
const char *refusal_title(enum refusal r);
int refusal_status(enum refusal r);         /* HTTP status */
/* The code's refusal; REF__COUNT for a code this version does not know. */
enum refusal refusal_parse(const char *code);

#endif
