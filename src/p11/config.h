/* attest11.conf(5): where the broker is, how to reach the TPM, and one
 * token per credential. */
#ifndef A11_P11_CONFIG_H
#define A11_P11_CONFIG_H

#include "p11.h"

#define P11_DEFAULT_CONF "/etc/attest11/attest11.conf"

/* The file named by $ATTEST11_CONF, else by "conf=PATH" in reserved (the
 * p11-kit module option x-init-reserved), else P11_DEFAULT_CONF. */
const char *config_path(const char *reserved);
/* C_Initialize's non-NULL pReserved, copied into out (cap bytes) if it is
 * a "conf=PATH" string; else CKR_ARGUMENTS_BAD, with a log line. Never
 * faults on an invalid pointer (docs/pkcs11.md, "Configuration"). */
#define P11_RESERVED_MAX (5 + 4095 + 1) /* "conf=", a path below PATH_MAX, NUL */
CK_RV config_reserved(const void *reserved, char *out, size_t cap);
/* CKR_OK, or CKR_GENERAL_ERROR with a log line naming the problem. */
CK_RV config_load(const char *path, struct p11_config *c);

#endif
