/* The bench drivers' one way to find a token's slot by its label
 * (tests/bench/bench.c, start.c). */
#ifndef A11_BENCH_SLOT_H
#define A11_BENCH_SLOT_H

#include <string.h>

#include "../../include/attest11/pkcs11.h"

/* The slot whose token label is label (space-padded), or (CK_SLOT_ID)-1. */
static inline CK_SLOT_ID slot_of(CK_FUNCTION_LIST_PTR f, const char *label)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32;
	CK_TOKEN_INFO ti;

	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    strncmp((char *)ti.label, label, strlen(label)) == 0 &&
		    ti.label[strlen(label)] == ' ')
			return slots[i];
	return (CK_SLOT_ID)-1;
}

#endif
