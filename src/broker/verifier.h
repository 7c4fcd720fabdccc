/* The Verifier (RFC 9334 §3): appraises TPM Evidence against Endorsements
 * (EK CA certificates) and Reference Values (allowed PCR sets) and states
 * the result as an AR4SI trustworthiness vector. It holds no state and
 * never decides a release: that is the Relying Party's job (flow.c), so an
 * external Verifier can replace this file behind the same two calls. */
#ifndef A11_BROKER_VERIFIER_H
#define A11_BROKER_VERIFIER_H

#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../proto/proto.h"
#include "ear.h"
#include "policy.h"
#include "../proto/refusal.h"

/* SHA-256 of the EK's SubjectPublicKeyInfo (DER): the TPM's identity in
 * allow-lists, leases and the audit log. */
a11_err verifier_ek_hash(const TPMT_PUBLIC *ek, uint8_t out[32]);

/* At challenge time: the EK certificate chains to the policy's EK CAs and
 * certifies ek, the EK is allowed, and the AK has the shape of a TPM
 * attestation key. Fills ek_hash. */
enum refusal verifier_check_identity(const struct policy *p, const uint8_t *ek_cert,
				     size_t ek_cert_len, const TPM2B_PUBLIC *ek,
				     const TPM2B_PUBLIC *ak, uint8_t ek_hash[32]);

/* What the challenge fixed, which the evidence must answer. */
struct verifier_session {
	const TPM2B_PUBLIC *ak;
	const uint8_t *nonce;
	size_t nonce_len;
	const uint8_t *secret_hash;  /* SHA-256 of the MakeCredential secret */
};

struct appraisal {
	enum refusal refusal;        /* REF_NONE when every check passed */
	struct ear ear;              /* vector, nonce; iat and policy id by caller */
	TPMS_ATTEST quote;           /* valid once the quote verified */
	TPM2B_NAME ak_qn;            /* qualified name of the AK */
	char detail[256];            /* what decided an event-log refusal, "" otherwise */
};

/* Evidence: credential activation proof, quote over the policy's
 * selection, PCR values against reference values, and with event rules
 * the event log against the quote and the rules (src/broker/evpolicy.h). */
void verifier_appraise(const struct policy *p, const struct verifier_session *s,
		       const struct evidence_req *ev, struct appraisal *out);

#endif
