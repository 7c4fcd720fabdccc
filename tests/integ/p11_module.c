/* attest11.so driven directly (started by tests/integ/pkcs11.sh with a
 * broker, the rig's TPM and ATTEST11_CONF): PKCS#11 semantics that
 * clients rely on, threads, fork, and the TPM's PCR policy at sign time. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "../../include/attest11/pkcs11.h"
#include "../testlib.h"

static CK_FUNCTION_LIST_PTR f;
static void *lib;
static const CK_C_INITIALIZE_ARGS os_locking = { .flags = CKF_OS_LOCKING_OK };

#define PIN ((CK_UTF8CHAR_PTR)"1234")

static int setup(void **state)
{
	CK_C_GetFunctionList get;

	(void)state;
	lib = dlopen(t_env("A11_MODULE"), RTLD_NOW);
	if (lib == NULL || (get = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList")) == NULL)
		return -1;
	return get(&f) == CKR_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	f->C_Finalize(NULL);
	dlclose(lib);
	return 0;
}

static CK_SLOT_ID slot_of(const char *label)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO ti;

	assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++) {
		assert_int_equal(f->C_GetTokenInfo(slots[i], &ti), CKR_OK);
		if (strncmp((char *)ti.label, label, strlen(label)) == 0 && ti.label[strlen(label)] == ' ')
			return slots[i];
	}
	fail_msg("no token %s", label);
	return 0;
}

static CK_SESSION_HANDLE open_rw(const char *label)
{
	CK_SESSION_HANDLE h;

	assert_int_equal(f->C_OpenSession(slot_of(label), CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
					  NULL, &h), CKR_OK);
	return h;
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE o[4];
	CK_ULONG n = 0;

	assert_int_equal(f->C_FindObjectsInit(h, t, 1), CKR_OK);
	assert_int_equal(f->C_FindObjects(h, o, 4, &n), CKR_OK);
	assert_int_equal(f->C_FindObjectsFinal(h), CKR_OK);
	return n >= 1 ? o[0] : CK_INVALID_HANDLE;
}

static void test_before_initialize(void **state)
{
	CK_ULONG n = 0;
	CK_INFO info;
	CK_INTERFACE_PTR iface = NULL;
	CK_VERSION v3 = { 3, 0 };
	CK_C_GetInterface get_iface = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");

	(void)state;
	assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &n),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(f->C_InitToken(0, NULL, 0, NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_non_null(get_iface);
	assert_int_equal(get_iface((CK_UTF8CHAR_PTR)"PKCS 11", &v3, &iface, 0), CKR_OK);
	assert_int_equal(((CK_VERSION *)iface->pFunctionList)->major, 3);
	assert_int_equal(f->C_Initialize((CK_VOID_PTR)&os_locking), CKR_OK);
	assert_int_equal(f->C_Initialize((CK_VOID_PTR)&os_locking), CKR_CRYPTOKI_ALREADY_INITIALIZED);
}

/* A fork child keeps none of the parent's sessions or login (it must call
 * C_Initialize again), so no interface may claim PKCS#11 3.0's
 * CKF_INTERFACE_FORK_SAFE, whose children keep them. */
static void test_interfaces_claim_no_fork_safety(void **state)
{
	CK_C_GetInterfaceList list = (CK_C_GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
	CK_C_GetInterface get = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
	CK_INTERFACE ifs[4], *one = NULL;
	CK_ULONG n = 4;

	(void)state;
	assert_non_null(list);
	assert_non_null(get);
	assert_int_equal(list(ifs, &n), CKR_OK);
	assert_int_equal(n, 2);
	for (CK_ULONG i = 0; i < n; i++)
		assert_int_equal(ifs[i].flags & CKF_INTERFACE_FORK_SAFE, 0);
	assert_int_equal(get(NULL, NULL, &one, 0), CKR_OK);
	assert_int_equal(one->flags & CKF_INTERFACE_FORK_SAFE, 0);
	one = NULL;
	assert_int_equal(get((CK_UTF8CHAR_PTR)"PKCS 11", NULL, &one, CKF_INTERFACE_FORK_SAFE),
			 CKR_ARGUMENTS_BAD);
	assert_null(one);
}

static void test_text_fields_are_padded(void **state)
{
	CK_INFO info;
	CK_TOKEN_INFO ti;

	(void)state;
	assert_int_equal(f->C_GetInfo(&info), CKR_OK);
	assert_memory_equal(info.manufacturerID, "attest11                        ", 32);
	assert_int_equal(f->C_GetTokenInfo(slot_of("ec"), &ti), CKR_OK);
	assert_memory_equal(ti.label, "ec                              ", 32);
	assert_true(ti.flags & CKF_LOGIN_REQUIRED);
	assert_true(ti.flags & CKF_TOKEN_INITIALIZED);
	assert_null(memchr(ti.model, '\0', sizeof(ti.model)));
}

static void test_two_call_convention(void **state)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 0, small = 1;
	CK_MECHANISM_TYPE mechs[64];
	CK_ULONG m = 0;

	(void)state;
	assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(n, 6);
	assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &small), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(small, 6);
	assert_int_equal(f->C_GetMechanismList(slot_of("rsa"), NULL, &m), CKR_OK);
	assert_true(m > 5 && m <= 64);
	small = 1;
	assert_int_equal(f->C_GetMechanismList(slot_of("rsa"), mechs, &small), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(f->C_GetSlotInfo(99, NULL), CKR_SLOT_ID_INVALID);
}

static void test_sessions(void **state)
{
	CK_SESSION_HANDLE a, b;
	CK_SESSION_INFO si;
	CK_SLOT_ID s = slot_of("ec");

	(void)state;
	assert_int_equal(f->C_OpenSession(s, 0, NULL, NULL, &a), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	assert_int_equal(f->C_OpenSession(s, CKF_SERIAL_SESSION, NULL, NULL, &a), CKR_OK);
	assert_int_equal(f->C_OpenSession(s, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &b), CKR_OK);
	assert_true(b > a);
	assert_int_equal(f->C_GetSessionInfo(a, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(f->C_GetSessionInfo(b, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RW_PUBLIC_SESSION);
	assert_int_equal(f->C_CloseSession(a), CKR_OK);
	assert_int_equal(f->C_CloseSession(a), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_CloseAllSessions(s), CKR_OK);
	assert_int_equal(f->C_GetSessionInfo(b, &si), CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f->C_GetFunctionStatus(b), CKR_FUNCTION_NOT_PARALLEL);
}

/* SHA-256 in a public session: no login, no TPM. */
static void test_digest_without_login(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_BYTE out[32], want[32];
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(f->C_DigestInit(h, &m), CKR_OK);
	assert_int_equal(f->C_Digest(h, (CK_BYTE_PTR)"abc", 3, NULL, &n), CKR_OK);
	assert_int_equal(n, 32);
	assert_int_equal(f->C_Digest(h, (CK_BYTE_PTR)"abc", 3, out, &n), CKR_OK);
	EVP_Digest("abc", 3, want, NULL, EVP_sha256(), NULL);
	assert_memory_equal(out, want, 32);
	assert_int_equal(find_one(h, CKO_PRIVATE_KEY), CK_INVALID_HANDLE);
	f->C_CloseSession(h);
}

static void test_login_and_objects(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	CK_OBJECT_HANDLE key, cert;
	CK_BYTE id_key[32], id_cert[32], *value;
	CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE;
	CK_ULONG size = 0;
	CK_SESSION_INFO si;
	CK_ATTRIBUTE a[] = { { CKA_ID, id_key, sizeof(id_key) },
			     { CKA_EXTRACTABLE, &extractable, sizeof(extractable) },
			     { CKA_SENSITIVE, &sensitive, sizeof(sensitive) } };
	CK_ATTRIBUTE secret = { CKA_VALUE, NULL, 0 }, vendor = { CKA_ATTEST11_ATTESTATION_RESULT, NULL, 0 };
	CK_ATTRIBUTE cid = { CKA_ID, id_cert, sizeof(id_cert) }, cval = { CKA_VALUE, NULL, 0 };
	CK_ATTRIBUTE bogus = { 0x7fff0000UL, NULL, 0 };

	(void)state;
	assert_int_equal(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)"0000", 4), CKR_PIN_INCORRECT);
	assert_int_equal(f->C_Login(h, CKU_SO, PIN, 4), CKR_USER_TYPE_INVALID);
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_USER_ALREADY_LOGGED_IN);
	/* PKCS#11 §5.6: the SO cannot log in while the user is. */
	assert_int_equal(f->C_Login(h, CKU_SO, PIN, 4), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
	assert_int_equal(f->C_GetSessionInfo(h, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
	assert_int_not_equal(key = find_one(h, CKO_PRIVATE_KEY), CK_INVALID_HANDLE);
	assert_int_not_equal(cert = find_one(h, CKO_CERTIFICATE), CK_INVALID_HANDLE);
	assert_int_equal(f->C_GetAttributeValue(h, key, a, 3), CKR_OK);
	assert_false(extractable);
	assert_true(sensitive);
	assert_int_equal(f->C_GetAttributeValue(h, cert, &cid, 1), CKR_OK);
	assert_int_equal(cid.ulValueLen, a[0].ulValueLen);
	assert_memory_equal(id_cert, id_key, cid.ulValueLen);
	/* The private value exists and is sensitive; unknown types are invalid. */
	assert_int_equal(f->C_GetAttributeValue(h, key, &secret, 1), CKR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(secret.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(f->C_GetAttributeValue(h, key, &bogus, 1), CKR_ATTRIBUTE_TYPE_INVALID);
	/* Two calls: size, then a buffer one byte short, then the right one. */
	assert_int_equal(f->C_GetAttributeValue(h, cert, &cval, 1), CKR_OK);
	assert_true(cval.ulValueLen > 100);
	value = malloc(cval.ulValueLen);
	cval.pValue = value;
	cval.ulValueLen -= 1;
	assert_int_equal(f->C_GetAttributeValue(h, cert, &cval, 1), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(cval.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	cval.pValue = NULL;
	assert_int_equal(f->C_GetAttributeValue(h, cert, &cval, 1), CKR_OK);
	cval.pValue = value;
	assert_int_equal(f->C_GetAttributeValue(h, cert, &cval, 1), CKR_OK);
	assert_int_equal(value[0], 0x30); /* DER SEQUENCE */
	free(value);
	assert_int_equal(f->C_GetAttributeValue(h, key, &vendor, 1), CKR_OK);
	assert_true(vendor.ulValueLen > 50); /* the EAR JWS */
	assert_int_equal(f->C_GetObjectSize(h, key, &size), CKR_OK);
	assert_true(size > 0);
	f->C_CloseSession(h); /* last session: logs the token out */
}

static void sign_verify(CK_SESSION_HANDLE h, CK_MECHANISM_TYPE mech, int parts)
{
	CK_OBJECT_HANDLE key = find_one(h, CKO_PRIVATE_KEY), pub = find_one(h, CKO_PUBLIC_KEY);
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_BYTE sig[512], data[] = "attest11 data to sign";
	CK_ULONG n = sizeof(sig), len = sizeof(data) - 1;

	assert_int_equal(f->C_SignInit(h, &m, key), CKR_OK);
	if (parts == 1) {
		assert_int_equal(f->C_Sign(h, data, len, sig, &n), CKR_OK);
	} else {
		assert_int_equal(f->C_SignUpdate(h, data, 5), CKR_OK);
		assert_int_equal(f->C_SignUpdate(h, data + 5, len - 5), CKR_OK);
		assert_int_equal(f->C_SignFinal(h, sig, &n), CKR_OK);
	}
	assert_int_equal(f->C_VerifyInit(h, &m, pub), CKR_OK);
	assert_int_equal(f->C_Verify(h, data, len, sig, n), CKR_OK);
}

static void test_sign_single_and_multipart(void **state)
{
	CK_SESSION_HANDLE h = open_rw("rsa");
	CK_OBJECT_HANDLE key;
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	sign_verify(h, CKM_SHA256_RSA_PKCS, 1);
	sign_verify(h, CKM_SHA384_RSA_PKCS, 2);
	key = find_one(h, CKO_PRIVATE_KEY);
	/* Size query keeps the operation; a NULL length pointer ends it. */
	assert_int_equal(f->C_SignInit(h, &m, key), CKR_OK);
	assert_int_equal(f->C_Sign(h, (CK_BYTE_PTR)"x", 1, NULL, &n), CKR_OK);
	assert_int_equal(n, 256);
	assert_int_equal(f->C_Sign(h, (CK_BYTE_PTR)"x", 1, sig, NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Sign(h, (CK_BYTE_PTR)"x", 1, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(f->C_Logout(h), CKR_OK);
	assert_int_equal(f->C_Logout(h), CKR_USER_NOT_LOGGED_IN);
	/* Logout flushed the key: its handle is gone. */
	assert_int_equal(f->C_SignInit(h, &m, key), CKR_KEY_HANDLE_INVALID);
	f->C_CloseSession(h);
}

struct worker {
	CK_SLOT_ID slot;
	int ok;
};

static void *sign_loop(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE h;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE key;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_BYTE sig[128];
	CK_ULONG n, found = 0;

	if (f->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK)
		return NULL;
	f->C_FindObjectsInit(h, &t, 1);
	f->C_FindObjects(h, &key, 1, &found);
	f->C_FindObjectsFinal(h);
	for (int i = 0; found == 1 && i < 25; i++) {
		n = sizeof(sig);
		if (f->C_SignInit(h, &m, key) == CKR_OK &&
		    f->C_Sign(h, (CK_BYTE_PTR)"threads", 7, sig, &n) == CKR_OK && n == 64)
			w->ok++;
	}
	f->C_CloseSession(h);
	return NULL;
}

static void test_threads_sign_at_once(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	pthread_t th[8];
	struct worker w[8];
	int total = 0;

	(void)state;
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ slot_of("ec"), 0 };
		assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	assert_int_equal(total, 8 * 25);
	f->C_CloseSession(h);
}

/* What libp11 does in an nginx worker: after fork, C_Initialize again,
 * log in, find the key by class and id, sign. */
static void test_fork_child_initializes_again(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	CK_SLOT_ID slot = slot_of("ec");
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* No cmocka assertion before C_Initialize: report by exit code. */
		CK_SESSION_HANDLE c;
		int bad = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &c) !=
			  CKR_CRYPTOKI_NOT_INITIALIZED;
		bad |= f->C_Initialize((CK_VOID_PTR)&os_locking) != CKR_OK;
		bad |= f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &c) != CKR_OK;
		bad |= f->C_Login(c, CKU_USER, PIN, 4) != CKR_OK;
		if (!bad)
			sign_verify(c, CKM_ECDSA_SHA256, 1);
		bad |= f->C_Finalize(NULL) != CKR_OK;
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sign_verify(h, CKM_ECDSA_SHA256, 1); /* the parent is unaffected */
	f->C_CloseSession(h);
}

static void test_pcr_change_stops_signing(void **state)
{
	CK_SESSION_HANDLE h = open_rw("bound");
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_BYTE sig[128];
	CK_ULONG n = sizeof(sig);
	char cmd[512];

	(void)state;
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	sign_verify(h, CKM_ECDSA_SHA256, 1);
	snprintf(cmd, sizeof(cmd), "tpm2_pcrextend -T '%s' 16:sha256=%064d >/dev/null",
		 t_env("A11_TCTI"), 7);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(f->C_SignInit(h, &m, find_one(h, CKO_PRIVATE_KEY)), CKR_OK);
	assert_int_equal(f->C_Sign(h, (CK_BYTE_PTR)"x", 1, sig, &n), CKR_ATTEST11_PLATFORM_CHANGED);
	f->C_CloseSession(h);
}

static void test_random_from_the_tpm(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	CK_BYTE a[64] = { 0 }, b[64] = { 0 };

	(void)state;
	assert_int_equal(f->C_GenerateRandom(h, a, sizeof(a)), CKR_OK);
	assert_int_equal(f->C_GenerateRandom(h, b, sizeof(b)), CKR_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	f->C_CloseSession(h);
}

/* The session and the arguments are checked, then the TPM's generator
 * takes no seed: CKR_RANDOM_SEED_NOT_SUPPORTED (PKCS#11 §5.15). */
static void test_seed_random(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	CK_BYTE seed[8] = { 1 };

	(void)state;
	assert_int_equal(f->C_SeedRandom(h, seed, sizeof(seed)), CKR_RANDOM_SEED_NOT_SUPPORTED);
	assert_int_equal(f->C_SeedRandom(h, NULL, 8), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_SeedRandom(h + 1000, seed, sizeof(seed)), CKR_SESSION_HANDLE_INVALID);
	f->C_CloseSession(h);
	assert_int_equal(f->C_SeedRandom(h, seed, sizeof(seed)), CKR_SESSION_HANDLE_INVALID);
}

/* An empty signature (NULL, 0) is a signature of the wrong length, not a
 * bad argument; a NULL one with a length is. Either ends the operation. */
static void test_verify_empty_signature(void **state)
{
	CK_SESSION_HANDLE h = open_rw("ec");
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_OBJECT_HANDLE pub;
	CK_BYTE data[] = "data";

	(void)state;
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	pub = find_one(h, CKO_PUBLIC_KEY);
	assert_int_equal(f->C_VerifyInit(h, &m, pub), CKR_OK);
	assert_int_equal(f->C_Verify(h, data, 4, NULL, 0), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(f->C_Verify(h, data, 4, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
	assert_int_equal(f->C_VerifyInit(h, &m, pub), CKR_OK);
	assert_int_equal(f->C_VerifyUpdate(h, data, 4), CKR_OK);
	assert_int_equal(f->C_VerifyFinal(h, NULL, 0), CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(f->C_VerifyInit(h, &m, pub), CKR_OK);
	assert_int_equal(f->C_Verify(h, data, 4, NULL, 64), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Verify(h, data, 4, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
	f->C_CloseSession(h);
}

/* The application's own mutexes (no CKF_OS_LOCKING_OK): the module must
 * use them, and threads must still sign correctly. */
static int app_locks;

static CK_RV app_create(CK_VOID_PTR_PTR m)
{
	pthread_mutex_t *p = malloc(sizeof(*p));

	if (p == NULL || pthread_mutex_init(p, NULL) != 0)
		return CKR_HOST_MEMORY;
	*m = p;
	return CKR_OK;
}

static CK_RV app_destroy(CK_VOID_PTR m)
{
	pthread_mutex_destroy(m);
	free(m);
	return CKR_OK;
}

static CK_RV app_lock(CK_VOID_PTR m)
{
	__atomic_add_fetch(&app_locks, 1, __ATOMIC_RELAXED);
	return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static CK_RV app_unlock(CK_VOID_PTR m)
{
	return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static void test_application_mutexes(void **state)
{
	CK_C_INITIALIZE_ARGS args = { app_create, app_destroy, app_lock, app_unlock, 0, NULL };
	CK_C_INITIALIZE_ARGS half = { app_create, NULL, NULL, NULL, 0, NULL };
	CK_SESSION_HANDLE h;
	pthread_t th[4];
	struct worker w[4];
	int total = 0;

	(void)state;
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(f->C_Initialize(&half), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Initialize(&args), CKR_OK);
	h = open_rw("ec");
	assert_int_equal(f->C_Login(h, CKU_USER, PIN, 4), CKR_OK);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ slot_of("ec"), 0 };
		assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	assert_int_equal(total, 4 * 25);
	assert_true(app_locks > 100); /* the module locked through our callbacks */
	f->C_CloseSession(h);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	assert_int_equal(f->C_Initialize((CK_VOID_PTR)&os_locking), CKR_OK);
}

/* pReserved must be NULL (PKCS#11 §5.4) but p11-kit passes its
 * x-init-reserved string there: "conf=PATH" is read, any other value is
 * CKR_ARGUMENTS_BAD, never a crash (pkcs11test's InitArgsBadReserved). */
static void test_initialize_reserved(void **state)
{
	char *conf = strdup(t_env("ATTEST11_CONF")), good[4200];
	void *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *bad[] = { (void *)1, none, (void *)"x-init=nonsense", (void *)"conf" };
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_ULONG n = 0;

	(void)state;
	assert_true(none != MAP_FAILED);
	snprintf(good, sizeof(good), "conf=%s", conf);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	unsetenv("ATTEST11_CONF");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args.pReserved = bad[i];
		assert_int_equal(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
		assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	}
	args.pReserved = good;
	assert_int_equal(f->C_Initialize(&args), CKR_OK);
	assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	assert_int_equal(n, 6);
	assert_int_equal(f->C_Finalize(NULL), CKR_OK);
	setenv("ATTEST11_CONF", conf, 1);
	args.pReserved = (void *)1; /* refused whatever the environment says */
	assert_int_equal(f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
	assert_int_equal(f->C_Initialize((CK_VOID_PTR)&os_locking), CKR_OK);
	munmap(none, 4096);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_initialize),
		cmocka_unit_test(test_interfaces_claim_no_fork_safety),
		cmocka_unit_test(test_text_fields_are_padded),
		cmocka_unit_test(test_two_call_convention),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_digest_without_login),
		cmocka_unit_test(test_login_and_objects),
		cmocka_unit_test(test_sign_single_and_multipart),
		cmocka_unit_test(test_threads_sign_at_once),
		cmocka_unit_test(test_fork_child_initializes_again),
		cmocka_unit_test(test_pcr_change_stops_signing),
		cmocka_unit_test(test_random_from_the_tpm),
		cmocka_unit_test(test_seed_random),
		cmocka_unit_test(test_verify_empty_signature),
		cmocka_unit_test(test_application_mutexes),
		cmocka_unit_test(test_initialize_reserved),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
