/* make bench: signatures per second and login latency, measured on the
 * same TPM and TCTI, reported as ratios to a raw Esys_Sign loop.
 *   bench raw TCTI ecc|rsa rsassa|rsapss|ecdsa SECONDS
 *   bench p11 MODULE TOKEN PIN ecdsa|rsa-pkcs|rsa-pss SECONDS
 *   bench login MODULE TOKEN PIN COUNT
 * Each prints one line "RESULT key=value ...", for tests/bench/bench.sh. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>

#include "../../include/attest11/pkcs11.h"
#include "../../src/tpm/tpm.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The TPM's own limit: a key born under the SRK, Esys_Sign in a loop. */
static int bench_raw(const char *tcti, const char *alg, const char *scheme, double secs)
{
	struct tpm *t;
	struct tpm_key srk, k;
	TPM2B_PRIVATE priv;
	TPM2B_DIGEST dg = { .size = 32 };
	TPMT_SIGNATURE sig;
	TPM2_ALG_ID s = strcmp(scheme, "rsassa") == 0 ? TPM2_ALG_RSASSA
			: strcmp(scheme, "rsapss") == 0 ? TPM2_ALG_RSAPSS : TPM2_ALG_ECDSA;
	long n = 0;
	double t0;

	if (tpm_open(tcti, &t) != A11_OK || tpm_srk_load(t, TPM2_ALG_RSA, &srk) != A11_OK ||
	    tpm_key_create(t, &srk, strcmp(alg, "rsa") == 0 ? TPM2_ALG_RSA : TPM2_ALG_ECC, NULL,
			   NULL, NULL, &priv, &k) != A11_OK)
		return 1;
	for (t0 = now(); now() - t0 < secs; n++)
		if (tpm_sign(t, &k, s, TPM2_ALG_SHA256, &dg, &sig) != A11_OK)
			return 1;
	printf("RESULT ops_per_s=%.1f n=%ld\n", (double)n / (now() - t0), n);
	tpm_key_release(t, &k);
	tpm_key_release(t, &srk);
	tpm_close(t);
	return 0;
}

static CK_FUNCTION_LIST_PTR load(const char *path)
{
	void *lib = dlopen(path, RTLD_NOW);
	CK_C_GetFunctionList get = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };

	if (get == NULL || get(&f) != CKR_OK || f->C_Initialize(&args) != CKR_OK)
		return NULL;
	return f;
}

static CK_SLOT_ID slot_of(CK_FUNCTION_LIST_PTR f, const char *label)
{
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32;
	CK_TOKEN_INFO ti;

	f->C_GetSlotList(CK_TRUE, slots, &n);
	for (CK_ULONG i = 0; i < n; i++)
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    strncmp((char *)ti.label, label, strlen(label)) == 0 &&
		    ti.label[strlen(label)] == ' ')
			return slots[i];
	return (CK_SLOT_ID)-1;
}

static CK_OBJECT_HANDLE private_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE h)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	f->C_FindObjectsInit(h, &t, 1);
	f->C_FindObjects(h, &o, 1, &n);
	f->C_FindObjectsFinal(h);
	return n == 1 ? o : CK_INVALID_HANDLE;
}

static int bench_p11(const char *path, const char *token, const char *pin, const char *mech,
		     double secs)
{
	CK_FUNCTION_LIST_PTR f = load(path);
	CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE key;
	CK_BYTE dg[32] = { 1 }, sig[512], di[51];
	CK_BYTE *in = dg;
	CK_ULONG in_len = 32, len;
	long n = 0;
	double t0, login;

	if (f == NULL || f->C_OpenSession(slot_of(f, token), CKF_SERIAL_SESSION | CKF_RW_SESSION,
					  NULL, NULL, &h) != CKR_OK)
		return 1;
	t0 = now();
	if (f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
		return 1;
	login = now() - t0;
	if ((key = private_key(f, h)) == CK_INVALID_HANDLE)
		return 1;
	if (strcmp(mech, "rsa-pss") == 0) {
		m = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
	} else if (strcmp(mech, "rsa-pkcs") == 0) {
		/* DigestInfo(SHA-256) || digest, as TLS 1.2 hands it over. */
		static const CK_BYTE prefix[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
						    0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
						    0x00, 0x04, 0x20 };
		memcpy(di, prefix, 19);
		memcpy(di + 19, dg, 32);
		in = di;
		in_len = sizeof(di);
		m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
	}
	for (t0 = now(); now() - t0 < secs; n++) {
		len = sizeof(sig);
		if (f->C_SignInit(h, &m, key) != CKR_OK || f->C_Sign(h, in, in_len, sig, &len) != CKR_OK)
			return 1;
	}
	printf("RESULT ops_per_s=%.1f n=%ld login_ms=%.1f\n", (double)n / (now() - t0), n,
	       login * 1e3);
	f->C_CloseSession(h);
	f->C_Finalize(NULL);
	return 0;
}

/* C_Login end to end, COUNT times: login, logout, one session. */
static int bench_login(const char *path, const char *token, const char *pin, int count)
{
	CK_FUNCTION_LIST_PTR f = load(path);
	CK_SESSION_HANDLE h;
	double *ms = calloc((size_t)count, sizeof(double)), t0;

	if (f == NULL || ms == NULL ||
	    f->C_OpenSession(slot_of(f, token), CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK)
		return 1;
	for (int i = 0; i < count; i++) {
		t0 = now();
		if (f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
			return 1;
		ms[i] = (now() - t0) * 1e3;
		f->C_Logout(h);
	}
	qsort(ms, (size_t)count, sizeof(double), cmp);
	printf("RESULT p50_ms=%.1f p95_ms=%.1f n=%d\n", ms[count / 2], ms[count * 95 / 100], count);
	free(ms);
	f->C_Finalize(NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "raw") == 0)
		return bench_raw(argv[2], argv[3], argv[4], atof(argv[5]));
	if (argc == 7 && strcmp(argv[1], "p11") == 0)
		return bench_p11(argv[2], argv[3], argv[4], argv[5], atof(argv[6]));
	if (argc == 6 && strcmp(argv[1], "login") == 0)
		return bench_login(argv[2], argv[3], argv[4], atoi(argv[5]));
	fputs("usage: see tests/bench/bench.c\n", stderr);
	return 2;
}
