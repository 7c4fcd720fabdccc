#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "../common/log.h"
#include "internal.h"

/* The TPM response code without its handle/session/parameter number. */
static TPM2_RC base_code(TSS2_RC rc)
{
	TPM2_RC c = rc & 0xFFFF;

	return (c & TPM2_RC_FMT1) ? (c & (TPM2_RC_FMT1 | 0x3F)) : (c & 0xFFF);
}

static a11_err classify(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER)
		return A11_ERR_TPM_COMM;
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) {
		switch (rc & 0xFFFF) {
		case TSS2_BASE_RC_IO_ERROR:
		case TSS2_BASE_RC_NO_CONNECTION:
		case TSS2_BASE_RC_TRY_AGAIN:
		/* Esys after a command the TCTI failed mid-way: the context
		 * answers this to everything until it is finalized. */
		case TSS2_BASE_RC_BAD_SEQUENCE:
			return A11_ERR_TPM_COMM;
		default:
			return A11_ERR_TPM;
		}
	}
	switch (base_code(rc)) {
	case TPM2_RC_AUTH_FAIL:
	case TPM2_RC_BAD_AUTH:
		return A11_ERR_TPM_AUTH;
	case TPM2_RC_LOCKOUT:
		return A11_ERR_TPM_LOCKOUT;
	case TPM2_RC_POLICY_FAIL:
	case TPM2_RC_POLICY:      /* PolicyCounterTimer: the comparison failed */
	case TPM2_RC_PCR_CHANGED:
	case TPM2_RC_POLICY_CC:
	case TPM2_RC_EXPIRED:
		return A11_ERR_TPM_POLICY;
	case TPM2_RC_INTEGRITY:
		return A11_ERR_TPM_INTEGRITY;
	case TPM2_RC_HANDLE:
		return A11_ERR_TPM_NOT_FOUND;
	default:
		return A11_ERR_TPM;
	}
}

a11_err tpm_rc(TSS2_RC rc, const char *what)
{
	a11_err e;

	if (rc == TSS2_RC_SUCCESS)
		return A11_OK;
	e = classify(rc);
	/* A missing optional object is routine, not an error worth shouting. */
	if (e == A11_ERR_TPM_NOT_FOUND)
		log_debug("%s: 0x%x %s", what, rc, Tss2_RC_Decode(rc));
	else
		log_error("%s: 0x%x %s", what, rc, Tss2_RC_Decode(rc));
	return e;
}

/* A TPM that says the signature is bad (TPM2_VerifySignature: not
 * genuine, or a scheme or hash the key does not take) gives its verdict;
 * any other answer (0x902, out of object memory; a lost connection) says
 * nothing about the signature and keeps its own meaning. */
a11_err tpm_rc_verify(TSS2_RC rc, const char *what)
{
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && rc != TSS2_RC_SUCCESS) {
		switch (base_code(rc)) {
		case TPM2_RC_SIGNATURE:
		case TPM2_RC_SCHEME:
		case TPM2_RC_HASH:
			log_error("%s: 0x%x %s: the signature does not verify", what, rc,
				  Tss2_RC_Decode(rc));
			return A11_ERR_SIGNATURE;
		default:
			break;
		}
	}
	return tpm_rc(rc, what);
}

a11_err tpm_open(const char *tcti_conf, struct tpm **out)
{
	struct tpm *t = calloc(1, sizeof(*t));
	a11_err r;

	*out = NULL;
	if (t == NULL)
		return A11_ERR_NOMEM;
	t->ek_auto = TPM_EK_AUTO;
	r = tpm_rc(Tss2_TctiLdr_Initialize(tcti_conf, &t->tcti), "TCTI init");
	if (r == A11_OK)
		r = tpm_rc(Esys_Initialize(&t->esys, t->tcti, NULL), "Esys_Initialize");
	if (r != A11_OK) {
		/* Whatever the layer said, the TPM cannot be reached. */
		tpm_close(t);
		return A11_ERR_TPM_COMM;
	}
	*out = t;
	return A11_OK;
}

void tpm_close(struct tpm *t)
{
	if (t == NULL)
		return;
	if (t->esys != NULL) {
		tpm_identity_forget(t);
		Esys_Finalize(&t->esys);
	}
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

a11_err tpm_check_alive(struct tpm *t, TPMS_TIME_INFO *now)
{
	TPMS_TIME_INFO *ti = NULL;
	a11_err r = tpm_rc(Esys_ReadClock(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti),
			   "ReadClock (connection check)");

	if (r == A11_OK && !t->boot_known) {
		t->boot_known = true;
		t->reset_count = ti->clockInfo.resetCount;
		t->restart_count = ti->clockInfo.restartCount;
	}
	/* A reset or restart flushed every transient object and session. */
	if (r == A11_OK && (ti->clockInfo.resetCount != t->reset_count ||
			    ti->clockInfo.restartCount != t->restart_count))
		r = A11_ERR_TPM_COMM;
	else if (r != A11_OK)
		r = A11_ERR_TPM_COMM;
	if (r == A11_OK && now != NULL)
		*now = *ti;
	Esys_Free(ti);
	t->dead = r != A11_OK;
	return r;
}

a11_err tpm_random(struct tpm *t, uint8_t *buf, size_t len)
{
	while (len > 0) {
		TPM2B_DIGEST *rnd = NULL;
		UINT16 want = len > sizeof(rnd->buffer) ? sizeof(rnd->buffer) : (UINT16)len;
		a11_err r = tpm_rc(Esys_GetRandom(t->esys, ESYS_TR_NONE, ESYS_TR_NONE,
						  ESYS_TR_NONE, want, &rnd), "GetRandom");
		if (r != A11_OK)
			return r;
		/* The TPM may return fewer bytes than asked; take what came. */
		if (rnd->size == 0 || rnd->size > want) {
			Esys_Free(rnd);
			return A11_ERR_TPM;
		}
		memcpy(buf, rnd->buffer, rnd->size);
		buf += rnd->size;
		len -= rnd->size;
		Esys_Free(rnd);
	}
	return A11_OK;
}
