/* What the PKCS#11 driver programs of the integration tests share
 * (p11_lease.c, p11_fork.c): the module's function list, a monotonic
 * clock, a slot by token label, the private key, its lease expiry.
 * Header-only (static inline): each driver is its own program and uses
 * what it needs. */
#ifndef A11_TEST_P11_DRIVER_H
#define A11_TEST_P11_DRIVER_H

#include <string.h>
#include <time.h>

#include "../../include/attest11/pkcs11.h"

static CK_FUNCTION_LIST_PTR f;

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The slot of the token labelled label, or (CK_SLOT_ID)-1. */
static inline CK_SLOT_ID find_slot(const char *label)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);

	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    strncmp((char *)ti.label, label, len) == 0 && ti.label[len] == ' ')
			return slots[i];
	return (CK_SLOT_ID)-1;
}

static inline CK_OBJECT_HANDLE private_key(CK_SESSION_HANDLE h)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(h, t, 1) == CKR_OK) {
		f->C_FindObjects(h, &o, 1, &n);
		f->C_FindObjectsFinal(h);
	}
	return n == 1 ? o : CK_INVALID_HANDLE;
}

static inline CK_ULONG lease_expires(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { CKA_ATTEST11_LEASE_EXPIRES, &v, sizeof(v) };

	return f->C_GetAttributeValue(h, k, &a, 1) == CKR_OK ? v : 0;
}

#endif
