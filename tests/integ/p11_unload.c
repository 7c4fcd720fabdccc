/* An application that unloads attest11.so without C_Finalize
 * (pkcs11-provider's `pkcs11-module-quirks = no-deinit`), driven by
 * tests/integ/lifecycle.sh:
 *   A11_MODULE=SO p11_unload LABEL PIN SECONDS
 * logs in (which starts the module's renewal thread), dlcloses the module
 * without finalizing it, then lives SECONDS more: past the renewal the
 * thread planned, when it wakes. Exits 0 if the process got that far. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../include/attest11/pkcs11.h"

static CK_RV login(CK_FUNCTION_LIST_PTR f, const char *label, const char *pin)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE h;
	size_t len = strlen(label);
	CK_RV rv = f->C_GetSlotList(CK_TRUE, slots, &n);

	for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    strncmp((char *)ti.label, label, len) != 0 || ti.label[len] != ' ')
			continue;
		rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &h);
		return rv == CKR_OK ? f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))
				    : rv;
	}
	return rv == CKR_OK ? CKR_SLOT_ID_INVALID : rv;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
	CK_FUNCTION_LIST_PTR f;
	CK_C_GetFunctionList get;
	const char *so = getenv("A11_MODULE");
	void *lib = so != NULL ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
	struct timespec rest;
	CK_RV rv;

	if (argc != 4 || lib == NULL ||
	    (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK || f->C_Initialize(&os) != CKR_OK) {
		fprintf(stderr, "usage: A11_MODULE=SO p11_unload LABEL PIN SECONDS\n");
		return 2;
	}
	rv = login(f, argv[1], argv[2]);
	printf("login rv=0x%lx\n", rv);
	if (rv != CKR_OK)
		return 1;
	/* No C_Finalize: the renewal thread is still there. */
	printf("dlclose %d\n", dlclose(lib));
	fflush(stdout);
	rest = (struct timespec){ .tv_sec = atoi(argv[3]) };
	while (nanosleep(&rest, &rest) != 0)
		;
	printf("alive after %s s\n", argv[3]);
	return 0;
}
