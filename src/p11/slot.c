/* Slots, tokens and mechanisms: one slot per configured credential, a
 * token always present in it. */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "../wire/pin.h"
#include "init.h"
#include "locks.h"
#include "ops.h"
#include "session.h"
#include "slot.h"

CK_RV p11_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	(void)present; /* every slot has its token */
	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list != NULL && *count < mod.n_tokens) {
		*count = mod.n_tokens;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (size_t i = 0; list != NULL && i < mod.n_tokens; i++)
		list[i] = mod.tokens[i].slot;
	*count = mod.n_tokens;
	return CKR_OK;
}

CK_RV p11_get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	struct p11_token *t;
	char desc[PROTO_NAME_MAX + 32];

	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((t = token_of_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	snprintf(desc, sizeof(desc), "attest11 credential %s", t->conf->credential);
	p11_pad(info->slotDescription, sizeof(info->slotDescription), desc);
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "attest11");
	info->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
	info->hardwareVersion = (CK_VERSION){ 2, 0 };
	info->firmwareVersion = (CK_VERSION){ 0, 1 };
	return CKR_OK;
}

/* A serial number stable for the credential: 16 hex digits of its hash. */
static void serial(const struct p11_token *t, CK_UTF8CHAR out[16])
{
	uint8_t d[32];
	char hex[17];

	EVP_Digest(t->conf->credential, strlen(t->conf->credential), d, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	memcpy(out, hex, 16);
}

/* What the module knows of the TPM's dictionary-attack counter since it
 * last refused a PIN (src/p11/token_lease.c): one TPM-wide counter, so every
 * token shows it. */
static CK_FLAGS pin_flags(void)
{
	CK_FLAGS f = 0;

	lock_mod();
	if (mod.da_known && mod.da.in_lockout)
		f = CKF_USER_PIN_LOCKED;
	else if (mod.da_known && mod.da.failures > 0)
		f = CKF_USER_PIN_COUNT_LOW |
		    (mod.da.failures + 1 == mod.da.max_tries ? CKF_USER_PIN_FINAL_TRY : 0);
	unlock_mod();
	return f;
}

CK_RV p11_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	struct p11_token *t;

	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((t = token_of_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	p11_pad(info->label, sizeof(info->label), t->conf->label);
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "attest11");
	p11_pad(info->model, sizeof(info->model), "TPM attested");
	serial(t, info->serialNumber);
	/* Write-protected: objects come from the broker, never from the app. */
	info->flags = CKF_RNG | CKF_WRITE_PROTECTED | CKF_LOGIN_REQUIRED |
		      CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
	info->flags |= pin_flags();
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
	info->ulMaxPinLen = WIRE_PIN_MAX;
	info->ulMinPinLen = 0;
	info->ulTotalPublicMemory = info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion = (CK_VERSION){ 2, 0 };
	info->firmwareVersion = (CK_VERSION){ 0, 1 };
	memcpy(info->utcTime, "                ", 16); /* no clock on this token */
	return CKR_OK;
}

CK_RV p11_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	const CK_MECHANISM_TYPE *m;
	struct p11_token *t;
	size_t n;

	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((t = token_of_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	ops_mechanisms(t->conf->key_type, &m, &n);
	if (list != NULL && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list != NULL)
		memcpy(list, m, n * sizeof(*m));
	*count = n;
	return CKR_OK;
}

CK_RV p11_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	struct p11_token *t;

	if (!p11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((t = token_of_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	return ops_mechanism_info(t->conf->key_type, type, info);
}
