/* C_Initialize, C_Finalize, C_GetInfo (src/p11/init.c). */
#ifndef A11_P11_INIT_H
#define A11_P11_INIT_H

#include "p11.h"

/* Initialized, and not a fork child that must initialize again. */
bool p11_ready(void);
/* Space-padded, not NUL-terminated: PKCS#11 text fields. */
void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src);

CK_RV p11_initialize(CK_VOID_PTR args);
CK_RV p11_finalize(CK_VOID_PTR reserved);
CK_RV p11_get_info(CK_INFO_PTR info);

#endif
