/* make bench (tests/bench/process.sh): where one process's start goes,
 * phase by phase, for a PKCS#11 module: dlopen, C_Initialize, the first
 * C_Login (a cached host lease for attest11), one ECDSA C_Sign,
 * C_Finalize.
 *   start MODULE TOKEN PIN
 * Prints "RESULT dlopen_ms=... init_ms=... login_ms=... sign_ms=...
 * fini_ms=...".
 * Links nothing but libc, so that dlopen pays for every library the
 * module brings (pkcs11-tool has libcrypto loaded already: its dlopen is
 * a little cheaper). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../include/attest11/pkcs11.h"
#include "slot.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* C_Login, then the one private key and a signature with it. */
static int login_sign(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h, const char *pin, double *t)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof(cls) };
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_BYTE dg[32] = { 1 }, sig[512];
	CK_ULONG n = 0, len = sizeof(sig);

	if (f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
		return 1;
	t[3] = now_ms();
	if (f->C_FindObjectsInit(h, &tmpl, 1) != CKR_OK || f->C_FindObjects(h, &key, 1, &n) != CKR_OK ||
	    f->C_FindObjectsFinal(h) != CKR_OK || n != 1)
		return 1;
	if (f->C_SignInit(h, &m, key) != CKR_OK || f->C_Sign(h, dg, sizeof(dg), sig, &len) != CKR_OK)
		return 1;
	t[4] = now_ms();
	return 0;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_C_GetFunctionList get;
	CK_SESSION_HANDLE h;
	double t[6];
	void *lib;

	if (argc != 4)
		return 2;
	t[0] = now_ms();
	if ((lib = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL || get(&f) != CKR_OK)
		return 1;
	t[1] = now_ms();
	if (f->C_Initialize(&args) != CKR_OK)
		return 1;
	t[2] = now_ms();
	if (f->C_OpenSession(slot_of(f, argv[2]), CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
	    login_sign(f, h, argv[3], t) != 0)
		return 1;
	if (f->C_Finalize(NULL) != CKR_OK)
		return 1;
	t[5] = now_ms();
	printf("RESULT dlopen_ms=%.2f init_ms=%.2f login_ms=%.2f sign_ms=%.2f fini_ms=%.2f\n",
	       t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4]);
	return 0;
}
