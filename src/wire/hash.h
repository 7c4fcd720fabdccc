/* TPM hash algorithm identifiers mapped to OpenSSL digests. */
#ifndef A11_WIRE_HASH_H
#define A11_WIRE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"

/* The OpenSSL library context of attest11's own keys. The module runs
 * inside applications whose OpenSSL configuration may route key types to
 * an ENGINE (the pkcs11 engine in nginx and curl routes them back to
 * attest11.so); keys built in this private context always use OpenSSL's
 * default provider. */
OSSL_LIB_CTX *wire_libctx(void);

/* NULL for anything but SHA1/256/384/512. */
const EVP_MD *wire_md(TPMI_ALG_HASH alg);
/* Digest size in bytes, 0 if unsupported. */
size_t wire_digest_size(TPMI_ALG_HASH alg);
/* out must hold wire_digest_size(alg) bytes. */
a11_err wire_hash(TPMI_ALG_HASH alg, const uint8_t *in, size_t len, uint8_t *out);

#endif
