/* Which libraries a login brings into the process (docs/pkcs11.md, "The
 * network object"), driven by tests/integ/netload.sh:
 *   A11_MODULE=SO p11_netload PIN
 * logs in once on the first slot (the configuration has one token), then prints "login rv=0x..", and "curl yes|no" and
 * "net yes|no": whether libcurl and attest11-net.so are mapped now
 * (/proc/self/maps). Exits 0 once it printed all three. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/attest11/pkcs11.h"

static bool mapped(const char *name)
{
	FILE *m = fopen("/proc/self/maps", "r");
	char line[4096];
	bool found = false;

	while (m != NULL && !found && fgets(line, sizeof(line), m) != NULL)
		found = strstr(line, name) != NULL;
	if (m != NULL)
		fclose(m);
	return found;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
	CK_FUNCTION_LIST_PTR f;
	CK_C_GetFunctionList get;
	CK_SLOT_ID slot;
	CK_ULONG n = 1;
	const char *so = getenv("A11_MODULE");
	void *lib = so != NULL ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
	CK_SESSION_HANDLE h;
	CK_RV rv;

	if (argc != 2 || lib == NULL ||
	    (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK || f->C_Initialize(&os) != CKR_OK) {
		fprintf(stderr, "usage: A11_MODULE=SO p11_netload PIN\n");
		return 2;
	}
	rv = f->C_GetSlotList(CK_TRUE, &slot, &n);
	if (rv == CKR_OK)
		rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h);
	if (rv == CKR_OK)
		rv = f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)argv[1], strlen(argv[1]));
	printf("login rv=0x%lx\ncurl %s\nnet %s\n", rv, mapped("libcurl") ? "yes" : "no",
	       mapped("attest11-net.so") ? "yes" : "no");
	f->C_Finalize(NULL);
	return 0;
}
