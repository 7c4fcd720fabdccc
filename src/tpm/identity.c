/* The TPM's identity for attestation, kept for the life of the connection
 * (docs/performance.md): reading the EK certificate (NV_ReadPublic twice,
 * NV_Read in chunks), the EK (ReadPublic twice) and creating an AK
 * (GetRandom, CreatePrimary) is a dozen TPM commands, and on a hardware
 * TPM creating a primary key is the slowest of them all. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void tpm_identity_forget(struct tpm *t)
{
	struct tpm_identity *id = t->id;

	if (id == NULL)
		return;
	tpm_key_release(t, &id->ak);
	tpm_key_release(t, &id->ek);
	free(id->ek_cert);
	free(id);
	t->id = NULL;
}

a11_err tpm_identity_get(struct tpm *t, enum tpm_ek_kind kind, struct tpm_identity **out)
{
	struct tpm_identity *id;
	a11_err r;

	*out = NULL;
	if ((r = tpm_ek_resolve(t, kind, &kind)) != A11_OK)
		return r;
	if (t->id != NULL && t->id->kind == kind) {
		*out = t->id;
		return A11_OK;
	}
	tpm_identity_forget(t);
	if ((id = calloc(1, sizeof(*id))) == NULL)
		return A11_ERR_NOMEM;
	id->kind = kind;
	id->ek.tr = id->ak.tr = id->ek.session = id->ak.session = ESYS_TR_NONE;
	t->id = id;
	r = tpm_ek_cert(t, kind, &id->ek_cert, &id->ek_cert_len);
	if (r == A11_OK)
		r = tpm_ek_load(t, kind, &id->ek);
	if (r == A11_OK)
		r = tpm_ak_create(t, TPM2_ALG_ECC, &id->ak);
	if (r != A11_OK) {
		tpm_identity_forget(t);
		return r;
	}
	*out = id;
	return A11_OK;
}

void tpm_identity_done(struct tpm *t, bool ok)
{
	struct tpm_identity *id = t->id;

	if (id == NULL)
		return;
	if (!ok) {
		tpm_identity_forget(t);
		return;
	}
	/* A session is a scarce TPM resource: the EK's ends with each use. */
	if (id->ek.session != ESYS_TR_NONE && id->ek.session != 0)
		tpm_session_end(t, id->ek.session);
	id->ek.session = ESYS_TR_NONE;
}
