/* make bench: signatures per second and login latency, measured on the
 * same TPM and TCTI, reported as ratios to a raw Esys_Sign loop.
 *   bench raw TCTI ecc|rsa rsassa|rsapss|ecdsa SECONDS
 *   bench lease TCTI ecc|rsa rsassa|rsapss|ecdsa SECONDS [pcr]
 *   bench cmds TCTI COUNT
 *   bench p11 MODULE TOKEN PIN ecdsa|rsa-pkcs|rsa-pss SECONDS
 *   bench login MODULE TOKEN PIN COUNT
 * Each prints one line "RESULT key=value ...", for tests/bench/bench.sh. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_tctildr.h>

#include "../../include/attest11/pkcs11.h"
#include "slot.h"
#include "../../src/broker/approver.h"
#include "../../src/tpm/tpm.h"
#include "../../src/wire/policy.h"

static double now_s(void)
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

static TPM2_ALG_ID scheme_of(const char *scheme)
{
	return strcmp(scheme, "rsassa") == 0 ? TPM2_ALG_RSASSA
	       : strcmp(scheme, "rsapss") == 0 ? TPM2_ALG_RSAPSS : TPM2_ALG_ECDSA;
}

/* The TPM's own limit: a key born under the SRK, Esys_Sign in a loop. */
static int bench_raw(const char *tcti, const char *alg, const char *scheme, double secs)
{
	struct tpm *t;
	struct tpm_key srk, k;
	TPM2B_PRIVATE priv;
	TPM2B_DIGEST dg = { .size = 32 };
	TPMT_SIGNATURE sig;
	TPM2_ALG_ID s = scheme_of(scheme);
	long n = 0;
	double t0;

	if (tpm_open(tcti, &t) != A11_OK || tpm_srk_load(t, TPM2_ALG_RSA, &srk) != A11_OK ||
	    tpm_key_create(t, &srk, strcmp(alg, "rsa") == 0 ? TPM2_ALG_RSA : TPM2_ALG_ECC, NULL,
			   NULL, NULL, &priv, &k) != A11_OK)
		return 1;
	for (t0 = now_s(); now_s() - t0 < secs; n++)
		if (tpm_sign(t, &k, s, TPM2_ALG_SHA256, &dg, &sig) != A11_OK)
			return 1;
	printf("RESULT ops_per_s=%.1f n=%ld\n", (double)n / (now_s() - t0), n);
	tpm_key_release(t, &k);
	tpm_key_release(t, &srk);
	tpm_close(t);
	return 0;
}

/* A broker approver (src/broker/approver.c) of our own, its files gone. */
static struct approver *bench_approver(void)
{
	char dir[] = "/tmp/a11-bench-XXXXXX", priv[64], pub[64];
	struct approver *a = NULL;

	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(priv, sizeof(priv), "%s/a.pem", dir);
	snprintf(pub, sizeof(pub), "%s/a.pub.pem", dir);
	if (approver_keygen(priv, pub) != A11_OK || approver_load(priv, &a) != A11_OK)
		a = NULL;
	unlink(priv);
	unlink(pub);
	rmdir(dir);
	return a;
}

/* The lease policy as every released key has it (docs/protocol.md,
 * "Leases"): authPolicy = PolicyAuthorize(approver, policyRef), an
 * authValue; each use runs, on the key's kept policy session,
 * PolicyCounterTimer(clock <=), PolicyCounterTimer(resetCount ==),
 * [PolicyPCR], PolicyAuthValue, PolicyAuthorize(ticket), then Sign. The
 * same src/tpm calls attest11.so makes, without PKCS#11 around them. */
static int bench_lease(const char *tcti, const char *alg, const char *scheme, double secs,
		       bool pcr)
{
	/* The default bench policy's selection: sha256 PCRs 0-7. */
	const TPML_PCR_SELECTION sel = { .count = 1, .pcrSelections = { {
		.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0xff, 0, 0 } } } };
	struct approver *a = bench_approver();
	struct tpm *t;
	struct tpm_key srk, k;
	struct tpm_policy pol = { .lease = true, .auth_value = true, .pcr = pcr };
	struct tpm_lease *l = &k.policy.terms;
	struct a11_pcr_values vals = { 0 };
	struct wire_lease_terms terms = { .auth_value = true, .values = &vals };
	TPM2B_AUTH auth = { .size = 32 };
	TPM2B_PRIVATE priv;
	TPM2B_DIGEST key_policy, ahash, dg = { .size = 32 };
	TPMS_TIME_INFO now;
	TPMT_SIGNATURE sig;
	uint8_t ref[32];
	long n = 0;
	double t0;

	pol.pcrs = sel;
	memset(auth.buffer, 0x5a, auth.size);
	if (a == NULL || RAND_bytes(ref, sizeof(ref)) != 1 ||
	    wire_key_policy(&approver_public(a)->publicArea, ref, sizeof(ref), &key_policy) != A11_OK ||
	    tpm_open(tcti, &t) != A11_OK || tpm_srk_load(t, TPM2_ALG_RSA, &srk) != A11_OK ||
	    tpm_key_create(t, &srk, strcmp(alg, "rsa") == 0 ? TPM2_ALG_RSA : TPM2_ALG_ECC, &auth,
			   &key_policy, &pol, &priv, &k) != A11_OK)
		return 1;
	/* One lease period, approved the broker's way (src/broker/evidence.c
	 * approve()) and verified by the TPM, as attester_adopt does. */
	if (tpm_read_clock(t, &now) != A11_OK || (pcr && tpm_pcr_read(t, &sel, &vals) != A11_OK))
		return 1;
	terms.clock_end = now.clockInfo.clock + (uint64_t)(secs + 600) * 1000u;
	terms.reset_count = now.clockInfo.resetCount;
	terms.pcrs = pcr ? &sel : NULL;
	*l = (struct tpm_lease){ .clock_end = terms.clock_end, .reset_count = terms.reset_count,
				 .policy_ref = { .size = sizeof(ref) } };
	memcpy(l->policy_ref.buffer, ref, sizeof(ref));
	if (wire_lease_policy(&terms, &l->approved) != A11_OK ||
	    wire_approval_digest(&l->approved, ref, sizeof(ref), &ahash) != A11_OK ||
	    approver_sign(a, &ahash, &sig) != A11_OK ||
	    tpm_verify_approval(t, approver_public(a), &ahash, &sig, l) != A11_OK)
		return 1;
	for (t0 = now_s(); now_s() - t0 < secs; n++)
		if (tpm_sign(t, &k, scheme_of(scheme), TPM2_ALG_SHA256, &dg, &sig) != A11_OK)
			return 1;
	printf("RESULT ops_per_s=%.1f n=%ld\n", (double)n / (now_s() - t0), n);
	tpm_key_release(t, &k);
	tpm_key_release(t, &srk);
	tpm_close(t);
	approver_free(a);
	return 0;
}

/* What one TPM command costs through the TCTI, by kind of command: one
 * without handles (ReadClock), a policy command on a kept session (the
 * resource manager loads and saves the session around it), and a
 * password-authorized Sign with a transient key (it loads the key). Mean
 * of COUNT, microseconds. Esys directly, to leave src/tpm out of it. */
static int bench_cmds(const char *tcti, int count)
{
	const TPMT_SYM_DEF none = { .algorithm = TPM2_ALG_NULL };
	const TPM2B_SENSITIVE_CREATE sens = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION nopcr = { 0 };
	const TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	const TPMT_SIG_SCHEME ecdsa = { .scheme = TPM2_ALG_ECDSA,
					.details.ecdsa.hashAlg = TPM2_ALG_SHA256 };
	TPM2B_OPERAND big = { .size = 8, .buffer = { 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	TPM2B_PUBLIC tmpl = { .publicArea = {
		.type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			TPMA_OBJECT_SIGN_ENCRYPT,
		.parameters.eccDetail = { .symmetric.algorithm = TPM2_ALG_NULL,
					  .scheme.scheme = TPM2_ALG_NULL,
					  .curveID = TPM2_ECC_NIST_P256,
					  .kdf.scheme = TPM2_ALG_NULL } } };
	TPM2B_DIGEST dg = { .size = 32 };
	TSS2_TCTI_CONTEXT *tc = NULL;
	ESYS_CONTEXT *e = NULL;
	ESYS_TR sess = ESYS_TR_NONE, key = ESYS_TR_NONE;
	const char *name[] = { "ReadClock", "PolicyAuthValue", "PolicyCounterTimer", "Sign" };
	double us[4], t0;
	TSS2_RC rc;

	if (Tss2_TctiLdr_Initialize(tcti, &tc) != TSS2_RC_SUCCESS ||
	    Esys_Initialize(&e, tc, NULL) != TSS2_RC_SUCCESS ||
	    Esys_StartAuthSession(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &none, TPM2_ALG_SHA256,
				  &sess) != TSS2_RC_SUCCESS ||
	    Esys_CreatePrimary(e, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			       &sens, &tmpl, &outside, &nopcr, &key, NULL, NULL, NULL,
			       NULL) != TSS2_RC_SUCCESS)
		return 1;
	for (int c = 0; c < 4; c++) {
		t0 = now_s();
		for (int i = 0; i < count; i++) {
			TPMS_TIME_INFO *ti = NULL;
			TPMT_SIGNATURE *sig = NULL;

			if (c == 0)
				rc = Esys_ReadClock(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti);
			else if (c == 1)
				rc = Esys_PolicyAuthValue(e, sess, ESYS_TR_NONE, ESYS_TR_NONE,
							  ESYS_TR_NONE);
			else if (c == 2)
				rc = Esys_PolicyCounterTimer(e, sess, ESYS_TR_NONE, ESYS_TR_NONE,
							     ESYS_TR_NONE, &big, 8,
							     TPM2_EO_UNSIGNED_LE);
			else
				rc = Esys_Sign(e, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
					       &dg, &ecdsa, &check, &sig);
			Esys_Free(ti);
			Esys_Free(sig);
			if (rc != TSS2_RC_SUCCESS)
				return 1;
		}
		us[c] = (now_s() - t0) * 1e6 / count;
	}
	printf("RESULT");
	for (int c = 0; c < 4; c++)
		printf(" %s_us=%.0f", name[c], us[c]);
	printf(" n=%d\n", count);
	Esys_FlushContext(e, key);
	Esys_FlushContext(e, sess);
	Esys_Finalize(&e);
	Tss2_TctiLdr_Finalize(&tc);
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
	t0 = now_s();
	if (f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
		return 1;
	login = now_s() - t0;
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
	for (t0 = now_s(); now_s() - t0 < secs; n++) {
		len = sizeof(sig);
		if (f->C_SignInit(h, &m, key) != CKR_OK || f->C_Sign(h, in, in_len, sig, &len) != CKR_OK)
			return 1;
	}
	printf("RESULT ops_per_s=%.1f n=%ld login_ms=%.1f\n", (double)n / (now_s() - t0), n,
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
		t0 = now_s();
		if (f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
			return 1;
		ms[i] = (now_s() - t0) * 1e3;
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
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "lease") == 0)
		return bench_lease(argv[2], argv[3], argv[4], atof(argv[5]),
				   argc == 7 && strcmp(argv[6], "pcr") == 0);
	if (argc == 4 && strcmp(argv[1], "cmds") == 0)
		return bench_cmds(argv[2], atoi(argv[3]));
	if (argc == 7 && strcmp(argv[1], "p11") == 0)
		return bench_p11(argv[2], argv[3], argv[4], argv[5], atof(argv[6]));
	if (argc == 6 && strcmp(argv[1], "login") == 0)
		return bench_login(argv[2], argv[3], argv[4], atoi(argv[5]));
	fputs("usage: see tests/bench/bench.c\n", stderr);
	return 2;
}
