/* Private keys in the broker's memory (docs/threat-model.md, "Private keys
 * in the broker's memory"): decoded from PEM without leaving copies in
 * freed memory. */
#ifndef A11_BROKER_PRIVKEY_H
#define A11_BROKER_PRIVKEY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

/* The private key of an unencrypted PEM (PKCS#8, SEC1 or PKCS#1), or
 * NULL. The caller still cleanses pem. */
EVP_PKEY *privkey_from_pem(const uint8_t *pem, size_t len);

/* First thing in main, before any allocation by these libraries: every
 * block OpenSSL, jansson and cjose free is wiped before it is freed.
 * 0, or -1 if it came too late (the process must not go on). */
int privkey_wipe_heap(void);

#endif
