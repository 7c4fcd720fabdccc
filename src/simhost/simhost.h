/* A simulated TPM host: the attester's side of protocol v1 in software,
 * for unit tests and the load generator (attest11-load). One host holds
 * what a TPM would: an EK with an X.509 certificate from a caller's CA, an
 * AK in the endorsement hierarchy, a SHA-256 PCR bank, a clock, a storage
 * parent and (ca kind) a key born in it; it answers the broker as the
 * real attester (src/attester/attester.c) with a TPM would, and checks a
 * release as far as software can: duplication blobs undone with the
 * parent's private key, the approval's signature and policy recomputed.
 * Only OpenSSL, tss2-mu, src/wire, src/proto and src/common: no TPM. */
#ifndef A11_SIMHOST_H
#define A11_SIMHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "../common/pcr.h"
#include "../proto/proto.h"

#define SIMHOST_PCRS 24

/* The EK's type, with the TCG default template of each (low range RSA-2048
 * and P-256; P-384 as swtpm makes it: SHA-384, AES-256-CFB). */
enum simhost_ek { SIMHOST_EK_RSA2048, SIMHOST_EK_P256, SIMHOST_EK_P384 };

/* The objects a host can certify or unwrap to. */
enum simhost_obj { SIMHOST_EK, SIMHOST_SRK, SIMHOST_BORN };

struct simhost;

/* A host whose EK certificate ca_key/ca_cert issue (not kept). */
a11_err simhost_new(enum simhost_ek ek, EVP_PKEY *ca_key, X509 *ca_cert, struct simhost **out);
void simhost_free(struct simhost *h);

/* Public areas and the EK certificate (DER); NULL before a born key. */
const TPM2B_PUBLIC *simhost_public(const struct simhost *h, enum simhost_obj which);
const TPM2B_PUBLIC *simhost_ak(const struct simhost *h);
const uint8_t *simhost_ek_cert(const struct simhost *h, size_t *len);

/* The SHA-256 bank: set a value, or extend as TPM2_PCR_Extend does
 * (new = H(old || digest), digest 32 bytes). */
a11_err simhost_pcr_set(struct simhost *h, unsigned pcr, const uint8_t value[32]);
a11_err simhost_pcr_extend(struct simhost *h, unsigned pcr, const uint8_t digest[32]);

/* The TPM clock as quotes report it (clock in ms, resetCount,
 * restartCount, safe). A new host starts at clock 1000, counts 1 and 0. */
TPMS_CLOCK_INFO *simhost_clock(struct simhost *h);

/* A new TPM-born signing key (ECC P-256, fixedTPM, sign only) under the
 * storage parent, with this authPolicy (NULL or empty: userWithAuth). */
a11_err simhost_born_key(struct simhost *h, const TPM2B_DIGEST *auth_policy);

/* TPM2_ActivateCredential: the secret wire_make_credential sealed to this
 * EK for this AK; A11_ERR_TPM_INTEGRITY if it was for another AK or EK. */
a11_err simhost_activate(const struct simhost *h, const TPM2B_ID_OBJECT *cred,
			 const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST *out);
/* TPM2_Quote by the AK over sel (banks other than SHA-256 come back with
 * no PCR selected, as from a TPM that did not allocate them) and
 * TPM2_PCR_Read's values for it. */
a11_err simhost_quote(const struct simhost *h, const TPM2B_DATA *nonce,
		      const TPML_PCR_SELECTION *sel, struct proto_attest *out,
		      struct a11_pcr_values *values);
/* TPM2_Certify of the storage parent or the born key by the AK. */
a11_err simhost_certify(const struct simhost *h, enum simhost_obj which,
			const TPM2B_DATA *nonce, struct proto_attest *out);
/* TPM2_Import's unwrapping: the object's sensitive area from an outer-
 * wrapped duplication blob to the EK or storage parent (no inner wrapper). */
a11_err simhost_unwrap(const struct simhost *h, enum simhost_obj parent,
		       const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *dup,
		       const TPM2B_ENCRYPTED_SECRET *seed, TPM2B_SENSITIVE *out);
/* The sensitive area belongs to pub: d·G is the point, p divides n, or
 * the sealed data hashes to unique. A11_ERR_NAME otherwise. */
a11_err simhost_sensitive_matches(const TPMT_PUBLIC *pub, const TPMT_SENSITIVE *s);

/* The protocol as the attester runs it. lease: NULL or "" unless renewing. */
a11_err simhost_challenge_req(struct simhost *h, const char *credential, const char *lease,
			      struct challenge_req *out);

struct simhost_evidence_opts {
	const char *pin;       /* NULL: no PIN sent (the authValue is still derived from "") */
	bool wrap_to_ek;       /* no storage parent: the release is wrapped to the EK */
	bool keep_key;         /* ca: certify the born key the host has, make none */
};

/* Everything the attester sends for challenge c, built as it would be:
 * activation, quote, PCR values, and for a fresh lease the PIN's proof,
 * the certified parent and (ca kind) a new born key under the challenge's
 * anchor; a renewal certifies the born key it already has. */
a11_err simhost_evidence(struct simhost *h, const struct challenge_resp *c,
			 const struct simhost_evidence_opts *opts, struct evidence_req *out);

/* The release for the last evidence: A11_OK, or the first check that
 * fails (logged): A11_ERR_PROTOCOL (shape), A11_ERR_TPM_INTEGRITY (blob),
 * A11_ERR_NAME (key or certificate differs), A11_ERR_TPM_POLICY (the
 * authPolicy or approved policy is not the one expected),
 * A11_ERR_SIGNATURE (the approval is not the approver's), A11_ERR_TPM_AUTH
 * (authValue), A11_ERR_CRYPTO (the token does not open). */
a11_err simhost_release_check(const struct simhost *h, const struct challenge_resp *c,
			      const struct release *rel);

#endif
