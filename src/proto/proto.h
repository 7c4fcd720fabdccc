/* Protocol v1 messages (docs/protocol.md) as C structs, and their JSON
 * encodings. The broker and the attester both use this file, so the wire
 * format is written down in exactly one place. Decoders treat their input
 * as hostile: every member is type-checked, every size bounded, every TPM
 * structure unmarshalled exactly (no trailing bytes). */
#ifndef A11_PROTO_H
#define A11_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "../common/kind.h"
#include "../common/pcr.h"
#include "../wire/pin.h"

#define PROTO_MAX_BODY (64 * 1024)
/* A firmware event log in evidence (docs/protocol.md, "eventlog"): real
 * ones are 15-40 KiB; the broker's parser takes up to the same 1 MiB
 * (src/eventlog/eventlog.h). Only the evidence message may carry it, so
 * only POST /v1/evidence accepts the larger body: the log in base64 plus
 * everything else. */
#define PROTO_EVENTLOG_MAX (1024 * 1024)
#define PROTO_EVIDENCE_MAX_BODY (PROTO_MAX_BODY + 4 * (PROTO_EVENTLOG_MAX / 3 + 1))
#define PROTO_NAME_MAX 128
#define PROTO_SESSION_LEN 32       /* hex characters */
#define PROTO_LEASE_LEN 32         /* hex characters: 16 random bytes */
#define PROTO_LEASE_MAX 64         /* room for one in structs the broker fills */
#define PROTO_EK_CERT_MAX 4096
#define PROTO_SALT_LEN 16
#define PROTO_MAX_CERTS 8
#define PROTO_CERT_MAX 8192
#define PROTO_TOKEN_MAX 8192
#define PROTO_POLICY_REF_LEN 32
/* AES-GCM's associated data for a token released under a sealed key
 * (docs/protocol.md, "token"). */
#define PROTO_TOKEN_AAD "attest11 token v1"
/* The EAR profile the broker's Verifier signs (docs/protocol.md,
 * "Attestation result"); src/broker/ear.h's EAR_PROFILE is the same. */
#define PROTO_EAR_PROFILE "tag:github.com,2023:veraison/ear"
/* Numbers no broker means: Unix times end with year 9999, and no policy
 * grants a lease longer than 366 days (the broker's lease_ttl limit).
 * Deadlines computed from them then stay far from int64 overflow. */
#define PROTO_TIME_MAX 253402300799LL          /* 9999-12-31T23:59:59Z */
#define PROTO_LEASE_TTL_MAX (366LL * 86400)    /* seconds */

/* Where a released key's authPolicy points (docs/protocol.md, "Leases"):
 * PolicyAuthorize by the broker's policy-signing key (the approver) with
 * a policyRef unique to the lease, so that an approval unlocks the key of
 * that one lease and nothing else. */
struct lease_anchor {
	TPM2B_PUBLIC approver;
	uint8_t policy_ref[PROTO_POLICY_REF_LEN];
};

/* One lease period, signed: the approved policy is PolicyCounterTimer
 * (clock <= clock_end) ∧ PolicyCounterTimer (resetCount == reset_count)
 * [∧ PolicyPCR] [∧ PolicyAuthValue]; the approver signed
 * H(approved || policy_ref) as TPM2_PolicyAuthorize wants it. */
struct approval {
	struct lease_anchor anchor;
	uint64_t clock_end;                  /* TPM clock, ms */
	uint32_t reset_count;
	TPM2B_DIGEST approved;
	TPMT_SIGNATURE signature;
};

/* A TPMS_ATTEST as signed: raw bytes, parsed later by the verifier. */
struct proto_attest {
	uint8_t data[sizeof(TPMS_ATTEST)];
	size_t len;
	TPMT_SIGNATURE sig;
};

struct challenge_req {
	char credential[PROTO_NAME_MAX + 1];
	uint8_t ek_cert[PROTO_EK_CERT_MAX];
	size_t ek_cert_len;
	TPM2B_PUBLIC ek;
	TPM2B_PUBLIC ak;
	char lease[PROTO_LEASE_MAX + 1];     /* "" unless renewing */
};

struct challenge_resp {
	char session[PROTO_SESSION_LEN + 1];
	TPM2B_DATA nonce;
	int64_t expires;
	TPML_PCR_SELECTION pcr_selection;
	TPM2B_ID_OBJECT credential_blob;
	TPM2B_ENCRYPTED_SECRET encrypted_secret;
	enum cred_kind kind;
	bool bind_pcrs;                      /* the key's authPolicy starts with PolicyPCR */
	bool key_auth;                       /* the key's authValue comes from the PIN */
	uint8_t salt[PROTO_SALT_LEN];
	uint32_t iterations;
	struct lease_anchor anchor;          /* the authPolicy a TPM-born key must get */
	bool eventlog;                       /* the policy appraises the boot's event log */
};

struct evidence_req {
	char session[PROTO_SESSION_LEN + 1];
	TPM2B_DIGEST activated;
	struct proto_attest quote;
	struct a11_pcr_values pcrs;
	bool has_parent;
	TPM2B_PUBLIC parent;
	struct proto_attest parent_certify;
	bool has_key;
	TPM2B_PUBLIC key;
	struct proto_attest key_certify;
	bool has_pin;
	TPM2B_AUTH pin_auth;        /* the PIN's proof: its authValue (src/wire/pin.h) */
	uint8_t *eventlog;          /* malloc'd firmware event log, or NULL (evidence_req_clear) */
	size_t eventlog_len;        /* <= PROTO_EVENTLOG_MAX */
};

/* Frees the event log and cleanses the struct. */
void evidence_req_clear(struct evidence_req *m);

/* What the broker released. Certificates and the token ciphertext are
 * malloc'd; release_clear frees them and cleanses the struct. */
struct release {
	enum cred_kind kind;
	bool has_key;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE duplicate;
	TPM2B_ENCRYPTED_SECRET seed;
	bool pcr_bound;
	TPML_PCR_SELECTION pcr_selection;
	bool auth_value;
	size_t cert_count;
	uint8_t *certs[PROTO_MAX_CERTS];     /* DER, leaf first */
	size_t cert_len[PROTO_MAX_CERTS];
	uint8_t *token_ct;                   /* iv || ct || tag */
	size_t token_ct_len;
	char lease[PROTO_LEASE_MAX + 1];
	int64_t lease_expires;
	int64_t lease_approved;              /* when this approval was signed */
	struct approval approval;            /* the lease as the TPM enforces it */
	char *ear;                           /* compact JWS */
	/* Local, never on the wire: the attester verified ear against the
	 * broker's EAR key and this exchange's nonce (src/attester/ear.c). */
	bool ear_verified;
};

void release_clear(struct release *r);

/* Encoders return a malloc'd NUL-terminated JSON text, NULL on failure. */
char *challenge_req_encode(const struct challenge_req *m);
char *challenge_resp_encode(const struct challenge_resp *m);
char *evidence_req_encode(const struct evidence_req *m);
char *release_encode(const struct release *m);

/* Decoders: A11_OK or A11_ERR_PARSE (with a debug log naming the member). */
a11_err challenge_req_decode(const char *json, size_t len, struct challenge_req *m);
a11_err challenge_resp_decode(const char *json, size_t len, struct challenge_resp *m);
a11_err evidence_req_decode(const char *json, size_t len, struct evidence_req *m);
a11_err release_decode(const char *json, size_t len, struct release *m);

/* RFC 9457 problem details. */
char *problem_encode(const char *code, const char *title, int status, const char *detail);
/* Extract code and detail (truncated to the buffers) from a problem body. */
a11_err problem_decode(const char *json, size_t len, char *code, size_t code_cap,
		       char *detail, size_t detail_cap);

#endif
