/* What the PKCS#11 driver programs of the integration tests share
 * (p11_lease.c, p11_fork.c, p11_login_fork.c): the module's function
 * list, a monotonic clock, a slot by token label, a session, the private
 * key, its lease expiry, a signature.
 * Header-only (static inline): each driver is its own program and uses
 * what it needs. */
#ifndef A11_TEST_P11_DRIVER_H
#define A11_TEST_P11_DRIVER_H

#include <dlfcn.h>
#include <stdlib.h>
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

/* $A11_MODULE loaded and initialized (OS locking), and a session on the
 * token labelled label: 0, else -1. */
static inline int p11_session(const char *label, CK_SESSION_HANDLE *h)
{
	CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	CK_SLOT_ID slot;
	void *lib = getenv("A11_MODULE") ? dlopen(getenv("A11_MODULE"), RTLD_NOW) : NULL;

	if (lib == NULL || (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK || f->C_Initialize((CK_VOID_PTR)&os) != CKR_OK ||
	    (slot = find_slot(label)) == (CK_SLOT_ID)-1)
		return -1;
	return f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, h) == CKR_OK ? 0 : -1;
}

/* One ECDSA signature of a fixed digest with k. */
static inline CK_RV sign_once(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_BYTE digest[32] = { 1 }, sig[256];
	CK_ULONG len = sizeof(sig);
	CK_RV rv = f->C_SignInit(h, &m, k);

	return rv == CKR_OK ? f->C_Sign(h, digest, sizeof(digest), sig, &len) : rv;
}

#endif
