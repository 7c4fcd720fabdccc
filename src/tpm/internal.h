/* Shared by the files of src/tpm only. */
#ifndef A11_TPM_INTERNAL_H
#define A11_TPM_INTERNAL_H

#include "tpm.h"

struct tpm {
	ESYS_CONTEXT *esys;
	TSS2_TCTI_CONTEXT *tcti;
};

/* Log "what: decoded rc" and map rc to an a11_err; A11_OK for success. */
a11_err tpm_rc(TSS2_RC rc, const char *what);

/* A session that authorizes k's user role (ESYS_TR_PASSWORD when k needs
 * no policy): k's kept policy session, or a new one, with the policy run.
 * After the command, tpm_session_done(t, k, r) with its result. */
a11_err tpm_session_begin(struct tpm *t, struct tpm_key *k, ESYS_TR *sess);
void tpm_session_done(struct tpm *t, struct tpm_key *k, a11_err r);
void tpm_session_end(struct tpm *t, ESYS_TR sess);

/* Fill out->pub and out->name from a handle already in Esys. */
a11_err tpm_key_describe(struct tpm *t, ESYS_TR tr, struct tpm_key *out);

#endif
