/* The module's errors as PKCS#11 return values (docs/pkcs11.md, "Return
 * values"): one mapping, src/p11/ckr.c. */
#ifndef A11_P11_CKR_H
#define A11_P11_CKR_H

#include "../../include/attest11/pkcs11.h"
#include "../common/err.h"

CK_RV ckr_of_err(a11_err e);
/* A broker's refusal code (the wire string of src/proto/refusal.h). */
CK_RV ckr_of_refusal(const char *refusal);

#endif
