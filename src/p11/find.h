/* C_FindObjects*, C_GetAttributeValue, C_GetObjectSize (src/p11/find.c). */
#ifndef A11_P11_FIND_H
#define A11_P11_FIND_H

#include "p11.h"

CK_RV p11_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
CK_RV p11_find(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count);
CK_RV p11_find_final(CK_SESSION_HANDLE h);
CK_RV p11_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl,
			      CK_ULONG n);
CK_RV p11_get_object_size(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size);

#endif
