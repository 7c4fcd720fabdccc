/* Signs with attest11.so for a while and reports what an application
 * sees of its lease (driven by tests/integ/lifecycle.sh):
 *   p11_lease LABEL PIN SECONDS [THREADS [nothreads]]
 * logs in, then each thread signs a digest every 50 ms; "nothreads" passes
 * CKF_LIBRARY_CANT_CREATE_OS_THREADS to C_Initialize. Prints a line at
 * every change of C_Sign's result and of the lease expiry the private key
 * object shows, "ear N" (the EAR attribute's length) or "ear absent"
 * after login, "pin flags: ..." (C_GetTokenInfo's CKF_USER_PIN_* after the
 * login, whatever its result), then "signatures N failed N renewals_seen N", the most
 * threads the process had while signing, and how many it has left after
 * C_Finalize. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p11_driver.h"

static CK_SLOT_ID slot;
static const char *pin;
static double t0, seconds;
static atomic_long signatures, failures, renewals;
static atomic_int most_threads;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, unsigned long a, unsigned long b)
{
	pthread_mutex_lock(&out_lock);
	printf("t=%.1f ", now() - t0);
	printf(fmt, a, b);
	putchar('\n');
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* The attestation result the module shows only once verified. */
static void say_ear(CK_SESSION_HANDLE h)
{
	CK_OBJECT_HANDLE k = private_key(h);
	CK_ATTRIBUTE a = { CKA_ATTEST11_ATTESTATION_RESULT, NULL, 0 };
	CK_RV rv = f->C_GetAttributeValue(h, k, &a, 1);

	if (rv == CKR_OK)
		printf("ear %lu\n", a.ulValueLen);
	else
		printf("ear absent (rv=0x%lx)\n", rv);
	fflush(stdout);
}

/* Threads of this process (the module's renewal thread must be gone). */
static int threads(void)
{
	FILE *st = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;

	while (st != NULL && fgets(line, sizeof(line), st) != NULL)
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (st != NULL)
		fclose(st);
	return n;
}

static void *signer(void *arg)
{
	CK_SESSION_HANDLE h;
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_BYTE digest[32] = { 1 }, sig[256];
	CK_RV last = CKR_OK, rv;
	CK_ULONG expires = 0, e, len;
	CK_OBJECT_HANDLE k;
	bool first = arg == NULL;

	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
	    (k = private_key(h)) == CK_INVALID_HANDLE) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	while (now() - t0 < seconds) {
		len = sizeof(sig);
		rv = f->C_SignInit(h, &m, k);
		if (rv == CKR_OK)
			rv = f->C_Sign(h, digest, sizeof(digest), sig, &len);
		atomic_fetch_add(rv == CKR_OK ? &signatures : &failures, 1);
		for (int now_n = threads(), most = atomic_load(&most_threads); now_n > most;)
			if (atomic_compare_exchange_weak(&most_threads, &most, now_n))
				break;
		if (rv != last)
			say("sign rv=0x%lx (was 0x%lx)", rv, last);
		last = rv;
		if (first && (e = lease_expires(h, k)) != expires) {
			if (expires != 0)
				atomic_fetch_add(&renewals, 1);
			say("lease expires %lu (was %lu)", e, expires);
			expires = e;
		}
		usleep(50000);
	}
	f->C_CloseSession(h);
	return NULL;
}

static void say_pin_flags(void)
{
	CK_TOKEN_INFO ti;

	/* Before the signing threads: stdout is this thread's alone. */
	if (f->C_GetTokenInfo(slot, &ti) == CKR_OK)
		printf("pin flags:%s%s%s\n", ti.flags & CKF_USER_PIN_COUNT_LOW ? " count_low" : "",
		       ti.flags & CKF_USER_PIN_FINAL_TRY ? " final_try" : "",
		       ti.flags & CKF_USER_PIN_LOCKED ? " locked" : "");
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	CK_SESSION_HANDLE h;
	pthread_t th[8];
	int n = argc > 4 ? atoi(argv[4]) : 1;
	void *lib = getenv("A11_MODULE") ? dlopen(getenv("A11_MODULE"), RTLD_NOW) : NULL;
	CK_RV rv;

	if (argc > 5 && strcmp(argv[5], "nothreads") == 0)
		os.flags |= CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	if (argc < 4 || n < 1 || n > 8 || lib == NULL ||
	    (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK || f->C_Initialize((CK_VOID_PTR)&os) != CKR_OK ||
	    (slot = find_slot(argv[1])) == (CK_SLOT_ID)-1) {
		fprintf(stderr, "usage: A11_MODULE=SO p11_lease LABEL PIN SECONDS [THREADS]\n");
		return 2;
	}
	pin = argv[2];
	seconds = atof(argv[3]);
	t0 = now();
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h)) == CKR_OK)
		rv = f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	say("login rv=0x%lx slot %lu", rv, slot);
	say_pin_flags();
	if (rv != CKR_OK)
		return 1;
	say_ear(h);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, signer, i == 0 ? NULL : &th[i]);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("signatures %ld failed %ld renewals_seen %ld\n", atomic_load(&signatures),
	       atomic_load(&failures), atomic_load(&renewals));
	printf("most threads while signing: %d\n", atomic_load(&most_threads));
	f->C_Logout(h);
	f->C_Finalize(NULL);
	printf("threads after C_Finalize: %d\n", threads());
	return 0; /* no dlclose: the module's OpenSSL context lives until exit */
}
