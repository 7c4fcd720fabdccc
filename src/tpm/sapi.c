/* A command on a key authorized by its kept policy session, sent through
 * SAPI with the session HMAC computed here rather than by Esys.
 *
 * Why: tss2-esys 3.2's OpenSSL backend creates a new OSSL_LIB_CTX for
 * every hash, HMAC and random number it needs (so that a TPM2 OpenSSL
 * provider is never called from inside Esys): a provider load and a name
 * map for each hash (0.4 ms here), a freshly seeded DRBG for each nonce
 * (1 ms), five of them per command with a session (nonce, cpHash, HMAC,
 * rpHash, response HMAC). For a lease signature that was half of the time
 * (docs/performance.md). The computation is the same (TPM 2.0 Part 1,
 * 19.6), with OpenSSL's default context: the TPM checks the command HMAC,
 * and the response HMAC is checked here as Esys would.
 *
 * Esys never sees these commands, so it never learns the session's new
 * nonceTPM: a session used here is used here only (tpm_session_begin
 * gives the Esys path a new session if this one has been). */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "../common/log.h"
#include "../wire/hash.h"
#include "internal.h"

#define SUBMISSIONS_MAX 5 /* as Esys, for TPM_RC_RETRY, _YIELDED and _TESTING */

static void put_u32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* cpHash = H(commandCode || Name(a) || Name(b) || parameters) (a, b: the
 * command's handles, b may be NULL) and, with a NULL too, rpHash =
 * H(responseCode (0) || commandCode || parameters). out must hold
 * EVP_MAX_MD_SIZE. */
static bool p_hash(const EVP_MD *md, const uint8_t code[4], const struct tpm_key *a,
		   const struct tpm_key *b, const uint8_t *params, size_t len, uint8_t *out)
{
	static const uint8_t ok_code[4] = { 0 };
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	bool ok = h != NULL && EVP_DigestInit_ex(h, md, NULL) == 1;

	if (ok && a == NULL)
		ok = EVP_DigestUpdate(h, ok_code, 4) == 1;
	ok = ok && EVP_DigestUpdate(h, code, 4) == 1;
	if (ok && a != NULL)
		ok = EVP_DigestUpdate(h, a->name.name, a->name.size) == 1;
	if (ok && b != NULL)
		ok = EVP_DigestUpdate(h, b->name.name, b->name.size) == 1;
	ok = ok && EVP_DigestUpdate(h, params, len) == 1 && EVP_DigestFinal_ex(h, out, NULL) == 1;
	EVP_MD_CTX_free(h);
	return ok;
}

/* HMAC(key, p || n1 || n2 || attrs), the form of both session HMACs. */
static bool session_hmac(const EVP_MD *md, const TPM2B_AUTH *key, const uint8_t *p,
			 const TPM2B_NONCE *n1, const TPM2B_NONCE *n2, TPMA_SESSION attrs,
			 TPM2B_AUTH *out)
{
	uint8_t msg[EVP_MAX_MD_SIZE + 2 * sizeof(n1->buffer) + 1];
	size_t len = (size_t)EVP_MD_get_size(md), off = len;
	unsigned int outlen = 0;

	memcpy(msg, p, len);
	memcpy(msg + off, n1->buffer, n1->size);
	off += n1->size;
	memcpy(msg + off, n2->buffer, n2->size);
	off += n2->size;
	msg[off++] = attrs;
	if (HMAC(md, key->buffer, key->size, msg, off, out->buffer, &outlen) == NULL)
		return false;
	out->size = (UINT16)outlen;
	return true;
}

a11_err tpm_sys(struct tpm *t, struct tpm_key *k, TSS2_SYS_CONTEXT **sys, TPM2_HANDLE *h)
{
	a11_err r = tpm_rc(Esys_GetSysContext(t->esys, sys), "GetSysContext");

	if (r == A11_OK)
		r = tpm_rc(Esys_TR_GetTpmHandle(t->esys, k->tr, h), "TR_GetTpmHandle");
	return r;
}

/* The HMAC key: sessionKey (empty: the session is neither bound nor
 * salted) || the authValue without trailing zeros, if PolicyAuthValue
 * ran (Part 1, 19.6.8). */
static void hmac_key(const struct tpm_key *k, TPM2B_AUTH *key)
{
	key->size = 0;
	if (!k->policy.auth_value)
		return;
	*key = k->auth;
	while (key->size > 0 && key->buffer[key->size - 1] == 0)
		key->size--;
}

TSS2_RC tpm_sapi_submit(TSS2_SYS_CONTEXT *sys, TPM2_CC cc, const EVP_MD *md,
			const struct tpm_key *pw, const struct tpm_key *named,
			struct tpm_sapi_session *s, bool *rsp_ok)
{
	const uint8_t *buf;
	size_t len;
	uint8_t code[4], ph[EVP_MAX_MD_SIZE];
	TSS2L_SYS_AUTH_COMMAND cmd = { .count = pw ? 2 : 1 };
	TSS2L_SYS_AUTH_RESPONSE rsp = { 0 };
	TPMS_AUTH_COMMAND *a = &cmd.auths[cmd.count - 1];
	TPMS_AUTH_RESPONSE *b;
	TPM2B_AUTH want;
	TSS2_RC rc;

	*rsp_ok = false;
	put_u32(code, cc);
	if (pw != NULL)
		cmd.auths[0] = (TPMS_AUTH_COMMAND){ .sessionHandle = TPM2_RH_PW, .hmac = pw->auth };
	*a = (TPMS_AUTH_COMMAND){ .sessionHandle = s->handle, .nonce = s->caller,
				  .sessionAttributes = s->attrs };
	if ((rc = Tss2_Sys_GetCpBuffer(sys, &len, &buf)) != TSS2_RC_SUCCESS)
		return rc;
	if (!p_hash(md, code, pw ? pw : named, pw ? named : NULL, buf, len, ph) ||
	    !session_hmac(md, &s->key, ph, &s->caller, &s->tpm, s->attrs, &a->hmac))
		rc = TSS2_ESYS_RC_GENERAL_FAILURE;
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_Sys_SetCmdAuths(sys, &cmd);
	OPENSSL_cleanse(&cmd.auths[0].hmac, sizeof(cmd.auths[0].hmac));
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_Sys_Execute(sys);
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_Sys_GetRspAuths(sys, &rsp);
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_Sys_GetRpBuffer(sys, &len, &buf);
	if (rc != TSS2_RC_SUCCESS)
		return rc;
	b = &rsp.auths[cmd.count - 1];
	if (rsp.count != cmd.count || !p_hash(md, code, NULL, NULL, buf, len, ph) ||
	    !session_hmac(md, &s->key, ph, &b->nonce, &s->caller, b->sessionAttributes, &want))
		return TSS2_ESYS_RC_GENERAL_FAILURE;
	*rsp_ok = want.size == b->hmac.size &&
		  CRYPTO_memcmp(want.buffer, b->hmac.buffer, want.size) == 0;
	if (*rsp_ok)
		s->tpm = b->nonce;
	return TSS2_RC_SUCCESS;
}

a11_err tpm_policy_execute(struct tpm *t, struct tpm_key *k, const struct tpm_key *pw,
			   TSS2_SYS_CONTEXT *sys, TPM2_CC cc, const char *what,
			   TSS2_RC (*prepare)(TSS2_SYS_CONTEXT *sys, const void *arg),
			   const void *arg)
{
	const EVP_MD *md = wire_md(k->pub.publicArea.nameAlg);
	struct tpm_sapi_session s = { .attrs = TPMA_SESSION_CONTINUESESSION };
	TSS2_RC rc = TSS2_RC_SUCCESS;
	bool rsp_ok = false;
	a11_err r;

	if (md == NULL)
		return A11_ERR_UNSUPPORTED;
	if ((r = tpm_rc(Esys_TR_GetTpmHandle(t->esys, k->session, &s.handle),
			"TR_GetTpmHandle(session)")) != A11_OK)
		return r;
	/* A session new to this path: its nonceTPM is the one Esys kept
	 * from TPM2_StartAuthSession. */
	if (k->nonce_tpm.size == 0) {
		TPM2B_NONCE *n = NULL;

		r = tpm_rc(Esys_TRSess_GetNonceTPM(t->esys, k->session, &n), "TRSess_GetNonceTPM");
		if (r == A11_OK)
			k->nonce_tpm = *n;
		Esys_Free(n);
		if (r != A11_OK)
			return r;
	}
	hmac_key(k, &s.key);
	s.tpm = k->nonce_tpm;
	s.caller.size = (UINT16)EVP_MD_get_size(md);
	/* The response overwrites the command in sys: a resubmission
	 * prepares it again (and gets a new nonceCaller), as Esys does. */
	for (int i = 0; i < SUBMISSIONS_MAX; i++) {
		rc = prepare(sys, arg);
		if (rc == TSS2_RC_SUCCESS && RAND_bytes(s.caller.buffer, s.caller.size) != 1)
			rc = TSS2_ESYS_RC_GENERAL_FAILURE;
		if (rc == TSS2_RC_SUCCESS)
			rc = tpm_sapi_submit(sys, cc, md, pw, k, &s, &rsp_ok);
		if (rc != TPM2_RC_RETRY && rc != TPM2_RC_YIELDED && rc != TPM2_RC_TESTING)
			break;
	}
	if (rsp_ok)
		k->nonce_tpm = s.tpm;
	OPENSSL_cleanse(&s, sizeof(s));
	if ((r = tpm_rc(rc, what)) != A11_OK)
		return r;
	if (!rsp_ok) {
		log_error("%s: the response HMAC does not verify", what);
		return A11_ERR_TPM;
	}
	return A11_OK;
}
