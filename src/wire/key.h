/* TPMT_PUBLIC <-> OpenSSL keys, object Names, and marshalling helpers. */
#ifndef A11_WIRE_KEY_H
#define A11_WIRE_KEY_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

/* Public part of an RSA or ECC TPM object as an OpenSSL key. */
a11_err wire_pub_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out);
/* Fill pub->type and pub->parameters.{rsa,ecc}Detail.{keyBits,exponent,curveID}
 * and pub->unique from key; the caller sets nameAlg, attributes, policy and
 * schemes. RSA-2048/3072/4096 and P-256/P-384/P-521. */
a11_err wire_pub_from_evp(EVP_PKEY *key, TPMT_PUBLIC *pub);

/* A private key from its DER (PKCS#8 or the key type's own form), with a
 * kept decoder context (as d2i_AutoPrivateKey, without setting one up per
 * key). */
a11_err wire_private_from_der(const uint8_t *der, size_t len, EVP_PKEY **out);

/* Whether the certificate carries exactly this public key. */
bool wire_cert_has_key(X509 *cert, const TPMT_PUBLIC *pub);
/* Name = u16(nameAlg) || H(marshalled TPMT_PUBLIC). */
a11_err wire_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name);
/* QN(child) = u16(alg) || H(parent_qn || name), alg = name's nameAlg.
 * For a primary, parent_qn is the hierarchy handle: see wire_hierarchy_qn. */
a11_err wire_qualified_name(const TPM2B_NAME *parent_qn, const TPM2B_NAME *name,
			    TPM2B_NAME *qn);
/* The "qualified name" of a hierarchy: its handle, 4 bytes big-endian. */
void wire_hierarchy_qn(TPM2_HANDLE hierarchy, TPM2B_NAME *qn);

/* Unmarshal exactly len bytes (trailing bytes are an error). */
a11_err wire_parse_public(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out);
a11_err wire_parse_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out);

#endif
