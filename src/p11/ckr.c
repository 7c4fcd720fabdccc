/* What an application is told: a11_err and the broker's refusals mapped
 * onto CKR values, the attest11 vendor codes included. */
#include "../proto/refusal.h"
#include "ckr.h"

/* The broker's refusal codes a PKCS#11 application knows how to handle. */
CK_RV ckr_of_refusal(const char *refusal)
{
	switch (refusal_parse(refusal)) {
	case REF_PIN_INCORRECT:
	case REF_PIN_REQUIRED: return CKR_PIN_INCORRECT;
	case REF_PIN_LOCKED: return CKR_PIN_LOCKED;
	default: return CKR_ATTEST11_REFUSED;
	}
}

CK_RV ckr_of_err(a11_err e)
{
	switch (e) {
	case A11_OK: return CKR_OK;
	case A11_ERR_NOMEM: return CKR_HOST_MEMORY;
	case A11_ERR_TPM_AUTH: return CKR_PIN_INCORRECT;
	case A11_ERR_TPM_LOCKOUT: return CKR_PIN_LOCKED;
	case A11_ERR_TPM_POLICY: return CKR_ATTEST11_PLATFORM_CHANGED;
	case A11_ERR_LEASE_ENDED: return CKR_ATTEST11_LEASE_EXPIRED;
	case A11_ERR_NETWORK: return CKR_ATTEST11_BROKER_DOWN;
	case A11_ERR_TLS: return CKR_ATTEST11_BROKER_TLS;
	/* A release the attester refused (docs/pkcs11.md, "Return values"):
	 * nothing the application can change, and not a refusal by policy. */
	case A11_ERR_PROTOCOL: return CKR_DEVICE_ERROR;
	default: return CKR_DEVICE_ERROR;
	}
}
