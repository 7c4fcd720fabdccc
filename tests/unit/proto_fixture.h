/* Protocol v1 messages for the proto suites: one valid instance of each
 * message, field-by-field comparison, and JSON surgery (set, delete or
 * resize one member of an encoded message) so every rejection test starts
 * from a body the decoder accepts and changes exactly one thing.
 * Header-only (static inline) because each unit test is its own binary. */
#ifndef A11_TEST_PROTO_FIXTURE_H
#define A11_TEST_PROTO_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "../../src/proto/proto.h"

enum msg { M_CREQ, M_CRESP, M_EVID, M_REL };

/* Bytes that differ per field, so a swapped field shows. */
static inline void fx_fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* Sets size to what tss2-mu marshals, as a decoder will. */
static inline void fx_public_size(TPM2B_PUBLIC *p)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&p->publicArea, buf, sizeof(buf), &off),
			 TSS2_RC_SUCCESS);
	p->size = (UINT16)off;
}

static inline void fx_public_ecc(TPM2B_PUBLIC *p, unsigned seed)
{
	TPMT_PUBLIC *t = &p->publicArea;

	memset(p, 0, sizeof(*p));
	t->type = TPM2_ALG_ECC;
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT;
	t->authPolicy.size = 32;
	fx_fill(t->authPolicy.buffer, 32, seed);
	t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	t->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	t->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	t->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	t->unique.ecc.x.size = t->unique.ecc.y.size = 32;
	fx_fill(t->unique.ecc.x.buffer, 32, seed + 1);
	fx_fill(t->unique.ecc.y.buffer, 32, seed + 2);
	fx_public_size(p);
}

/* A storage parent: restricted decrypt RSA-2048 with AES-128-CFB. */
static inline void fx_public_rsa(TPM2B_PUBLIC *p, unsigned seed)
{
	TPMT_PUBLIC *t = &p->publicArea;

	memset(p, 0, sizeof(*p));
	t->type = TPM2_ALG_RSA;
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	t->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
	t->parameters.rsaDetail.symmetric.keyBits.aes = 128;
	t->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	t->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	t->parameters.rsaDetail.keyBits = 2048;
	t->unique.rsa.size = 256;
	fx_fill(t->unique.rsa.buffer, 256, seed);
	fx_public_size(p);
}

static inline void fx_sig_ecdsa(TPMT_SIGNATURE *s, unsigned seed)
{
	memset(s, 0, sizeof(*s));
	s->sigAlg = TPM2_ALG_ECDSA;
	s->signature.ecdsa.hash = TPM2_ALG_SHA256;
	s->signature.ecdsa.signatureR.size = s->signature.ecdsa.signatureS.size = 32;
	fx_fill(s->signature.ecdsa.signatureR.buffer, 32, seed);
	fx_fill(s->signature.ecdsa.signatureS.buffer, 32, seed + 1);
}

static inline void fx_sig_rsa(TPMT_SIGNATURE *s, unsigned seed)
{
	memset(s, 0, sizeof(*s));
	s->sigAlg = TPM2_ALG_RSASSA;
	s->signature.rsassa.hash = TPM2_ALG_SHA256;
	s->signature.rsassa.sig.size = 256;
	fx_fill(s->signature.rsassa.sig.buffer, 256, seed);
}

static inline void fx_attest(struct proto_attest *a, size_t len, unsigned seed, bool rsa)
{
	memset(a, 0, sizeof(*a));
	a->len = len;
	fx_fill(a->data, len, seed);
	if (rsa)
		fx_sig_rsa(&a->sig, seed + 1);
	else
		fx_sig_ecdsa(&a->sig, seed + 1);
}

static inline void fx_selection(TPML_PCR_SELECTION *s)
{
	memset(s, 0, sizeof(*s));
	s->count = 2;
	s->pcrSelections[0].hash = TPM2_ALG_SHA256;
	s->pcrSelections[0].sizeofSelect = 3;
	s->pcrSelections[0].pcrSelect[0] = 0x81; /* 0, 7 */
	s->pcrSelections[1].hash = TPM2_ALG_SHA1;
	s->pcrSelections[1].sizeofSelect = 3;
	s->pcrSelections[1].pcrSelect[2] = 0x80; /* 23 */
}

static inline void fx_creq(struct challenge_req *m, bool lease)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->credential, "web-01.prod_A");
	m->ek_cert_len = 700;
	fx_fill(m->ek_cert, m->ek_cert_len, 1);
	fx_public_rsa(&m->ek, 2);
	fx_public_ecc(&m->ak, 3);
	if (lease)
		strcpy(m->lease, "3f2a00ff3f2a00ff3f2a00ff3f2a00ff");
}

static inline void fx_anchor(struct lease_anchor *a, unsigned seed)
{
	fx_public_ecc(&a->approver, seed);
	fx_fill(a->policy_ref, sizeof(a->policy_ref), seed + 1);
}

static inline void fx_approval(struct approval *a, unsigned seed)
{
	fx_anchor(&a->anchor, seed);
	a->clock_end = 0x123456789aULL;
	a->reset_count = 7;
	a->approved.size = 32;
	fx_fill(a->approved.buffer, 32, seed + 2);
	fx_sig_ecdsa(&a->signature, seed + 3);
}

static inline void fx_cresp(struct challenge_resp *m, bool key_auth)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->session, "8c1f0123456789abcdef0123456789ab");
	m->nonce.size = 32;
	fx_fill(m->nonce.buffer, 32, 4);
	m->expires = 1795400000;
	fx_selection(&m->pcr_selection);
	m->credential_blob.size = 68;
	fx_fill(m->credential_blob.credential, 68, 5);
	m->encrypted_secret.size = 256;
	fx_fill(m->encrypted_secret.secret, 256, 6);
	m->kind = CRED_CA;
	m->bind_pcrs = true;
	if (key_auth) {
		m->key_auth = true;
		fx_fill(m->salt, sizeof(m->salt), 7);
		m->iterations = 10000;
	}
	fx_anchor(&m->anchor, 60);
}

static inline void fx_evid(struct evidence_req *m, bool parent, bool key, bool pin)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->session, "00112233445566778899aabbccddeeff");
	m->activated.size = 32;
	fx_fill(m->activated.buffer, 32, 8);
	fx_attest(&m->quote, 145, 9, false);
	m->pcrs.count = 3;
	for (uint32_t i = 0; i < 3; i++) {
		m->pcrs.v[i].size = i < 2 ? 32 : 20;
		fx_fill(m->pcrs.v[i].buffer, m->pcrs.v[i].size, 20 + i);
	}
	if (parent) {
		m->has_parent = true;
		fx_public_rsa(&m->parent, 11);
		fx_attest(&m->parent_certify, 130, 12, true);
	}
	if (key) {
		m->has_key = true;
		fx_public_ecc(&m->key, 13);
		fx_attest(&m->key_certify, 131, 14, false);
	}
	if (pin) {
		m->has_pin = true;
		m->pin_auth.size = WIRE_PIN_AUTH_LEN;
		for (int i = 0; i < WIRE_PIN_AUTH_LEN; i++)
			m->pin_auth.buffer[i] = (uint8_t)(0xa0 + i);
	}
}

static inline uint8_t *fx_blob(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	fx_fill(p, n, seed);
	return p;
}

static inline void fx_rel(struct release *m, size_t certs, bool token)
{
	memset(m, 0, sizeof(*m));
	m->kind = token ? CRED_TOKEN : CRED_REPOSITORY;
	m->has_key = true;
	fx_public_ecc(&m->pub, 15);
	m->duplicate.size = 180;
	fx_fill(m->duplicate.buffer, 180, 16);
	m->seed.size = 256;
	fx_fill(m->seed.secret, 256, 17);
	m->pcr_bound = true;
	fx_selection(&m->pcr_selection);
	m->auth_value = true;
	for (size_t i = 0; i < certs; i++) {
		m->cert_len[i] = 300 + i;
		m->certs[i] = fx_blob(m->cert_len[i], 40 + (unsigned)i);
	}
	m->cert_count = certs;
	if (token) {
		m->token_ct_len = 28 + 40;
		m->token_ct = fx_blob(m->token_ct_len, 18);
	}
	strcpy(m->lease, "3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a");
	m->lease_expires = 1795403600;
	m->lease_approved = 1795400000;
	fx_approval(&m->approval, 61);
	m->ear = strdup("eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln");
	assert_non_null(m->ear);
}

/* ---- field-by-field comparison ---- */

static inline void eq_public(const TPM2B_PUBLIC *a, const TPM2B_PUBLIC *b)
{
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->publicArea.type, b->publicArea.type);
	assert_int_equal(a->publicArea.nameAlg, b->publicArea.nameAlg);
	assert_int_equal(a->publicArea.objectAttributes, b->publicArea.objectAttributes);
	assert_int_equal(a->publicArea.authPolicy.size, b->publicArea.authPolicy.size);
	assert_memory_equal(a->publicArea.authPolicy.buffer, b->publicArea.authPolicy.buffer,
			    a->publicArea.authPolicy.size);
	assert_memory_equal(&a->publicArea.parameters, &b->publicArea.parameters,
			    sizeof(a->publicArea.parameters));
	assert_memory_equal(&a->publicArea.unique, &b->publicArea.unique,
			    sizeof(a->publicArea.unique));
}

static inline void eq_sig(const TPMT_SIGNATURE *a, const TPMT_SIGNATURE *b)
{
	assert_int_equal(a->sigAlg, b->sigAlg);
	assert_memory_equal(&a->signature, &b->signature, sizeof(a->signature));
}

static inline void eq_attest(const struct proto_attest *a, const struct proto_attest *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->data, b->data, a->len);
	eq_sig(&a->sig, &b->sig);
}

static inline void eq_anchor(const struct lease_anchor *a, const struct lease_anchor *b)
{
	eq_public(&a->approver, &b->approver);
	assert_memory_equal(a->policy_ref, b->policy_ref, sizeof(a->policy_ref));
}

static inline void eq_approval(const struct approval *a, const struct approval *b)
{
	eq_anchor(&a->anchor, &b->anchor);
	assert_true(a->clock_end == b->clock_end);
	assert_int_equal(a->reset_count, b->reset_count);
	assert_int_equal(a->approved.size, b->approved.size);
	assert_memory_equal(a->approved.buffer, b->approved.buffer, a->approved.size);
	eq_sig(&a->signature, &b->signature);
}

static inline void eq_sel(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b)
{
	assert_int_equal(a->count, b->count);
	for (uint32_t i = 0; i < a->count; i++) {
		assert_int_equal(a->pcrSelections[i].hash, b->pcrSelections[i].hash);
		assert_int_equal(a->pcrSelections[i].sizeofSelect, b->pcrSelections[i].sizeofSelect);
		assert_memory_equal(a->pcrSelections[i].pcrSelect, b->pcrSelections[i].pcrSelect,
				    a->pcrSelections[i].sizeofSelect);
	}
}

/* ---- JSON surgery ---- */

/* The object holding member `path` ("a" or "a.b") and the last name. */
static inline json_t *fx_parent(json_t *root, const char *path, char *last, size_t cap)
{
	const char *dot = strchr(path, '.');
	json_t *o = root;

	if (dot != NULL) {
		char first[64];

		assert_true((size_t)(dot - path) < sizeof(first));
		memcpy(first, path, (size_t)(dot - path));
		first[dot - path] = '\0';
		o = json_object_get(root, first);
		assert_true(json_is_object(o));
		path = dot + 1;
	}
	assert_true(strlen(path) < cap);
	strcpy(last, path);
	return o;
}

/* base with member path set to v (stolen), or deleted when del. malloc'd. */
static inline char *fx_edit(const char *base, const char *path, json_t *v, bool del)
{
	json_t *root = json_loads(base, 0, NULL), *o;
	char last[64];
	char *s;

	assert_non_null(root);
	o = fx_parent(root, path, last, sizeof(last));
	if (del) {
		assert_int_equal(json_object_del(o, last), 0);
	} else {
		assert_non_null(v);
		assert_int_equal(json_object_set_new(o, last, v), 0);
	}
	s = json_dumps(root, JSON_COMPACT);
	assert_non_null(s);
	json_decref(root);
	return s;
}

static inline char *fx_b64(const uint8_t *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	assert_non_null(s);
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* Decode member path of base (base64) into a malloc'd buffer. */
static inline uint8_t *fx_member_bytes(const char *base, const char *path, size_t *len)
{
	json_t *root = json_loads(base, 0, NULL), *o, *v;
	char last[64];
	size_t slen, pad = 0;
	uint8_t *out;
	int n;

	assert_non_null(root);
	o = fx_parent(root, path, last, sizeof(last));
	v = json_object_get(o, last);
	assert_true(json_is_string(v));
	slen = json_string_length(v);
	out = malloc(slen / 4 * 3 + 1);
	assert_non_null(out);
	n = EVP_DecodeBlock(out, (const unsigned char *)json_string_value(v), (int)slen);
	assert_true(n >= 0);
	while (pad < 2 && pad < slen && json_string_value(v)[slen - 1 - pad] == '=')
		pad++;
	*len = (size_t)n - pad;
	json_decref(root);
	return out;
}

/* base with member path replaced by base64 of p[0..n). malloc'd. */
static inline char *fx_with_bytes(const char *base, const char *path, const uint8_t *p, size_t n)
{
	char *b = fx_b64(p, n);
	char *s = fx_edit(base, path, json_string(b), false);

	free(b);
	return s;
}

/* base with an unknown member whose size makes the text exactly total bytes. */
static inline char *fx_pad_to(const char *base, size_t total)
{
	static const char pre[] = ",\"zz_pad\":\"";
	size_t blen = strlen(base), fill;
	char *s;

	assert_true(blen > 2 && base[blen - 1] == '}');
	assert_true(total >= blen - 1 + strlen(pre) + 2);
	fill = total - (blen - 1) - strlen(pre) - 2;
	s = malloc(total + 1);
	assert_non_null(s);
	memcpy(s, base, blen - 1);
	memcpy(s + blen - 1, pre, strlen(pre));
	memset(s + blen - 1 + strlen(pre), 'x', fill);
	memcpy(s + total - 2, "\"}", 3);
	assert_int_equal(strlen(s), total);
	return s;
}

#endif
