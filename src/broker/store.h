/* The broker's storage, behind an interface: SQLite (WAL) is the embedded
 * backend; a PostgreSQL backend implements the same operations for brokers
 * that scale out behind a load balancer. Every operation is atomic on its
 * own (one transaction); callers never see a half-applied change.
 * Secrets (private keys, tokens) are stored encrypted by the caller
 * (see secrets.h); the store never sees them in clear. */
#ifndef A11_BROKER_STORE_H
#define A11_BROKER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../common/kind.h"

struct store;

/* "sqlite:/path/to/broker.db" (created with its schema if absent). */
a11_err store_open(const char *uri, struct store **out);
void store_close(struct store *s);
/* A11_OK if the database answers a query now (/healthz), without ever
 * waiting behind the store; A11_ERR_BUSY if it answers but another
 * process holds its write lock (SQLite: degraded). Any operation that
 * writes may fail as A11_ERR_BUSY the same way, after a bounded wait
 * (store_sqlite_pool.c). */
a11_err store_ping(struct store *s);

#define STORE_NAME_MAX 128
#define STORE_ID_MAX 64

/* One credential. Blobs are malloc'd by store_cred_get; free with
 * store_cred_clear (which cleanses sealed_secret). */
struct store_cred {
	char name[STORE_NAME_MAX + 1];
	enum cred_kind kind;
	char *policy_json;          /* the credential's policy document */
	int64_t policy_version;     /* bumped by every policy change */
	uint8_t *sealed_secret;     /* key PEM / token / CA key, sealed by secrets.c */
	size_t sealed_secret_len;
	char *chain_pem;            /* public certificates (repository, ca issuer) */
	char *pin_verifier;         /* src/broker/pin.h's record, or NULL: no PIN */
	uint8_t pin_salt[16];       /* salt of the key authValue derivation */
	uint32_t pin_failures;
	bool pin_locked;
};

void store_cred_clear(struct store_cred *c);
/* Insert, or replace everything but the PIN counters. */
a11_err store_cred_put(struct store *s, const struct store_cred *c);
/* A11_ERR_NOT_FOUND if absent. */
a11_err store_cred_get(struct store *s, const char *name, struct store_cred *out);
a11_err store_cred_delete(struct store *s, const char *name);
/* Calls fn for each credential in name order (secret fields not loaded). */
a11_err store_cred_list(struct store *s, void (*fn)(const struct store_cred *, void *), void *arg);
/* Replace the policy; bumps policy_version. */
a11_err store_cred_set_policy(struct store *s, const char *name, const char *policy_json);
a11_err store_pin_unlock(struct store *s, const char *name);
/* A credential's secrets sealed again (master-key rekey): the sealed
 * secret and PIN record become secret and pin, if they are still old_secret
 * and old_pin (NULL: no PIN), in one transaction. A11_ERR_NOT_FOUND if the
 * credential is gone or either changed since it was read (an operator's
 * change made meanwhile wins; read it again). Nothing else changes. */
struct store_reseal {
	const char *name;
	const uint8_t *old_secret, *secret;
	size_t old_secret_len, secret_len;
	const char *old_pin, *pin;
};
a11_err store_cred_reseal(struct store *s, const struct store_reseal *rs);

/* A challenge session (single use, short-lived). */
struct store_session {
	char id[STORE_ID_MAX + 1];
	char credential[STORE_NAME_MAX + 1];
	char lease[STORE_ID_MAX + 1];   /* "" unless renewing */
	uint8_t nonce[32];
	uint8_t secret_hash[32];        /* SHA-256 of the MakeCredential secret */
	uint8_t policy_ref[32];         /* of the lease this session starts or renews */
	uint8_t *ek_cert;               /* malloc'd by get/take */
	size_t ek_cert_len;
	uint8_t *ek_public;             /* TPM2B_PUBLIC, marshalled */
	size_t ek_public_len;
	uint8_t *ak_public;
	size_t ak_public_len;
	int64_t expires;
	/* The TPM's counters as the broker knew them when the challenge was
	 * issued: the quote answering it may not be older (the replay rule,
	 * store_tpm_newer). seen_known is false for a TPM never seen. */
	bool seen_known;
	uint32_t seen_reset_count, seen_restart_count;
	uint64_t seen_clock;
};

void store_session_clear(struct store_session *ss);
a11_err store_session_put(struct store *s, const struct store_session *ss);
/* Marks the session used and returns it, in one transaction:
 * A11_ERR_NOT_FOUND (unknown), A11_ERR_REUSED (already taken),
 * A11_ERR_EXPIRED (now > expires; also marked used). */
a11_err store_session_take(struct store *s, const char *id, int64_t now,
			   struct store_session *out);
/* Delete sessions that expired before `before`. */
a11_err store_session_prune(struct store *s, int64_t before);

struct store_lease {
	char id[STORE_ID_MAX + 1];
	char credential[STORE_NAME_MAX + 1];
	uint8_t ek_hash[32];
	int64_t issued;
	int64_t expires;
	bool revoked;
	char cert_serial[64];           /* "" unless a certificate was issued */
	uint8_t policy_ref[32];         /* names the lease in its key's authPolicy */
	uint8_t key_name[2 + 64];       /* Name of the released key (TPM2B_NAME's bytes) */
	size_t key_name_len;            /* 0: a lease from before schema 4 */
	uint8_t approver[34];           /* TPM Name of the approver key its key's policy names */
	size_t approver_len;            /* 0: a lease from before schema 5, not yet bound */
};

a11_err store_lease_get(struct store *s, const char *id, struct store_lease *out);
a11_err store_lease_list(struct store *s, void (*fn)(const struct store_lease *, void *), void *arg);
a11_err store_lease_revoke(struct store *s, const char *id);
/* Leases from before schema 5 name no approver key: bind them to name
 * (the approver key every broker had when they were made; serve calls it
 * at start). *n gets how many were bound. */
a11_err store_lease_bind_approver(struct store *s, const uint8_t name[34], size_t *n);

/* Per-TPM clock counters: the latest of the verified quotes (a verdict
 * raises them, never lowers them). *known is false for a TPM never seen. */
struct store_tpm {
	uint8_t ek_hash[32];
	uint32_t reset_count;
	uint32_t restart_count;
	uint64_t clock;
	int64_t last_seen;
};
a11_err store_tpm_get(struct store *s, const uint8_t ek_hash[32], struct store_tpm *out, bool *known);
/* (reset, restart, clock) of a is later than b's, in that order: within
 * one reset and restart the clock only moves forward. */
bool store_tpm_newer(const struct store_tpm *a, const struct store_tpm *b);

/* Provenance (draft-twi reference architecture §5.3.2): an append-only,
 * hash-chained log. hash = SHA-256(prev_hash || canonical(record)); the
 * store computes seq, prev_hash and hash inside the append transaction so
 * concurrent appends stay a chain. */
struct store_audit {
	int64_t seq;
	int64_t time;
	char event[16];                 /* "release", "refusal", "revoke", "renewal" */
	char code[32];                  /* refusal code or "ok" */
	char credential[STORE_NAME_MAX + 1];
	char ek_hash[65];               /* hex, "" if unknown */
	char ak_name[2 * 68 + 1];       /* hex */
	char pcr_digest[2 * 64 + 1];    /* hex of the quoted pcrDigest */
	char ar_digest[65];             /* hex SHA-256 of the EAR JWS */
	int64_t policy_version;
	char lease[STORE_ID_MAX + 1];
	char cert_serial[64];
	uint8_t prev_hash[32];
	uint8_t hash[32];
};
a11_err store_audit_append(struct store *s, struct store_audit *rec); /* fills seq, hashes */
/* In seq order; stops early if fn returns non-zero. */
a11_err store_audit_iter(struct store *s, int (*fn)(const struct store_audit *, void *), void *arg);
/* Recompute the chain: A11_OK, or A11_ERR_AUDIT with *bad_seq = first bad record. */
a11_err store_audit_verify(struct store *s, int64_t *bad_seq);

/* The verdict on one evidence request and everything it stores, in one
 * transaction: the PIN counter, the TPM's counters, the lease, and the
 * audit record commit together or not at all, so that no release exists
 * without its record and no decision rests on a state that changed before
 * it was stored.
 *
 * A release (lease != NULL) commits only if, at commit time, the
 * credential still has policy_version, is not PIN-locked (a locked
 * credential releases and renews nothing), and for a renewal the lease
 * still exists unrevoked for this TPM, credential, policyRef and key
 * Name. Otherwise nothing is written, *held says which condition failed,
 * and the caller stores a refusal verdict instead. */
enum store_pin_event { STORE_PIN_NONE, STORE_PIN_RIGHT, STORE_PIN_WRONG };
enum store_hold {
	STORE_HOLD_OK,
	STORE_HOLD_CREDENTIAL,      /* the credential is gone */
	STORE_HOLD_POLICY,          /* its policy changed since the decision */
	STORE_HOLD_PIN_LOCKED,
	STORE_HOLD_LEASE_UNKNOWN,   /* gone, or not this TPM's, credential's, policyRef's */
	STORE_HOLD_KEY,             /* the renewal presents another key than the lease's */
	STORE_HOLD_LEASE_REVOKED,
};
struct store_verdict {
	struct store_audit *audit;          /* always; gets seq and hashes */
	const char *credential;             /* needed by pin and lease */
	const struct store_tpm *tpm;        /* counters of a verified quote, raised to; or NULL */
	enum store_pin_event pin;           /* a PIN proof checked for this request; a
					     * right one only with the release it opens */
	uint32_t pin_max_failures;          /* >= 1 with STORE_PIN_WRONG */
	const char *locked_code;            /* the audit record's code instead, if this
					     * wrong PIN finds or leaves the credential
					     * locked (it is told so) */
	const struct store_lease *lease;    /* a release: the lease to create or renew */
	bool renewal;
	int64_t policy_version;             /* a release: the policy it was decided under */
	/* Set by the commit: the PIN state after it. */
	uint32_t pin_failures;
	bool pin_locked;
};
a11_err store_verdict_commit(struct store *s, struct store_verdict *v, enum store_hold *held);

#endif
