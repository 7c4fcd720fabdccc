/* Certificates the broker issues (the "ca" credential kind) for keys born
 * in an attested TPM. */
#ifndef A11_BROKER_CA_H
#define A11_BROKER_CA_H

#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../common/err.h"

struct ca_request {
	EVP_PKEY *subject_key;        /* the TPM-born key's public key */
	const char *common_name;      /* subject CN: the credential name */
	const char *san_uri;          /* subjectAltName URI: the workload id */
	int64_t not_before;           /* Unix seconds */
	int64_t not_after;            /* <= the lease's end */
};

/* Issue an X.509v3 leaf: random 128-bit serial, basicConstraints CA:FALSE
 * (critical), keyUsage digitalSignature (+ keyEncipherment for RSA),
 * extKeyUsage serverAuth+clientAuth, subjectKeyIdentifier,
 * authorityKeyIdentifier, SAN URI; signed with SHA-256 (ECDSA or RSA
 * PKCS#1 by the issuer key's type). serial_hex gets the serial in hex. */
a11_err ca_issue(EVP_PKEY *issuer_key, X509 *issuer_cert, const struct ca_request *req,
		 X509 **out, char serial_hex[41]);

#endif
