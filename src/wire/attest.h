/* Verification of TPM evidence: signatures, quotes, certifications and
 * EK certificates. Inputs are untrusted bytes from the network. */
#ifndef A11_WIRE_ATTEST_H
#define A11_WIRE_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "../common/pcr.h"

/* Signature by key over H_sig(msg), hash taken from the signature.
 * RSASSA, RSAPSS (any salt length) and ECDSA. */
a11_err wire_sig_verify(const TPMT_PUBLIC *key, const uint8_t *msg, size_t len,
			const TPMT_SIGNATURE *sig);

/* Same banks in the same order, same PCRs in each. */
bool wire_pcr_selection_eq(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b);

struct wire_quote_expect {
	const TPM2B_DATA *nonce;             /* extraData we sent */
	const TPML_PCR_SELECTION *sel;       /* the selection we asked for */
	const struct a11_pcr_values *pcrs;   /* values the attester claims */
	const TPM2B_NAME *signer_qn;         /* QN of the AK */
};

/* Checks, in order: signature, magic, type QUOTE, qualifiedSigner, nonce,
 * selection equality, PCR digest. On success *out (if not NULL) holds the
 * parsed attestation (clockInfo, firmwareVersion). */
a11_err wire_quote_verify(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t len,
			  const TPMT_SIGNATURE *sig,
			  const struct wire_quote_expect *exp, TPMS_ATTEST *out);

/* Checks signature, magic, type CERTIFY, qualifiedSigner, nonce and that
 * the certified Name is the Name of object. */
a11_err wire_certify_verify(const TPMT_PUBLIC *ak, const uint8_t *attest, size_t len,
			    const TPMT_SIGNATURE *sig, const TPM2B_DATA *nonce,
			    const TPM2B_NAME *signer_qn, const TPMT_PUBLIC *object,
			    TPMS_ATTEST *out);

/* EK certificate (DER) chains to a CA in ca_path (a PEM file or a
 * directory of PEM files), and, if ek is not NULL, certifies that key. */
a11_err wire_ekcert_verify(const uint8_t *der, size_t len, const char *ca_path,
			   const TPMT_PUBLIC *ek);
/* Acceptances with an EK are kept (src/wire/ekverdict.c): up to this many,
 * least recently used first out, each for its certificate, its EK and its
 * CA path as it stands, while now is within the validity of every
 * certificate of its chain. Refusals are never kept. */
#define WIRE_EKCERT_VERDICTS 1024
/* How many checks a kept acceptance answered, since the process began. */
unsigned long wire_ekcert_kept_hits(void);

#endif
