/* The PKCS#11 entry points: each one line, naming what it does; the
 * checks every call needs live in the functions they call. Only
 * C_GetFunctionList, C_GetInterfaceList and C_GetInterface are exported
 * (src/p11/attest11.map). Functions attest11 does not offer return
 * CKR_FUNCTION_NOT_SUPPORTED once initialized (docs/pkcs11.md). */
#include <string.h>

#include "../common/log.h"
#include "find.h"
#include "init.h"
#include "ops_entry.h"
#include "session.h"
#include "slot.h"

#define EXPORT __attribute__((visibility("default")))

/* Every call and its return value, at debug level (ATTEST11_LOG=debug). */
#define TRACE(call) do { CK_RV rv_ = (call); log_debug("rv 0x%lx", (unsigned long)rv_); \
		return rv_; } while (0)

static CK_RV not_supported(void)
{
	return p11_ready() ? CKR_FUNCTION_NOT_SUPPORTED : CKR_CRYPTOKI_NOT_INITIALIZED;
}

/* PKCS#11 §5.16: no parallel functions, so nothing to ask or cancel. */
static CK_RV not_parallel(void)
{
	return p11_ready() ? CKR_FUNCTION_NOT_PARALLEL : CKR_CRYPTOKI_NOT_INITIALIZED;
}

static CK_RV a11_C_Initialize(CK_VOID_PTR a) { TRACE(p11_initialize(a)); }
static CK_RV a11_C_Finalize(CK_VOID_PTR r) { TRACE(p11_finalize(r)); }
static CK_RV a11_C_GetInfo(CK_INFO_PTR i) { TRACE(p11_get_info(i)); }
static CK_RV a11_C_GetSlotList(CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n) { TRACE(p11_get_slot_list(p, l, n)); }
static CK_RV a11_C_GetSlotInfo(CK_SLOT_ID s, CK_SLOT_INFO_PTR i) { TRACE(p11_get_slot_info(s, i)); }
static CK_RV a11_C_GetTokenInfo(CK_SLOT_ID s, CK_TOKEN_INFO_PTR i) { TRACE(p11_get_token_info(s, i)); }
static CK_RV a11_C_GetMechanismList(CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n) { TRACE(p11_get_mechanism_list(s, l, n)); }
static CK_RV a11_C_GetMechanismInfo(CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i) { TRACE(p11_get_mechanism_info(s, t, i)); }
static CK_RV a11_C_InitToken(CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR l) { (void)s; (void)p; (void)n; (void)l; return not_supported(); }
static CK_RV a11_C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR p, CK_ULONG n) { (void)h; (void)p; (void)n; return not_supported(); }
static CK_RV a11_C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR n, CK_ULONG nn) { (void)h; (void)o; (void)on; (void)n; (void)nn; return not_supported(); }
static CK_RV a11_C_OpenSession(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n, CK_SESSION_HANDLE_PTR h) { (void)a; (void)n; TRACE(p11_open_session(s, f, h)); }
static CK_RV a11_C_CloseSession(CK_SESSION_HANDLE h) { TRACE(p11_close_session(h)); }
static CK_RV a11_C_CloseAllSessions(CK_SLOT_ID s) { TRACE(p11_close_all_sessions(s)); }
static CK_RV a11_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i) { TRACE(p11_get_session_info(h, i)); }
static CK_RV a11_C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG_PTR n) { (void)h; (void)s; (void)n; return not_supported(); }
static CK_RV a11_C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG n, CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a) { (void)h; (void)s; (void)n; (void)e; (void)a; return not_supported(); }
static CK_RV a11_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n) { TRACE(p11_login(h, u, p, n)); }
static CK_RV a11_C_Logout(CK_SESSION_HANDLE h) { TRACE(p11_logout(h)); }
static CK_RV a11_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o) { (void)h; (void)t; (void)n; (void)o; return not_supported(); }
static CK_RV a11_C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR no) { (void)h; (void)o; (void)t; (void)n; (void)no; return not_supported(); }
static CK_RV a11_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o) { (void)h; (void)o; return not_supported(); }
static CK_RV a11_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG_PTR n) { TRACE(p11_get_object_size(h, o, n)); }
static CK_RV a11_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) { TRACE(p11_get_attribute_value(h, o, t, n)); }
static CK_RV a11_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n) { (void)h; (void)o; (void)t; (void)n; return not_supported(); }
static CK_RV a11_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n) { TRACE(p11_find_init(h, t, n)); }
static CK_RV a11_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n) { TRACE(p11_find(h, o, m, n)); }
static CK_RV a11_C_FindObjectsFinal(CK_SESSION_HANDLE h) { TRACE(p11_find_final(h)); }
static CK_RV a11_C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { TRACE(p11_op_init(h, OP_DECRYPT, m, k)); }
static CK_RV a11_C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { TRACE(p11_op_produce(h, OP_DECRYPT, true, d, n, o, on)); }
static CK_RV a11_C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m) { TRACE(p11_op_init(h, OP_DIGEST, m, CK_INVALID_HANDLE)); }
static CK_RV a11_C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { TRACE(p11_op_produce(h, OP_DIGEST, true, d, n, o, on)); }
static CK_RV a11_C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n) { TRACE(p11_op_update(h, OP_DIGEST, d, n)); }
static CK_RV a11_C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k) { (void)h; (void)k; return not_supported(); }
static CK_RV a11_C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on) { TRACE(p11_op_produce(h, OP_DIGEST, false, NULL, 0, o, on)); }
static CK_RV a11_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { TRACE(p11_op_init(h, OP_SIGN, m, k)); }
static CK_RV a11_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { TRACE(p11_op_produce(h, OP_SIGN, true, d, n, o, on)); }
static CK_RV a11_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n) { TRACE(p11_op_update(h, OP_SIGN, d, n)); }
static CK_RV a11_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on) { TRACE(p11_op_produce(h, OP_SIGN, false, NULL, 0, o, on)); }
static CK_RV a11_C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { TRACE(p11_op_init(h, OP_VERIFY, m, k)); }
static CK_RV a11_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR s, CK_ULONG sn) { TRACE(p11_op_verify(h, true, d, n, s, sn)); }
static CK_RV a11_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n) { TRACE(p11_op_update(h, OP_VERIFY, d, n)); }
static CK_RV a11_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sn) { TRACE(p11_op_verify(h, false, NULL, 0, s, sn)); }
static CK_RV a11_C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)s; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)d; (void)n; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k) { (void)h; (void)m; (void)t; (void)n; (void)k; return not_supported(); }
static CK_RV a11_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR vt, CK_ULONG vn, CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR vk) { (void)h; (void)m; (void)pt; (void)pn; (void)vt; (void)vn; (void)pk; (void)vk; return not_supported(); }
static CK_RV a11_C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE k, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)m; (void)w; (void)k; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, CK_BYTE_PTR w, CK_ULONG wn, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k) { (void)h; (void)m; (void)u; (void)w; (void)wn; (void)t; (void)n; (void)k; return not_supported(); }
static CK_RV a11_C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k) { (void)h; (void)m; (void)b; (void)t; (void)n; (void)k; return not_supported(); }
static CK_RV a11_C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG n) { TRACE(p11_seed_random(h, s, n)); }
static CK_RV a11_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG n) { TRACE(p11_generate_random(h, o, n)); }
static CK_RV a11_C_GetFunctionStatus(CK_SESSION_HANDLE h) { (void)h; return not_parallel(); }
static CK_RV a11_C_CancelFunction(CK_SESSION_HANDLE h) { (void)h; return not_parallel(); }
static CK_RV a11_C_WaitForSlotEvent(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r) { (void)f; (void)s; (void)r; return not_supported(); }

/* PKCS#11 3.0 additions attest11 does not offer. */
static CK_RV a11_C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG pn, CK_UTF8CHAR_PTR n, CK_ULONG nn) { (void)h; (void)u; (void)p; (void)pn; (void)n; (void)nn; return not_supported(); }
static CK_RV a11_C_SessionCancel(CK_SESSION_HANDLE h, CK_FLAGS f) { (void)h; (void)f; return not_supported(); }
static CK_RV a11_C_MessageEncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_EncryptMessage(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)p; (void)pn; (void)a; (void)an; (void)d; (void)dn; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_EncryptMessageBegin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an) { (void)h; (void)p; (void)pn; (void)a; (void)an; return not_supported(); }
static CK_RV a11_C_EncryptMessageNext(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on, CK_FLAGS f) { (void)h; (void)p; (void)pn; (void)d; (void)dn; (void)o; (void)on; (void)f; return not_supported(); }
static CK_RV a11_C_MessageEncryptFinal(CK_SESSION_HANDLE h) { (void)h; return not_supported(); }
static CK_RV a11_C_MessageDecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_DecryptMessage(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on) { (void)h; (void)p; (void)pn; (void)a; (void)an; (void)d; (void)dn; (void)o; (void)on; return not_supported(); }
static CK_RV a11_C_DecryptMessageBegin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an) { (void)h; (void)p; (void)pn; (void)a; (void)an; return not_supported(); }
static CK_RV a11_C_DecryptMessageNext(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR o, CK_ULONG_PTR on, CK_FLAGS f) { (void)h; (void)p; (void)pn; (void)d; (void)dn; (void)o; (void)on; (void)f; return not_supported(); }
static CK_RV a11_C_MessageDecryptFinal(CK_SESSION_HANDLE h) { (void)h; return not_supported(); }
static CK_RV a11_C_MessageSignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_SignMessage(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG_PTR sn) { (void)h; (void)p; (void)pn; (void)d; (void)dn; (void)s; (void)sn; return not_supported(); }
static CK_RV a11_C_SignMessageBegin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn) { (void)h; (void)p; (void)pn; return not_supported(); }
static CK_RV a11_C_SignMessageNext(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG_PTR sn) { (void)h; (void)p; (void)pn; (void)d; (void)dn; (void)s; (void)sn; return not_supported(); }
static CK_RV a11_C_MessageSignFinal(CK_SESSION_HANDLE h) { (void)h; return not_supported(); }
static CK_RV a11_C_MessageVerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { (void)h; (void)m; (void)k; return not_supported(); }
static CK_RV a11_C_VerifyMessage(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG sn) { (void)h; (void)p; (void)pn; (void)d; (void)dn; (void)s; (void)sn; return not_supported(); }
static CK_RV a11_C_VerifyMessageBegin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn) { (void)h; (void)p; (void)pn; return not_supported(); }
static CK_RV a11_C_VerifyMessageNext(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR s, CK_ULONG sn) { (void)h; (void)p; (void)pn; (void)d; (void)dn; (void)s; (void)sn; return not_supported(); }
static CK_RV a11_C_MessageVerifyFinal(CK_SESSION_HANDLE h) { (void)h; return not_supported(); }

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);
EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count);
EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
			    CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags);

static CK_RV a11_C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count);
static CK_RV a11_C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
				CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags);

/* The v2.40 functions, shared by both function lists. */
#define FUNCTIONS_2_40 \
	.C_Initialize = a11_C_Initialize, \
	.C_Finalize = a11_C_Finalize, \
	.C_GetInfo = a11_C_GetInfo, \
	.C_GetFunctionList = C_GetFunctionList, \
	.C_GetSlotList = a11_C_GetSlotList, \
	.C_GetSlotInfo = a11_C_GetSlotInfo, \
	.C_GetTokenInfo = a11_C_GetTokenInfo, \
	.C_GetMechanismList = a11_C_GetMechanismList, \
	.C_GetMechanismInfo = a11_C_GetMechanismInfo, \
	.C_InitToken = a11_C_InitToken, \
	.C_InitPIN = a11_C_InitPIN, \
	.C_SetPIN = a11_C_SetPIN, \
	.C_OpenSession = a11_C_OpenSession, \
	.C_CloseSession = a11_C_CloseSession, \
	.C_CloseAllSessions = a11_C_CloseAllSessions, \
	.C_GetSessionInfo = a11_C_GetSessionInfo, \
	.C_GetOperationState = a11_C_GetOperationState, \
	.C_SetOperationState = a11_C_SetOperationState, \
	.C_Login = a11_C_Login, \
	.C_Logout = a11_C_Logout, \
	.C_CreateObject = a11_C_CreateObject, \
	.C_CopyObject = a11_C_CopyObject, \
	.C_DestroyObject = a11_C_DestroyObject, \
	.C_GetObjectSize = a11_C_GetObjectSize, \
	.C_GetAttributeValue = a11_C_GetAttributeValue, \
	.C_SetAttributeValue = a11_C_SetAttributeValue, \
	.C_FindObjectsInit = a11_C_FindObjectsInit, \
	.C_FindObjects = a11_C_FindObjects, \
	.C_FindObjectsFinal = a11_C_FindObjectsFinal, \
	.C_EncryptInit = a11_C_EncryptInit, \
	.C_Encrypt = a11_C_Encrypt, \
	.C_EncryptUpdate = a11_C_EncryptUpdate, \
	.C_EncryptFinal = a11_C_EncryptFinal, \
	.C_DecryptInit = a11_C_DecryptInit, \
	.C_Decrypt = a11_C_Decrypt, \
	.C_DecryptUpdate = a11_C_DecryptUpdate, \
	.C_DecryptFinal = a11_C_DecryptFinal, \
	.C_DigestInit = a11_C_DigestInit, \
	.C_Digest = a11_C_Digest, \
	.C_DigestUpdate = a11_C_DigestUpdate, \
	.C_DigestKey = a11_C_DigestKey, \
	.C_DigestFinal = a11_C_DigestFinal, \
	.C_SignInit = a11_C_SignInit, \
	.C_Sign = a11_C_Sign, \
	.C_SignUpdate = a11_C_SignUpdate, \
	.C_SignFinal = a11_C_SignFinal, \
	.C_SignRecoverInit = a11_C_SignRecoverInit, \
	.C_SignRecover = a11_C_SignRecover, \
	.C_VerifyInit = a11_C_VerifyInit, \
	.C_Verify = a11_C_Verify, \
	.C_VerifyUpdate = a11_C_VerifyUpdate, \
	.C_VerifyFinal = a11_C_VerifyFinal, \
	.C_VerifyRecoverInit = a11_C_VerifyRecoverInit, \
	.C_VerifyRecover = a11_C_VerifyRecover, \
	.C_DigestEncryptUpdate = a11_C_DigestEncryptUpdate, \
	.C_DecryptDigestUpdate = a11_C_DecryptDigestUpdate, \
	.C_SignEncryptUpdate = a11_C_SignEncryptUpdate, \
	.C_DecryptVerifyUpdate = a11_C_DecryptVerifyUpdate, \
	.C_GenerateKey = a11_C_GenerateKey, \
	.C_GenerateKeyPair = a11_C_GenerateKeyPair, \
	.C_WrapKey = a11_C_WrapKey, \
	.C_UnwrapKey = a11_C_UnwrapKey, \
	.C_DeriveKey = a11_C_DeriveKey, \
	.C_SeedRandom = a11_C_SeedRandom, \
	.C_GenerateRandom = a11_C_GenerateRandom, \
	.C_GetFunctionStatus = a11_C_GetFunctionStatus, \
	.C_CancelFunction = a11_C_CancelFunction, \
	.C_WaitForSlotEvent = a11_C_WaitForSlotEvent,

static CK_FUNCTION_LIST functions = {
	.version = { 2, 40 },
	FUNCTIONS_2_40
};

static CK_FUNCTION_LIST_3_0 functions_3_0 = {
	.version = { 3, 0 },
	FUNCTIONS_2_40
	.C_GetInterfaceList = a11_C_GetInterfaceList,
	.C_GetInterface = a11_C_GetInterface,
	.C_LoginUser = (void *)a11_C_LoginUser,
	.C_SessionCancel = (void *)a11_C_SessionCancel,
	.C_MessageEncryptInit = (void *)a11_C_MessageEncryptInit,
	.C_EncryptMessage = (void *)a11_C_EncryptMessage,
	.C_EncryptMessageBegin = (void *)a11_C_EncryptMessageBegin,
	.C_EncryptMessageNext = (void *)a11_C_EncryptMessageNext,
	.C_MessageEncryptFinal = (void *)a11_C_MessageEncryptFinal,
	.C_MessageDecryptInit = (void *)a11_C_MessageDecryptInit,
	.C_DecryptMessage = (void *)a11_C_DecryptMessage,
	.C_DecryptMessageBegin = (void *)a11_C_DecryptMessageBegin,
	.C_DecryptMessageNext = (void *)a11_C_DecryptMessageNext,
	.C_MessageDecryptFinal = (void *)a11_C_MessageDecryptFinal,
	.C_MessageSignInit = (void *)a11_C_MessageSignInit,
	.C_SignMessage = (void *)a11_C_SignMessage,
	.C_SignMessageBegin = (void *)a11_C_SignMessageBegin,
	.C_SignMessageNext = (void *)a11_C_SignMessageNext,
	.C_MessageSignFinal = (void *)a11_C_MessageSignFinal,
	.C_MessageVerifyInit = (void *)a11_C_MessageVerifyInit,
	.C_VerifyMessage = (void *)a11_C_VerifyMessage,
	.C_VerifyMessageBegin = (void *)a11_C_VerifyMessageBegin,
	.C_VerifyMessageNext = (void *)a11_C_VerifyMessageNext,
	.C_MessageVerifyFinal = (void *)a11_C_MessageVerifyFinal,
};

/* No flags: CKF_INTERFACE_FORK_SAFE (PKCS#11 3.0 §5.2) promises a fork
 * child the parent's sessions, login and operations; ours keeps none of
 * them and must call C_Initialize again (docs/pkcs11.md). */
static CK_INTERFACE interfaces[] = {
	{ (CK_CHAR *)"PKCS 11", &functions_3_0, 0 },
	{ (CK_CHAR *)"PKCS 11", &functions, 0 },
};
#define N_INTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &functions;
	return CKR_OK;
}

static CK_RV a11_C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count)
{
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list != NULL && *count < N_INTERFACES) {
		*count = N_INTERFACES;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list != NULL)
		memcpy(list, interfaces, sizeof(interfaces));
	*count = N_INTERFACES;
	return CKR_OK;
}

static CK_RV a11_C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
				CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags)
{
	if (iface == NULL)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < N_INTERFACES; i++) {
		const CK_VERSION *v = interfaces[i].pFunctionList;

		if ((name == NULL || strcmp((const char *)name, "PKCS 11") == 0) &&
		    (version == NULL || (version->major == v->major && version->minor == v->minor)) &&
		    (interfaces[i].flags & flags) == flags) {
			*iface = &interfaces[i];
			return CKR_OK;
		}
	}
	return CKR_ARGUMENTS_BAD;
}

EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count)
{
	return a11_C_GetInterfaceList(list, count);
}

EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
			    CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags)
{
	return a11_C_GetInterface(name, version, iface, flags);
}
