/* Shared by the files of src/tpm only. */
#ifndef A11_TPM_INTERNAL_H
#define A11_TPM_INTERNAL_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <tss2/tss2_sys.h>

#include "tpm.h"

struct tpm {
	ESYS_CONTEXT *esys;
	TSS2_TCTI_CONTEXT *tcti;
	struct tpm_identity *id;  /* tpm_identity_get's, or NULL */
	enum tpm_ek_kind ek_auto; /* what TPM_EK_AUTO resolved to, or TPM_EK_AUTO */
	bool boot_known;          /* tpm_check_alive's first answer: */
	uint32_t reset_count, restart_count;
	bool dead;                /* its handles died with a reset or the link */
};

/* Log "what: decoded rc" and map rc to an a11_err; A11_OK for success. */
a11_err tpm_rc(TSS2_RC rc, const char *what);
/* tpm_rc for a signature check: A11_ERR_SIGNATURE only when the TPM says
 * the signature is bad, tpm_rc's mapping for everything else. */
a11_err tpm_rc_verify(TSS2_RC rc, const char *what);

/* A session that authorizes k's user role (ESYS_TR_PASSWORD when k needs
 * no policy): k's kept policy session, or a new one, with the policy run.
 * After the command, tpm_session_done(t, k, r) with its result. */
a11_err tpm_session_begin(struct tpm *t, struct tpm_key *k, ESYS_TR *sess);
/* The same for a command sent by tpm_policy_execute (k->use_policy). */
a11_err tpm_policy_begin(struct tpm *t, struct tpm_key *k);
void tpm_session_done(struct tpm *t, struct tpm_key *k, a11_err r);
void tpm_session_end(struct tpm *t, ESYS_TR sess);
/* A one-command HMAC session: an object's authValue authorizes it without
 * crossing the bus in clear. Unsalted: a salted one would need Esys to do
 * RSA or ECDH with OpenSSL, which an application's pkcs11 engine hijacks
 * (docs/threat-model.md). tpm_hmac_session_done after the command. */
a11_err tpm_hmac_session(struct tpm *t, ESYS_TR *out);
void tpm_hmac_session_done(struct tpm *t, ESYS_TR sess, a11_err r);

/* Commands authorized by a key's policy session (k->use_policy), after
 * tpm_policy_begin, through SAPI (src/tpm/sapi.c): tpm_sys gives the
 * context and k's handle; tpm_policy_execute has prepare(sys, arg) put the
 * command into sys (a Tss2_Sys_*_Prepare; again for a resubmission),
 * sends it with the session's HMAC and checks the response's; then
 * Tss2_Sys_*_Complete reads the result. pw: NULL, or the object of the
 * command's first handle, authorized by its authValue as a password (k is
 * then the second). */
a11_err tpm_sys(struct tpm *t, struct tpm_key *k, TSS2_SYS_CONTEXT **sys, TPM2_HANDLE *h);
a11_err tpm_policy_execute(struct tpm *t, struct tpm_key *k, const struct tpm_key *pw,
			   TSS2_SYS_CONTEXT *sys, TPM2_CC cc, const char *what,
			   TSS2_RC (*prepare)(TSS2_SYS_CONTEXT *sys, const void *arg),
			   const void *arg);

/* One command through SAPI (already prepared in sys) with one HMAC or
 * policy session s, last in the authorization area, after a password
 * authorization for pw (its authValue) if pw is given: cpHash over the
 * names of pw and named (either may be NULL), the command HMAC with
 * s->caller (drawn by the caller) and s->tpm, the TPM's answer, and the
 * response HMAC, whose verdict is *rsp_ok; when it verifies, s->tpm is the
 * response's nonceTPM (TPM 2.0 Part 1, 19.6). */
struct tpm_sapi_session {
	TPM2_HANDLE handle;
	TPMA_SESSION attrs;
	TPM2B_AUTH key;           /* the HMAC key */
	TPM2B_NONCE caller, tpm;
};
TSS2_RC tpm_sapi_submit(TSS2_SYS_CONTEXT *sys, TPM2_CC cc, const EVP_MD *md,
			const struct tpm_key *pw, const struct tpm_key *named,
			struct tpm_sapi_session *s, bool *rsp_ok);
/* TPM2_Create under parent (no policy) with the sensitive part encrypted
 * on its way to the TPM: a salted session, started here (its salt
 * encrypted to the parent with src/wire), decrypts the first parameter;
 * the parent is authorized by its empty password. */
a11_err tpm_create_encrypted(struct tpm *t, struct tpm_key *parent,
			     const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
			     TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub);

/* Fill out->pub and out->name from a handle already in Esys. */
a11_err tpm_key_describe(struct tpm *t, ESYS_TR tr, struct tpm_key *out);

#endif
