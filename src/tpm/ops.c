/* Private-key operations inside the TPM. */
#include <string.h>
#include <openssl/crypto.h>

#include "internal.h"

/* The commands as src/tpm/sapi.c sends them for a key with a policy
 * session: a Tss2_Sys_*_Prepare for each submission. */
struct sign_cmd {
	TPM2_HANDLE key;
	const TPM2B_DIGEST *digest;
	const TPMT_SIG_SCHEME *scheme;
	const TPMT_TK_HASHCHECK *ticket;
};

static TSS2_RC sign_prepare(TSS2_SYS_CONTEXT *sys, const void *arg)
{
	const struct sign_cmd *c = arg;

	return Tss2_Sys_Sign_Prepare(sys, c->key, c->digest, c->scheme, c->ticket);
}

struct decrypt_cmd {
	TPM2_HANDLE key;
	const TPM2B_PUBLIC_KEY_RSA *in;
	const TPMT_RSA_DECRYPT *scheme;
	const TPM2B_DATA *label;
};

static TSS2_RC decrypt_prepare(TSS2_SYS_CONTEXT *sys, const void *arg)
{
	const struct decrypt_cmd *c = arg;

	return Tss2_Sys_RSA_Decrypt_Prepare(sys, c->key, c->in, c->scheme, c->label);
}

static TSS2_RC unseal_prepare(TSS2_SYS_CONTEXT *sys, const void *arg)
{
	return Tss2_Sys_Unseal_Prepare(sys, *(const TPM2_HANDLE *)arg);
}

a11_err tpm_sign(struct tpm *t, struct tpm_key *k, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
		 const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig)
{
	/* Unrestricted keys sign any digest: a NULL hashcheck ticket will do. */
	const TPMT_TK_HASHCHECK none = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIG_SCHEME sch = { .scheme = scheme };
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR sess;
	a11_err r;

	if (scheme != TPM2_ALG_RSASSA && scheme != TPM2_ALG_RSAPSS && scheme != TPM2_ALG_ECDSA)
		return A11_ERR_ARG;
	sch.details.any.hashAlg = hash;
	if (k->use_policy) {
		struct sign_cmd c = { .digest = digest, .scheme = &sch, .ticket = &none };
		TSS2_SYS_CONTEXT *sys;

		if ((r = tpm_policy_begin(t, k)) != A11_OK)
			return r;
		r = tpm_sys(t, k, &sys, &c.key);
		if (r == A11_OK)
			r = tpm_policy_execute(t, k, NULL, sys, TPM2_CC_Sign, "Sign", sign_prepare, &c);
		if (r == A11_OK)
			r = tpm_rc(Tss2_Sys_Sign_Complete(sys, sig), "Sign");
		tpm_session_done(t, k, r);
		return r;
	}
	if ((r = tpm_session_begin(t, k, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_Sign(t->esys, k->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, digest, &sch, &none,
			     &s), "Sign");
	tpm_session_done(t, k, r);
	if (r == A11_OK)
		*sig = *s;
	Esys_Free(s);
	return r;
}

a11_err tpm_rsa_decrypt(struct tpm *t, struct tpm_key *k, TPM2_ALG_ID scheme, TPMI_ALG_HASH hash,
			const TPM2B_DATA *label, const TPM2B_PUBLIC_KEY_RSA *in,
			TPM2B_PUBLIC_KEY_RSA *out)
{
	const TPM2B_DATA no_label = { 0 };
	TPMT_RSA_DECRYPT sch = { .scheme = scheme };
	TPM2B_PUBLIC_KEY_RSA *m = NULL;
	ESYS_TR sess;
	a11_err r;

	if (scheme != TPM2_ALG_OAEP && scheme != TPM2_ALG_RSAES && scheme != TPM2_ALG_NULL)
		return A11_ERR_ARG;
	if (scheme == TPM2_ALG_OAEP)
		sch.details.oaep.hashAlg = hash;
	if (k->use_policy) {
		struct decrypt_cmd c = { .in = in, .scheme = &sch,
					 .label = label ? label : &no_label };
		TSS2_SYS_CONTEXT *sys;

		if ((r = tpm_policy_begin(t, k)) != A11_OK)
			return r;
		r = tpm_sys(t, k, &sys, &c.key);
		if (r == A11_OK)
			r = tpm_policy_execute(t, k, NULL, sys, TPM2_CC_RSA_Decrypt, "RSA_Decrypt",
					       decrypt_prepare, &c);
		if (r == A11_OK)
			r = tpm_rc(Tss2_Sys_RSA_Decrypt_Complete(sys, out), "RSA_Decrypt");
		tpm_session_done(t, k, r);
		return r;
	}
	if ((r = tpm_session_begin(t, k, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_RSA_Decrypt(t->esys, k->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, in, &sch,
				    label ? label : &no_label, &m), "RSA_Decrypt");
	tpm_session_done(t, k, r);
	if (r == A11_OK) {
		*out = *m;
		OPENSSL_cleanse(m, sizeof(*m));
	}
	Esys_Free(m);
	return r;
}

a11_err tpm_unseal(struct tpm *t, struct tpm_key *k, TPM2B_SENSITIVE_DATA *out)
{
	TPM2B_SENSITIVE_DATA *d = NULL;
	ESYS_TR sess;
	a11_err r;

	if (k->use_policy) {
		TSS2_SYS_CONTEXT *sys;
		TPM2_HANDLE h;

		if ((r = tpm_policy_begin(t, k)) != A11_OK)
			return r;
		r = tpm_sys(t, k, &sys, &h);
		if (r == A11_OK)
			r = tpm_policy_execute(t, k, NULL, sys, TPM2_CC_Unseal, "Unseal",
					       unseal_prepare, &h);
		if (r == A11_OK)
			r = tpm_rc(Tss2_Sys_Unseal_Complete(sys, out), "Unseal");
		tpm_session_done(t, k, r);
		return r;
	}
	if ((r = tpm_session_begin(t, k, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_Unseal(t->esys, k->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, &d), "Unseal");
	tpm_session_done(t, k, r);
	if (r == A11_OK) {
		*out = *d;
		OPENSSL_cleanse(d, sizeof(*d));
	}
	Esys_Free(d);
	return r;
}
