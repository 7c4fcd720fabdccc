/* attest11's PKCS#11 interface: the standard v2.40 header from p11-kit,
 * the PKCS#11 3.0 interface additions it lacks, and attest11's
 * vendor-defined attributes and return values (docs/pkcs11.md). */
#ifndef ATTEST11_PKCS11_H
#define ATTEST11_PKCS11_H

#include <p11-kit/pkcs11.h>

#ifndef CKF_INTERFACE_FORK_SAFE
/* PKCS#11 3.0 §5.2, §5.4: interfaces and the 3.0 function list. */
typedef struct CK_INTERFACE {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;
#define CKF_INTERFACE_FORK_SAFE 0x00000001UL

typedef CK_RV (*CK_C_GetInterfaceList)(CK_INTERFACE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_GetInterface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
/* The message-based 3.0 functions attest11 does not offer are pointer
 * slots here; src/p11/entry.c fills each with a function of its exact
 * 3.0 prototype that returns CKR_FUNCTION_NOT_SUPPORTED. */

typedef struct CK_FUNCTION_LIST_3_0 {
	CK_VERSION version;
	/* The 68 functions of CK_FUNCTION_LIST (v2.40), in its order. */
	CK_C_Initialize C_Initialize;
	CK_C_Finalize C_Finalize;
	CK_C_GetInfo C_GetInfo;
	CK_C_GetFunctionList C_GetFunctionList;
	CK_C_GetSlotList C_GetSlotList;
	CK_C_GetSlotInfo C_GetSlotInfo;
	CK_C_GetTokenInfo C_GetTokenInfo;
	CK_C_GetMechanismList C_GetMechanismList;
	CK_C_GetMechanismInfo C_GetMechanismInfo;
	CK_C_InitToken C_InitToken;
	CK_C_InitPIN C_InitPIN;
	CK_C_SetPIN C_SetPIN;
	CK_C_OpenSession C_OpenSession;
	CK_C_CloseSession C_CloseSession;
	CK_C_CloseAllSessions C_CloseAllSessions;
	CK_C_GetSessionInfo C_GetSessionInfo;
	CK_C_GetOperationState C_GetOperationState;
	CK_C_SetOperationState C_SetOperationState;
	CK_C_Login C_Login;
	CK_C_Logout C_Logout;
	CK_C_CreateObject C_CreateObject;
	CK_C_CopyObject C_CopyObject;
	CK_C_DestroyObject C_DestroyObject;
	CK_C_GetObjectSize C_GetObjectSize;
	CK_C_GetAttributeValue C_GetAttributeValue;
	CK_C_SetAttributeValue C_SetAttributeValue;
	CK_C_FindObjectsInit C_FindObjectsInit;
	CK_C_FindObjects C_FindObjects;
	CK_C_FindObjectsFinal C_FindObjectsFinal;
	CK_C_EncryptInit C_EncryptInit;
	CK_C_Encrypt C_Encrypt;
	CK_C_EncryptUpdate C_EncryptUpdate;
	CK_C_EncryptFinal C_EncryptFinal;
	CK_C_DecryptInit C_DecryptInit;
	CK_C_Decrypt C_Decrypt;
	CK_C_DecryptUpdate C_DecryptUpdate;
	CK_C_DecryptFinal C_DecryptFinal;
	CK_C_DigestInit C_DigestInit;
	CK_C_Digest C_Digest;
	CK_C_DigestUpdate C_DigestUpdate;
	CK_C_DigestKey C_DigestKey;
	CK_C_DigestFinal C_DigestFinal;
	CK_C_SignInit C_SignInit;
	CK_C_Sign C_Sign;
	CK_C_SignUpdate C_SignUpdate;
	CK_C_SignFinal C_SignFinal;
	CK_C_SignRecoverInit C_SignRecoverInit;
	CK_C_SignRecover C_SignRecover;
	CK_C_VerifyInit C_VerifyInit;
	CK_C_Verify C_Verify;
	CK_C_VerifyUpdate C_VerifyUpdate;
	CK_C_VerifyFinal C_VerifyFinal;
	CK_C_VerifyRecoverInit C_VerifyRecoverInit;
	CK_C_VerifyRecover C_VerifyRecover;
	CK_C_DigestEncryptUpdate C_DigestEncryptUpdate;
	CK_C_DecryptDigestUpdate C_DecryptDigestUpdate;
	CK_C_SignEncryptUpdate C_SignEncryptUpdate;
	CK_C_DecryptVerifyUpdate C_DecryptVerifyUpdate;
	CK_C_GenerateKey C_GenerateKey;
	CK_C_GenerateKeyPair C_GenerateKeyPair;
	CK_C_WrapKey C_WrapKey;
	CK_C_UnwrapKey C_UnwrapKey;
	CK_C_DeriveKey C_DeriveKey;
	CK_C_SeedRandom C_SeedRandom;
	CK_C_GenerateRandom C_GenerateRandom;
	CK_C_GetFunctionStatus C_GetFunctionStatus;
	CK_C_CancelFunction C_CancelFunction;
	CK_C_WaitForSlotEvent C_WaitForSlotEvent;
	/* PKCS#11 3.0 additions, in the standard's order. */
	CK_C_GetInterfaceList C_GetInterfaceList;
	CK_C_GetInterface C_GetInterface;
	void *C_LoginUser;
	void *C_SessionCancel;
	void *C_MessageEncryptInit;
	void *C_EncryptMessage;
	void *C_EncryptMessageBegin;
	void *C_EncryptMessageNext;
	void *C_MessageEncryptFinal;
	void *C_MessageDecryptInit;
	void *C_DecryptMessage;
	void *C_DecryptMessageBegin;
	void *C_DecryptMessageNext;
	void *C_MessageDecryptFinal;
	void *C_MessageSignInit;
	void *C_SignMessage;
	void *C_SignMessageBegin;
	void *C_SignMessageNext;
	void *C_MessageSignFinal;
	void *C_MessageVerifyInit;
	void *C_VerifyMessage;
	void *C_VerifyMessageBegin;
	void *C_VerifyMessageNext;
	void *C_MessageVerifyFinal;
} CK_FUNCTION_LIST_3_0;
#endif

/* Vendor-defined attributes (read-only, on the private key object). */
#define CKA_ATTEST11_ATTESTATION_RESULT (CKA_VENDOR_DEFINED | 0x41313101UL) /* EAR JWS, UTF-8 */
#define CKA_ATTEST11_LEASE_EXPIRES (CKA_VENDOR_DEFINED | 0x41313102UL)      /* CK_ULONG, Unix s */
#define CKA_ATTEST11_LEASE_ID (CKA_VENDOR_DEFINED | 0x41313103UL)           /* UTF-8 */

/* Vendor-defined return values: causes no standard CKR names. */
#define CKR_ATTEST11_REFUSED (CKR_VENDOR_DEFINED | 0x41310001UL)      /* broker refused the evidence */
#define CKR_ATTEST11_BROKER_DOWN (CKR_VENDOR_DEFINED | 0x41310002UL)  /* unreachable or timed out */
#define CKR_ATTEST11_BROKER_TLS (CKR_VENDOR_DEFINED | 0x41310003UL)   /* broker certificate not trusted */
#define CKR_ATTEST11_PLATFORM_CHANGED (CKR_VENDOR_DEFINED | 0x41310004UL) /* TPM policy (PCRs) no longer met */
#define CKR_ATTEST11_LEASE_EXPIRED (CKR_VENDOR_DEFINED | 0x41310005UL) /* the TPM refuses: lease over or TPM rebooted */

#endif
