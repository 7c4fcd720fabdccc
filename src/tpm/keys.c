/* Loading, creating and importing TPM objects. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "../common/log.h"
#include "internal.h"

/* TCG EK Credential Profile handles and NV indices; swtpm puts its
 * P-384 EK at 0x81010016 with the certificate at 0x01C00016. */
static const struct {
	TPM2_HANDLE persistent;
	TPM2_HANDLE nv_cert;
} ek_handles[] = {
	[TPM_EK_RSA2048] = { 0x81010001, 0x01C00002 },
	[TPM_EK_ECC_P256] = { 0x81010002, 0x01C0000A },
	[TPM_EK_ECC_P384] = { 0x81010016, 0x01C00016 },
};

#define EK_CERT_MAX 8192
#define NV_CHUNK 512 /* below every TPM's MAX_NV_BUFFER_SIZE */

void tpm_key_release(struct tpm *t, struct tpm_key *k)
{
	if (t == NULL) /* the connection is gone (a fork dropped it): its handles too */
		k->session = k->tr = ESYS_TR_NONE;
	if (k->session != ESYS_TR_NONE && k->session != 0)
		tpm_session_end(t, k->session);
	if (t != NULL && t->dead) /* nothing to flush, and no answer to wait for */
		k->session = k->tr = ESYS_TR_NONE;
	if (k->tr != ESYS_TR_NONE && k->tr != 0) {
		if (k->transient)
			tpm_rc(Esys_FlushContext(t->esys, k->tr), "FlushContext");
		else
			Esys_TR_Close(t->esys, &k->tr);
	}
	OPENSSL_cleanse(k, sizeof(*k));
	k->tr = ESYS_TR_NONE;
}

a11_err tpm_key_describe(struct tpm *t, ESYS_TR tr, struct tpm_key *out)
{
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL, *qn = NULL;
	a11_err r = tpm_rc(Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   &pub, &name, &qn), "ReadPublic");

	if (r == A11_OK) {
		out->pub = *pub;
		out->name = *name;
	}
	Esys_Free(pub);
	Esys_Free(name);
	Esys_Free(qn);
	return r;
}

static a11_err load_persistent(struct tpm *t, TPM2_HANDLE h, struct tpm_key *out)
{
	a11_err r;

	memset(out, 0, sizeof(*out));
	out->tr = ESYS_TR_NONE;
	r = tpm_rc(Esys_TR_FromTPMPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					 &out->tr), "TR_FromTPMPublic");
	if (r == A11_OK)
		r = tpm_key_describe(t, out->tr, out);
	if (r != A11_OK)
		tpm_key_release(t, out);
	return r;
}

static bool has_nv_index(struct tpm *t, TPM2_HANDLE index)
{
	ESYS_TR nv = ESYS_TR_NONE;

	if (tpm_rc(Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE,
					 ESYS_TR_NONE, &nv), "TR_FromTPMPublic(NV)") != A11_OK)
		return false;
	Esys_TR_Close(t->esys, &nv);
	return true;
}

a11_err tpm_ek_resolve(struct tpm *t, enum tpm_ek_kind kind, enum tpm_ek_kind *out)
{
	static const enum tpm_ek_kind order[] = { TPM_EK_ECC_P256, TPM_EK_ECC_P384,
						  TPM_EK_RSA2048 };
	static const char *const names[] = { [TPM_EK_RSA2048] = "RSA-2048",
					     [TPM_EK_ECC_P256] = "ECC P-256",
					     [TPM_EK_ECC_P384] = "ECC P-384" };

	if ((unsigned)kind > TPM_EK_AUTO)
		return A11_ERR_ARG;
	*out = kind;
	if (kind != TPM_EK_AUTO)
		return A11_OK;
	if (t->ek_auto != TPM_EK_AUTO) {
		*out = t->ek_auto;
		return A11_OK;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (has_nv_index(t, ek_handles[order[i]].nv_cert)) {
			*out = t->ek_auto = order[i];
			log_info("EK: %s (certificate at NV index 0x%08x)", names[order[i]],
				 ek_handles[order[i]].nv_cert);
			return A11_OK;
		}
	log_error("no EK certificate in the TPM (NV indices 0x%08x, 0x%08x, 0x%08x)",
		  ek_handles[TPM_EK_ECC_P256].nv_cert, ek_handles[TPM_EK_ECC_P384].nv_cert,
		  ek_handles[TPM_EK_RSA2048].nv_cert);
	return A11_ERR_TPM_NOT_FOUND;
}

a11_err tpm_ek_load(struct tpm *t, enum tpm_ek_kind kind, struct tpm_key *out)
{
	a11_err r;

	if ((r = tpm_ek_resolve(t, kind, &kind)) != A11_OK)
		return r;
	if ((r = load_persistent(t, ek_handles[kind].persistent, out)) != A11_OK)
		return r;
	/* TCG EKs (low range) need PolicySecret(endorsement) for the user role;
	 * swtpm's P-384 EK sets userWithAuth and takes the empty password. */
	out->use_policy = !(out->pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH);
	out->policy.secret_endorsement = out->use_policy;
	return A11_OK;
}

/* Esys reads the public area of a persistent handle to name it (its
 * ReadPublic): the name is all a Load under it needs, taken from Esys. */
static a11_err name_persistent(struct tpm *t, TPM2_HANDLE h, struct tpm_key *out)
{
	TPM2B_NAME *name = NULL;
	a11_err r;

	memset(out, 0, sizeof(*out));
	out->tr = ESYS_TR_NONE;
	r = tpm_rc(Esys_TR_FromTPMPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					 &out->tr), "TR_FromTPMPublic");
	if (r == A11_OK)
		r = tpm_rc(Esys_TR_GetName(t->esys, out->tr, &name), "TR_GetName");
	if (r == A11_OK)
		out->name = *name;
	Esys_Free(name);
	if (r != A11_OK)
		tpm_key_release(t, out);
	return r;
}

static a11_err nv_read(struct tpm *t, ESYS_TR nv, uint16_t size, uint8_t *buf)
{
	for (uint16_t off = 0; off < size;) {
		TPM2B_MAX_NV_BUFFER *data = NULL;
		uint16_t n = size - off > NV_CHUNK ? NV_CHUNK : size - off;
		a11_err r = tpm_rc(Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
						ESYS_TR_NONE, n, off, &data), "NV_Read");
		if (r != A11_OK)
			return r;
		if (data->size != n) {
			Esys_Free(data);
			return A11_ERR_TPM;
		}
		memcpy(buf + off, data->buffer, n);
		off += n;
		Esys_Free(data);
	}
	return A11_OK;
}

a11_err tpm_ek_cert(struct tpm *t, enum tpm_ek_kind kind, uint8_t **der, size_t *len)
{
	ESYS_TR nv = ESYS_TR_NONE;
	TPM2B_NV_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL;
	uint8_t *buf = NULL;
	a11_err r;

	*der = NULL;
	*len = 0;
	if ((r = tpm_ek_resolve(t, kind, &kind)) != A11_OK)
		return r;
	r = tpm_rc(Esys_TR_FromTPMPublic(t->esys, ek_handles[kind].nv_cert, ESYS_TR_NONE,
					 ESYS_TR_NONE, ESYS_TR_NONE, &nv), "TR_FromTPMPublic(NV)");
	if (r == A11_OK)
		r = tpm_rc(Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					      &pub, &name), "NV_ReadPublic");
	if (r != A11_OK)
		goto out;
	/* The index is read with its own (empty) auth: TCG EK indices set AUTHREAD. */
	if (pub->nvPublic.dataSize == 0 || pub->nvPublic.dataSize > EK_CERT_MAX ||
	    !(pub->nvPublic.attributes & TPMA_NV_AUTHREAD)) {
		log_error("EK certificate index 0x%x: unusable size %u or attributes 0x%x",
			  ek_handles[kind].nv_cert, pub->nvPublic.dataSize, pub->nvPublic.attributes);
		r = A11_ERR_TPM;
		goto out;
	}
	if ((buf = malloc(pub->nvPublic.dataSize)) == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	if ((r = nv_read(t, nv, pub->nvPublic.dataSize, buf)) != A11_OK)
		goto out;
	*der = buf;
	*len = pub->nvPublic.dataSize;
	buf = NULL;
out:
	free(buf);
	Esys_Free(pub);
	Esys_Free(name);
	if (nv != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &nv);
	return r;
}

static a11_err create_primary(struct tpm *t, ESYS_TR hierarchy, const TPM2B_PUBLIC *tmpl,
			      struct tpm_key *out)
{
	const TPM2B_SENSITIVE_CREATE sens = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC *pub = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	a11_err r;

	memset(out, 0, sizeof(*out));
	out->tr = ESYS_TR_NONE;
	r = tpm_rc(Esys_CreatePrimary(t->esys, hierarchy, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs, &out->tr, &pub,
				      &cdata, &chash, &ticket), "CreatePrimary");
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	if (r == A11_OK) {
		TPM2B_NAME *name = NULL;

		out->transient = true;
		out->pub = *pub;
		r = tpm_rc(Esys_TR_GetName(t->esys, out->tr, &name), "TR_GetName");
		if (r == A11_OK)
			out->name = *name;
		Esys_Free(name);
		if (r != A11_OK)
			tpm_key_release(t, out);
	}
	Esys_Free(pub);
	return r;
}

/* TCG TPM v2.0 Provisioning Guidance, storage root key templates. */
static void srk_template(TPM2_ALG_ID alg, TPM2B_PUBLIC *p)
{
	TPMT_PUBLIC *a = &p->publicArea;

	memset(p, 0, sizeof(*p));
	a->type = alg;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
		TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	if (alg == TPM2_ALG_RSA) {
		a->parameters.rsaDetail.symmetric = (TPMT_SYM_DEF_OBJECT){
			.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
		a->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		a->parameters.rsaDetail.keyBits = 2048;
	} else {
		a->parameters.eccDetail.symmetric = (TPMT_SYM_DEF_OBJECT){
			.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
		a->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

a11_err tpm_srk_load(struct tpm *t, TPM2_ALG_ID alg, struct tpm_key *out)
{
	TPM2B_PUBLIC tmpl;

	if (alg != TPM2_ALG_RSA && alg != TPM2_ALG_ECC)
		return A11_ERR_ARG;
	if (load_persistent(t, alg == TPM2_ALG_RSA ? 0x81000001 : 0x81000002, out) == A11_OK) {
		if (out->pub.publicArea.type == alg)
			return A11_OK;
		tpm_key_release(t, out);
	}
	srk_template(alg, &tmpl);
	return create_primary(t, ESYS_TR_RH_OWNER, &tmpl, out);
}

a11_err tpm_srk_name(struct tpm *t, TPM2_ALG_ID alg, struct tpm_key *out)
{
	if (alg != TPM2_ALG_RSA && alg != TPM2_ALG_ECC)
		return A11_ERR_ARG;
	if (name_persistent(t, alg == TPM2_ALG_RSA ? 0x81000001 : 0x81000002, out) == A11_OK)
		return A11_OK;
	return tpm_srk_load(t, alg, out);
}

static void signing_template(TPM2_ALG_ID alg, TPMA_OBJECT attrs, TPM2_ALG_ID scheme,
			     TPM2B_PUBLIC *p)
{
	TPMT_PUBLIC *a = &p->publicArea;

	memset(p, 0, sizeof(*p));
	a->type = alg;
	a->nameAlg = TPM2_ALG_SHA256;
	a->objectAttributes = attrs | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
	if (alg == TPM2_ALG_RSA) {
		a->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.rsaDetail.scheme.scheme = scheme;
		a->parameters.rsaDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
		a->parameters.rsaDetail.keyBits = 2048;
	} else {
		a->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		a->parameters.eccDetail.scheme.scheme = scheme;
		a->parameters.eccDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
		a->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		a->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

a11_err tpm_ak_create(struct tpm *t, TPM2_ALG_ID alg, struct tpm_key *out)
{
	TPM2B_PUBLIC tmpl;
	a11_err r;

	if (alg != TPM2_ALG_RSA && alg != TPM2_ALG_ECC)
		return A11_ERR_ARG;
	signing_template(alg, TPMA_OBJECT_RESTRICTED,
			 alg == TPM2_ALG_RSA ? TPM2_ALG_RSASSA : TPM2_ALG_ECDSA, &tmpl);
	/* A random unique field makes each AK a new key from the same seed. */
	if (alg == TPM2_ALG_ECC) {
		tmpl.publicArea.unique.ecc.x.size = 32;
		r = tpm_random(t, tmpl.publicArea.unique.ecc.x.buffer, 32);
	} else {
		tmpl.publicArea.unique.rsa.size = 32;
		r = tpm_random(t, tmpl.publicArea.unique.rsa.buffer, 32);
	}
	if (r != A11_OK)
		return r;
	return create_primary(t, ESYS_TR_RH_ENDORSEMENT, &tmpl, out);
}

/* TPM2_Create through Esys: the sensitive part in clear on the bus. */
static a11_err create_clear(struct tpm *t, struct tpm_key *parent,
			    const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
			    TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub)
{
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC *p = NULL;
	TPM2B_PRIVATE *v = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	ESYS_TR sess;
	a11_err r;

	if ((r = tpm_session_begin(t, parent, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_Create(t->esys, parent->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, sens, tmpl,
			       &outside, &pcrs, &v, &p, &cdata, &chash, &ticket), "Create");
	tpm_session_done(t, parent, r);
	if (r == A11_OK) {
		*priv = *v;
		*pub = *p;
	}
	Esys_Free(p);
	Esys_Free(v);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	return r;
}

a11_err tpm_key_create(struct tpm *t, struct tpm_key *parent, TPM2_ALG_ID alg,
		       const TPM2B_AUTH *auth, const TPM2B_DIGEST *auth_policy,
		       const struct tpm_policy *policy, TPM2B_PRIVATE *priv, struct tpm_key *out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC tmpl, pub;
	TPM2B_PRIVATE prv;
	a11_err r;

	if (alg != TPM2_ALG_RSA && alg != TPM2_ALG_ECC)
		return A11_ERR_ARG;
	signing_template(alg, alg == TPM2_ALG_RSA ? TPMA_OBJECT_DECRYPT : 0, TPM2_ALG_NULL, &tmpl);
	if (auth != NULL)
		sens.sensitive.userAuth = *auth;
	if (auth_policy != NULL && auth_policy->size > 0) {
		tmpl.publicArea.authPolicy = *auth_policy;
		tmpl.publicArea.objectAttributes &= ~TPMA_OBJECT_USERWITHAUTH;
	}
	/* An authValue (from the PIN) travels encrypted; a parent that needs
	 * a policy session (a TCG low-range EK) is left to Esys, in clear
	 * (docs/threat-model.md). */
	r = A11_ERR_UNSUPPORTED;
	if (auth != NULL && auth->size > 0)
		r = tpm_create_encrypted(t, parent, &sens, &tmpl, &prv, &pub);
	if (r == A11_ERR_UNSUPPORTED)
		r = create_clear(t, parent, &sens, &tmpl, &prv, &pub);
	if (r == A11_OK)
		r = tpm_load(t, parent, &pub, &prv, policy, auth, out);
	if (r == A11_OK)
		*priv = prv;
	OPENSSL_cleanse(&sens, sizeof(sens));
	return r;
}

a11_err tpm_import(struct tpm *t, struct tpm_key *parent, const struct tpm_import *in,
		   TPM2B_PRIVATE *priv)
{
	TPM2B_PRIVATE *out = NULL;
	ESYS_TR sess;
	a11_err r;

	if ((r = tpm_session_begin(t, parent, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_Import(t->esys, parent->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE,
			       in->enc_key, in->pub, in->duplicate, in->seed, in->sym, &out),
		   "Import");
	tpm_session_done(t, parent, r);
	if (r == A11_OK)
		*priv = *out;
	Esys_Free(out);
	return r;
}

a11_err tpm_load(struct tpm *t, struct tpm_key *parent, const TPM2B_PUBLIC *pub,
		 const TPM2B_PRIVATE *priv, const struct tpm_policy *policy,
		 const TPM2B_AUTH *auth, struct tpm_key *out)
{
	TPM2B_NAME *name = NULL;
	ESYS_TR sess;
	a11_err r;

	memset(out, 0, sizeof(*out));
	out->tr = ESYS_TR_NONE;
	if ((r = tpm_session_begin(t, parent, &sess)) != A11_OK)
		return r;
	r = tpm_rc(Esys_Load(t->esys, parent->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
			     &out->tr), "Load");
	tpm_session_done(t, parent, r);
	if (r != A11_OK)
		return r;
	out->transient = true;
	out->pub = *pub;
	if (policy != NULL) {
		out->use_policy = true;
		out->policy = *policy;
	}
	if (auth != NULL) {
		out->auth = *auth;
		r = tpm_rc(Esys_TR_SetAuth(t->esys, out->tr, auth), "TR_SetAuth");
	}
	if (r == A11_OK)
		r = tpm_rc(Esys_TR_GetName(t->esys, out->tr, &name), "TR_GetName");
	if (r == A11_OK)
		out->name = *name;
	Esys_Free(name);
	if (r != A11_OK)
		tpm_key_release(t, out);
	return r;
}
