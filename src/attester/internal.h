/* Shared by the files of src/attester only. */
#ifndef A11_ATTESTER_INTERNAL_H
#define A11_ATTESTER_INTERNAL_H

#include "attester.h"

/* The key's policy for its lease (docs/protocol.md, "Leases"), before an
 * approval fills in the terms. */
void attester_key_policy(const struct release *rel, struct tpm_policy *p);
/* Repository and token: TPM2_Import + Load of rel's blob under r->parent. */
a11_err attester_import(struct tpm *t, struct attester_result *r);
/* The event log at path, malloc'd into *out (src/attester/evlog.c):
 * A11_ERR_NOT_FOUND if there is none; A11_ERR_IO (not a regular file,
 * unreadable) or A11_ERR_PARSE (empty, over PROTO_EVENTLOG_MAX), logged. */
a11_err attester_read_eventlog(const char *path, uint8_t **out, size_t *len);
/* The key the credential is wrapped to: the EK itself, or the SRK. */
/* r's parent: the EK (c->wrap_to_ek) or the SRK of type r->srk_alg. */
a11_err attester_load_parent(struct tpm *t, const struct attester_config *c,
			     struct attester_result *r);
/* What the attester itself knows of an exchange, to check the broker's
 * release against (src/attester/check.c). */
struct release_expect {
	enum cred_kind kind;                 /* the challenge's */
	const TPMT_PUBLIC *key;              /* the key certificates must be for (NULL: token) */
	TPMS_CLOCK_INFO quote_clock;         /* the quote this exchange just made */
	bool key_auth;                       /* the challenge's: a PIN guards the key */
	bool bind_pcrs;                      /* the challenge's: PolicyPCR over sel ... */
	const TPML_PCR_SELECTION *sel;
	const struct a11_pcr_values *values; /* ... with the values the quote covered */
	const struct release *live;          /* a renewal: the lease it renews; else NULL */
};
/* The whole release before anything of it is used or kept: certificates
 * (attester_check_certs) and the approval's terms, which must be what the
 * broker can have meant for this quote and challenge, and hash to the
 * approved policy it signed. A11_ERR_PROTOCOL, with a log line naming
 * the cause, if not. */
a11_err attester_check_release(const struct release *rel, const struct release_expect *x);

/* The broker's EAR (src/attester/ear.c), before the module exposes it:
 * jws verified with the public EAR JWK in the file key_path (ES256 only,
 * the JWK's kid, no "crit"), the broker's profile, eat_nonce == nonce (the
 * exchange's session nonce). A11_OK, else an error and a log line naming
 * the cause. */
a11_err attester_ear_verify(const char *key_path, const char *jws, const TPM2B_DATA *nonce);
/* Keep rel->ear only if it verifies (ear_verified set) or if there is no
 * key_path to verify it with (kept unverified, for the CLI to print; the
 * module never shows it); a failed check drops it. */
void attester_ear_check(struct release *rel, const char *key_path, const TPM2B_DATA *nonce);

/* Token: unseal the AES key and open the token with it. */
a11_err attester_unseal(struct tpm *t, struct attester_result *r);

#endif
