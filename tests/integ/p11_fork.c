/* fork() while a renewal waits for the broker (driven by
 * tests/integ/fault.sh, which stops the broker with SIGSTOP):
 *   p11_fork LABEL PIN FORK_AT RENEW_WAIT
 * logs in, sleeps until FORK_AT seconds after the login (the renewal is
 * then due and stuck in its HTTP request), forks (the child exits at
 * once), prints "fork ms N" (how long fork() took in the parent), then
 * waits up to RENEW_WAIT seconds for the lease expiry the private key
 * shows to move (the renewal, done on a reopened TPM connection once the
 * broker runs again), signs, and prints "renewed after fork" and
 * "sign rv=0x..". */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../include/attest11/pkcs11.h"

static CK_FUNCTION_LIST_PTR f;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CK_SLOT_ID find_slot(const char *label)
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

static CK_OBJECT_HANDLE private_key(CK_SESSION_HANDLE h)
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

static CK_ULONG lease_expires(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { CKA_ATTEST11_LEASE_EXPIRES, &v, sizeof(v) };

	return f->C_GetAttributeValue(h, k, &a, 1) == CKR_OK ? v : 0;
}

static CK_RV sign(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_BYTE digest[32] = { 1 }, sig[256];
	CK_ULONG len = sizeof(sig);
	CK_RV rv = f->C_SignInit(h, &m, k);

	return rv == CKR_OK ? f->C_Sign(h, digest, sizeof(digest), sig, &len) : rv;
}

/* fork() in the parent, timed; the child leaves at once, untouched. */
static double timed_fork(void)
{
	double t = now();
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	t = now() - t;
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid > 0 ? t * 1e3 : -1;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE k;
	CK_ULONG before;
	CK_SLOT_ID slot;
	void *lib = getenv("A11_MODULE") ? dlopen(getenv("A11_MODULE"), RTLD_NOW) : NULL;
	double t0 = now(), until;

	if (argc != 5 || lib == NULL ||
	    (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK || f->C_Initialize((CK_VOID_PTR)&os) != CKR_OK ||
	    (slot = find_slot(argv[1])) == (CK_SLOT_ID)-1 ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
	    f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2])) != CKR_OK ||
	    (k = private_key(h)) == CK_INVALID_HANDLE) {
		fprintf(stderr, "usage: A11_MODULE=SO p11_fork LABEL PIN FORK_AT RENEW_WAIT "
				"(or the login failed)\n");
		return 2;
	}
	before = lease_expires(h, k);
	printf("logged in\n");
	fflush(stdout);
	while (now() - t0 < atof(argv[3]))
		usleep(10000);
	printf("fork ms %.0f\n", timed_fork());
	fflush(stdout);
	for (until = now() + atof(argv[4]); now() < until && lease_expires(h, k) == before;)
		usleep(100000);
	if (lease_expires(h, k) != before)
		printf("renewed after fork\n");
	printf("sign rv=0x%lx\n", sign(h, k));
	f->C_Logout(h);
	f->C_Finalize(NULL);
	return 0; /* no dlclose: the module's OpenSSL context lives until exit */
}
