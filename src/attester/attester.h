/* The attester client: runs the whole protocol (docs/protocol.md) against
 * a broker with the local TPM, and hands back the released credential as
 * objects inside the TPM. Used by the PKCS#11 module at C_Login and by
 * `attest11 attest`. */
#ifndef A11_ATTESTER_H
#define A11_ATTESTER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../proto/proto.h"
#include "../tpm/tpm.h"

/* Where Linux shows the firmware's event log (attest11.conf "eventlog",
 * `attest11 attest --eventlog`). */
#define ATTESTER_EVENTLOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"

struct attester_config {
	const char *broker_url;       /* "https://broker:8443", or several replicas:
				       * "https://a:8443,https://b:8443" (client_open) */
	const char *ca_file;          /* PEM bundle that signs the broker's TLS certificate */
	const char *credential;
	const char *pin;              /* NUL-terminated, or NULL */
	long connect_timeout_ms;      /* 0: 5000 */
	long timeout_ms;              /* per request; 0: 15000 */
	enum tpm_ek_kind ek;          /* which EK identifies this TPM */
	bool wrap_to_ek;              /* skip the SRK; the broker wraps to the EK */
	const char *eventlog;         /* the firmware event log, sent when the challenge asks
				       * for it; NULL or an absent file: none is sent */
	const char *ear_key;          /* the broker's public EAR JWK (set) file, or NULL: the
				       * EAR stays unverified (rel.ear_verified false) */
	/* The caller's HTTPS client to the broker, kept between exchanges
	 * (one TLS handshake, not one per login): opened here into *http if
	 * NULL, closed by the caller (attester_http_close), never used across
	 * fork(). http NULL: a client for this exchange only. */
	struct client **http;
	/* Renewal runs beside other users of the TPM: these bracket each
	 * stretch of TPM work, so the network never holds the TPM (NULL: the
	 * caller holds the TPM throughout). tpm_enter returns the connection
	 * the exchange began on, or NULL if it was dropped meanwhile (a fork,
	 * a TPM fault): the exchange then touches nothing of it and fails
	 * with A11_ERR_TPM_COMM; tpm_leave follows either way. */
	struct tpm *(*tpm_enter)(void *arg);
	void (*tpm_leave)(void *arg);
	void *tpm_arg;
};

struct client;
void attester_http_close(struct client **http);

/* Where each stage went, for the log and the bench (milliseconds). */
struct attester_timing {
	double tpm_evidence, challenge, evidence, import;
};

struct attester_result {
	struct release rel;           /* certificates, lease, attestation result */
	struct tpm_key parent;        /* loaded parent (SRK or EK) */
	TPM2_ALG_ID srk_alg;          /* the SRK's type, unless wrap_to_ek: ECC for new
				       * releases (Import is an ECDH, not an RSA
				       * decryption); RSA in older state files */
	struct tpm_key key;           /* the credential's key, loaded (repository, ca) */
	TPM2B_PRIVATE priv;           /* its private blob under parent, to reload it */
	TPM2B_AUTH auth;              /* its authValue (from the PIN), cleansed by clear */
	bool key_auth;                /* auth = PBKDF2(PIN, salt, iterations) */
	uint8_t salt[PROTO_SALT_LEN];
	uint32_t iterations;
	/* From the state file (version 2): the TPM's ticket for rel.approval
	 * and the approver's Name, so that opening it skips VerifySignature;
	 * the TPM checks both at PolicyAuthorize. */
	bool has_ticket;
	TPMT_TK_VERIFIED ticket;
	TPM2B_NAME approver;
	uint8_t *token;               /* token kind: the bearer token in clear */
	size_t token_len;
	char refusal[32];             /* A11_ERR_REFUSED: the broker's problem code */
	char detail[256];             /* ... and its detail text */
	struct attester_timing ms;
};

/* A fresh attestation and release. On failure everything loaded is
 * released again. */
a11_err attester_run(struct tpm *t, const struct attester_config *c, struct attester_result *out);
/* Renew cur's lease: a fresh attestation of the same TPM, and a new
 * approval (and for the ca kind a new certificate) adopted into cur once
 * the TPM has verified it. The key stays loaded and usable throughout;
 * on failure cur is unchanged and the refusal is in refusal/detail. */
a11_err attester_renew(struct tpm *t, const struct attester_config *c,
		       struct attester_result *cur);
/* Verify rel.approval in the TPM and make it the key's policy (also used
 * for an approval another process obtained, read from the state dir). */
a11_err attester_adopt(struct tpm *t, struct attester_result *r);
/* A newer approval of cur's lease (a renewal's release, or what another
 * process wrote to the state dir): verified in the TPM, then its approval,
 * certificates, EAR and expiry replace cur's. nw keeps what was not taken. */
a11_err attester_adopt_from(struct tpm *t, struct attester_result *cur, struct release *nw);
/* After an exchange that ended with r (A11_ERR_REFUSED: the broker's
 * refusal code): does it implicate the TPM's identity (EK certificate,
 * EK, AK, the quote it signed, the parent it certified), or the TPM? Then
 * the connection's identity is dropped and the next exchange reads it
 * afresh (tpm_identity_done); a network failure, a refused PIN or a busy
 * broker says nothing against it, and the identity is kept. */
bool attester_identity_suspect(a11_err r, const char *refusal);
/* A lease another process obtained (read from the state dir into r:
 * rel, priv, key_auth, salt, iterations), opened in two steps so that the
 * first overlaps the opening of the TPM connection (src/p11/
 * token_login.c). attester_cached_prepare, no TPM: its certificates
 * checked and c->pin's authValue derived. attester_open_cached, with the
 * TPM's clock now (read when the connection was checked): its approval
 * made the key's policy (verified in the TPM, unless the file kept the
 * TPM's ticket: a ticket the TPM refuses is dropped and the approval
 * verified after all, without a PIN attempt), load the key, and let the TPM check PIN and lease with one
 * signature (or the token's unsealing). A11_ERR_LEASE_ENDED if the lease
 * is over (or close to it) or the TPM rebooted; A11_ERR_TPM_AUTH for a
 * wrong PIN. The caller clears r on failure. */
a11_err attester_cached_prepare(const struct attester_config *c, struct attester_result *r);
a11_err attester_open_cached(struct tpm *t, const struct attester_config *c,
			     const TPMS_TIME_INFO *now, struct attester_result *r);
/* After attester_open_cached: did it verify the approval in the TPM (no
 * ticket in the file, or one the TPM refused) and get a ticket the key
 * still holds (not a token's, flushed once unsealed)? Then the file is
 * worth writing again with it. */
bool attester_ticket_new(const struct attester_result *r);
/* Between a result and the state dir's form (src/attester/state.h):
 * from_host moves hl's release into r (nothing loaded yet); to_host
 * lends r's to hl, which must not be cleared. */
struct host_lease;
void attester_from_host(struct host_lease *hl, struct attester_result *r);
void attester_to_host(const struct attester_result *r, struct host_lease *hl);
/* Flush the parent and the key from the TPM but keep what reloading them
 * needs (publics, the private blob, policy, authValue): before fork(), or
 * to give the TPM's object slots back. */
void attester_unload(struct tpm *t, struct attester_result *r);
/* The connection they were loaded on is gone (closed, or the TPM reset):
 * forget the handles without a word to the TPM, keep the rest. */
void attester_forget_loaded(struct attester_result *r);
/* Load them again, possibly on a new TPM connection. */
a11_err attester_reload(struct tpm *t, const struct attester_config *c, struct attester_result *r);

/* A release's certificates, before they are shown or shared: each one DER
 * X.509 with nothing trailing, the leaf for key (the imported or TPM-born
 * key; NULL for the token kind, which has no certificate). A11_OK, or
 * A11_ERR_PROTOCOL with a log line naming the certificate and the cause. */
a11_err attester_check_certs(const struct release *rel, const TPMT_PUBLIC *key);
/* The key r's certificates are for: the key in the TPM (or the public it
 * will be loaded from); NULL for the token kind. */
const TPMT_PUBLIC *attester_key_public(const struct attester_result *r);

/* Flush the TPM objects, free and cleanse everything. */
void attester_result_clear(struct tpm *t, struct attester_result *r);

#endif
