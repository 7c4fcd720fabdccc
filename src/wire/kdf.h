/* TPM key derivation functions (TPM 2.0 Part 1 §11.4.10). */
#ifndef A11_WIRE_KDF_H
#define A11_WIRE_KDF_H

#include "hash.h"

/* KDFa: HMAC-based counter KDF. out receives bits/8 bytes (bits % 8 == 0).
 * u/v may be NULL when their length is 0. label is a C string; the NUL is
 * part of the input, as the spec requires. */
a11_err wire_kdfa(TPMI_ALG_HASH alg, const uint8_t *key, size_t key_len,
		  const char *label, const uint8_t *u, size_t u_len,
		  const uint8_t *v, size_t v_len, uint8_t *out, size_t bits);

/* KDFe: hash-based counter KDF for ECDH (Z is the shared x coordinate). */
a11_err wire_kdfe(TPMI_ALG_HASH alg, const uint8_t *z, size_t z_len,
		  const char *use, const uint8_t *pu, size_t pu_len,
		  const uint8_t *pv, size_t pv_len, uint8_t *out, size_t bits);

#endif
