/* The operation entry points behind C_*Init, C_Sign*, C_Verify*,
 * C_Decrypt*, C_Digest*, C_GenerateRandom, C_SeedRandom
 * (src/p11/ops_entry.c). */
#ifndef A11_P11_OPS_ENTRY_H
#define A11_P11_OPS_ENTRY_H

#include "p11.h"

CK_RV p11_op_init(CK_SESSION_HANDLE h, enum p11_op_kind kind, CK_MECHANISM_PTR m,
		  CK_OBJECT_HANDLE key);
CK_RV p11_op_update(CK_SESSION_HANDLE h, enum p11_op_kind kind, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_op_produce(CK_SESSION_HANDLE h, enum p11_op_kind kind, bool single, CK_BYTE_PTR data,
		     CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV p11_op_verify(CK_SESSION_HANDLE h, bool single, CK_BYTE_PTR data, CK_ULONG len,
		    CK_BYTE_PTR sig, CK_ULONG sig_len);
CK_RV p11_generate_random(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len);
CK_RV p11_seed_random(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len);

#endif
