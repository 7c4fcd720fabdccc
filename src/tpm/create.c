/* TPM2_Create with the new key's sensitive part (its authValue, which
 * comes from the PIN) encrypted on the way to the TPM, so that the bus and
 * a resource manager never see it.
 *
 * Esys would do this with a salted session, but it encrypts the salt with
 * OpenSSL's default providers and engines, which an application's pkcs11
 * engine (nginx, curl) takes over; src/wire encrypts it as it encrypts a
 * duplication seed, with the label "SECRET" (TPM 2.0 Part 1, 19.6.13). The
 * session is then driven here, through SAPI (Part 1, 19.6 and 21):
 *   sessionKey = KDFa(SHA-256, salt, "ATH", nonceTPM, nonceCaller, 256)
 *   AES-128-CFB key || IV = KDFa(SHA-256, sessionKey, "CFB", nonceCaller,
 *                                nonceTPM, 256) over the first parameter
 *   command and response HMACs as src/tpm/sapi.c computes them
 * The session authorizes nothing (the parent's empty password does), so
 * its HMAC key and sessionValue are the sessionKey alone; it ends with
 * the command (continueSession clear). */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../common/log.h"
#include "../wire/kdf.h"
#include "../wire/wrap.h"
#include "internal.h"

#define SUBMISSIONS_MAX 5 /* as Esys, for TPM_RC_RETRY, _YIELDED and _TESTING */

/* StartAuthSession with a salt encrypted to the parent; s gets the session,
 * its sessionKey (as the HMAC key) and nonceTPM. */
static a11_err start(TSS2_SYS_CONTEXT *sys, const struct tpm_key *parent, TPM2_HANDLE ph,
		     struct tpm_sapi_session *s)
{
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				   .mode.aes = TPM2_ALG_CFB };
	TPM2B_NONCE caller = { .size = 32 };
	TPM2B_ENCRYPTED_SECRET enc;
	TPM2B_DIGEST salt;
	a11_err r;

	if (RAND_bytes(caller.buffer, caller.size) != 1)
		return A11_ERR_CRYPTO;
	if ((r = wire_seed_make(&parent->pub.publicArea, "SECRET", &salt, &enc)) != A11_OK)
		return r;
	s->tpm.size = 0; /* tss2-mu fills only an empty TPM2B */
	r = tpm_rc(Tss2_Sys_StartAuthSession(sys, ph, TPM2_RH_NULL, NULL, &caller, &enc,
					     TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &s->handle,
					     &s->tpm, NULL), "StartAuthSession(salted)");
	if (r == A11_OK) {
		s->key.size = 32;
		r = wire_kdfa(TPM2_ALG_SHA256, salt.buffer, salt.size, "ATH", s->tpm.buffer,
			      s->tpm.size, caller.buffer, caller.size, s->key.buffer, 256);
		if (r != A11_OK)
			Tss2_Sys_FlushContext(sys, s->handle);
	}
	OPENSSL_cleanse(&salt, sizeof(salt));
	return r;
}

/* The prepared command's first parameter, encrypted in place with the
 * command's nonceCaller (newer) and the session's nonceTPM (older). */
static a11_err encrypt_param(TSS2_SYS_CONTEXT *sys, const struct tpm_sapi_session *s)
{
	uint8_t kiv[32], buf[sizeof(TPM2B_SENSITIVE_CREATE)];
	const uint8_t *p;
	size_t len;
	a11_err r = tpm_rc(Tss2_Sys_GetDecryptParam(sys, &len, &p), "GetDecryptParam");

	if (r == A11_OK && len > sizeof(buf))
		r = A11_ERR_ARG;
	if (r == A11_OK)
		r = wire_kdfa(TPM2_ALG_SHA256, s->key.buffer, s->key.size, "CFB", s->caller.buffer,
			      s->caller.size, s->tpm.buffer, s->tpm.size, kiv, 256);
	if (r == A11_OK)
		r = wire_aes_cfb_encrypt(kiv, 16, kiv + 16, p, len, buf);
	if (r == A11_OK)
		r = tpm_rc(Tss2_Sys_SetDecryptParam(sys, len, buf), "SetDecryptParam");
	OPENSSL_cleanse(kiv, sizeof(kiv));
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/* One attempt: a session of its own, ended by the command or here. The
 * parent is authorized by its (empty) password, the session only
 * decrypts. */
static TSS2_RC attempt(TSS2_SYS_CONTEXT *sys, TPM2_HANDLE ph, const struct tpm_key *parent,
		       const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
		       TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub)
{
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	struct tpm_sapi_session s = { .attrs = TPMA_SESSION_DECRYPT, .caller.size = 32 };
	TSS2_RC rc = TSS2_ESYS_RC_GENERAL_FAILURE;
	bool rsp_ok = false;

	if (start(sys, parent, ph, &s) != A11_OK)
		return rc;
	rc = Tss2_Sys_Create_Prepare(sys, ph, sens, tmpl, &outside, &pcrs);
	if (rc == TSS2_RC_SUCCESS && (RAND_bytes(s.caller.buffer, s.caller.size) != 1 ||
				      encrypt_param(sys, &s) != A11_OK))
		rc = TSS2_ESYS_RC_GENERAL_FAILURE;
	if (rc == TSS2_RC_SUCCESS)
		rc = tpm_sapi_submit(sys, TPM2_CC_Create, EVP_sha256(), parent, NULL, &s, &rsp_ok);
	if (rc == TSS2_RC_SUCCESS && !rsp_ok) {
		log_error("Create: the response HMAC does not verify");
		rc = TSS2_ESYS_RC_GENERAL_FAILURE;
	}
	if (rc == TSS2_RC_SUCCESS) {
		memset(priv, 0, sizeof(*priv));
		memset(pub, 0, sizeof(*pub));
		rc = Tss2_Sys_Create_Complete(sys, priv, pub, NULL, NULL, NULL);
	} else {
		Tss2_Sys_FlushContext(sys, s.handle); /* a failed command leaves it */
	}
	OPENSSL_cleanse(&s, sizeof(s));
	return rc;
}

a11_err tpm_create_encrypted(struct tpm *t, struct tpm_key *parent,
			     const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
			     TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub)
{
	TSS2_SYS_CONTEXT *sys;
	TPM2_HANDLE ph;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	a11_err r;

	if (parent->use_policy || parent->pub.publicArea.nameAlg != TPM2_ALG_SHA256)
		return A11_ERR_UNSUPPORTED;
	if ((r = tpm_sys(t, parent, &sys, &ph)) != A11_OK)
		return r;
	for (int i = 0; i < SUBMISSIONS_MAX; i++) {
		rc = attempt(sys, ph, parent, sens, tmpl, priv, pub);
		if (rc != TPM2_RC_RETRY && rc != TPM2_RC_YIELDED && rc != TPM2_RC_TESTING)
			break;
	}
	return tpm_rc(rc, "Create");
}
