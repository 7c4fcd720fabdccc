/* Helpers shared by the C test suites. */
#ifndef A11_TESTLIB_H
#define A11_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

/* Decode hex (no separators) into out; returns the byte count, aborts the
 * test on malformed input or overflow. */
size_t t_unhex(const char *hex, uint8_t *out, size_t cap);
/* A fresh software key: "rsa2048", "rsa3072", "p256", "p384". */
EVP_PKEY *t_keygen(const char *kind);
/* Environment variable that the rig sets; skips nothing: fails if absent. */
const char *t_env(const char *name);



#include <tss2/tss2_tpm2_types.h>
/* Independent check of a TPM signature with OpenSSL and the original key
 * (deliberately not wire_sig_verify): 1 if it verifies. */
int t_verify(EVP_PKEY *key, TPMI_ALG_HASH hash, const uint8_t *digest, size_t len,
	     const TPMT_SIGNATURE *sig);
/* H(msg) as a TPM2B_DIGEST. */
void t_digest(TPMI_ALG_HASH hash, const char *msg, TPM2B_DIGEST *out);

#include <openssl/x509.h>
/* Add an extension in openssl.cnf syntax ("critical,CA:TRUE") to x, whose
 * issuer (x itself when self-signed) supplies key identifiers. */
void t_cert_ext(X509 *x, X509 *issuer, int nid, const char *value);
#endif
