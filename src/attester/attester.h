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

struct attester_config {
	const char *broker_url;       /* "https://broker:8443" */
	const char *ca_file;          /* PEM bundle that signs the broker's TLS certificate */
	const char *credential;
	const char *pin;              /* NUL-terminated, or NULL */
	long connect_timeout_ms;      /* 0: 5000 */
	long timeout_ms;              /* per request; 0: 15000 */
	enum tpm_ek_kind ek;          /* which EK identifies this TPM */
	bool wrap_to_ek;              /* skip the SRK; the broker wraps to the EK */
	const char *lease;            /* renew this lease, or NULL */
};

/* Where each stage went, for the log and the bench (milliseconds). */
struct attester_timing {
	double tpm_evidence, challenge, evidence, import;
};

struct attester_result {
	struct release rel;           /* certificates, lease, attestation result */
	struct tpm_key parent;        /* loaded parent (SRK or EK) */
	struct tpm_key key;           /* the credential's key, loaded (repository, ca) */
	TPM2B_PRIVATE priv;           /* its private blob under parent, to reload it */
	TPM2B_AUTH auth;              /* its authValue (from the PIN), cleansed by clear */
	uint8_t *token;               /* token kind: the bearer token in clear */
	size_t token_len;
	char refusal[32];             /* A11_ERR_REFUSED: the broker's problem code */
	char detail[256];             /* ... and its detail text */
	struct attester_timing ms;
};

/* On failure everything loaded is released again. */
a11_err attester_run(struct tpm *t, const struct attester_config *c, struct attester_result *out);
/* Flush the parent and the key from the TPM but keep what reloading them
 * needs (publics, the private blob, policy, authValue): before fork(), or
 * to give the TPM's object slots back. */
void attester_unload(struct tpm *t, struct attester_result *r);
/* Load them again, possibly on a new TPM connection. */
a11_err attester_reload(struct tpm *t, const struct attester_config *c, struct attester_result *r);

/* Flush the TPM objects, free and cleanse everything. */
void attester_result_clear(struct tpm *t, struct attester_result *r);

#endif
