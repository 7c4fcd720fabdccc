/* Synthetic TPM evidence for the attestation suites: an AK made of a
 * software key, a TPMS_ATTEST built and marshalled with tss2-mu, signed with
 * OpenSSL as a TPM would sign it. Header-only (static inline) because each
 * unit test is its own binary linked only with testlib. */
#ifndef A11_TEST_ATTEST_FIXTURE_H
#define A11_TEST_ATTEST_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "../../src/wire/attest.h"
#include "../../src/wire/hash.h"
#include "../../src/wire/key.h"
#include "../testlib.h"

/* An AK: software key, its TPMT_PUBLIC and its QN under the EH. */
struct signer {
	EVP_PKEY *key;
	TPMI_ALG_SIG_SCHEME scheme;
	TPMI_ALG_HASH hash;
	int salt; /* PSS salt length, as OpenSSL spells it */
	TPMT_PUBLIC pub;
	TPM2B_NAME qn;
};

/* One piece of evidence and what the verifier expects of it. */
struct ev {
	struct signer *s;
	TPMS_ATTEST at;
	uint8_t buf[sizeof(TPMS_ATTEST) + 16];
	size_t len;
	TPMT_SIGNATURE sig;
	TPM2B_DATA nonce;
	TPML_PCR_SELECTION sel;
	struct a11_pcr_values pcrs;
};

/* Byte offsets in a marshalled TPMS_ATTEST with a 34-byte QN and 32-byte nonce. */
enum { OFF_QN = 6, OFF_NONCE = OFF_QN + 2 + 34, OFF_CLOCK = OFF_NONCE + 2 + 32,
       OFF_BODY = OFF_CLOCK + 17 + 8 };

static inline void signer_init(struct signer *s, const char *kind,
			       TPMI_ALG_SIG_SCHEME scheme, TPMI_ALG_HASH hash)
{
	TPM2B_NAME name, eh;

	memset(s, 0, sizeof(*s));
	s->key = t_keygen(kind);
	s->scheme = scheme;
	s->hash = hash;
	s->salt = RSA_PSS_SALTLEN_DIGEST; /* what swtpm does */
	assert_int_equal(wire_pub_from_evp(s->key, &s->pub), A11_OK);
	s->pub.nameAlg = TPM2_ALG_SHA256;
	s->pub.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
		TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
	if (s->pub.type == TPM2_ALG_RSA) {
		s->pub.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		s->pub.parameters.rsaDetail.scheme.scheme = scheme;
		s->pub.parameters.rsaDetail.scheme.details.anySig.hashAlg = hash;
	} else {
		s->pub.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		s->pub.parameters.eccDetail.scheme.scheme = scheme;
		s->pub.parameters.eccDetail.scheme.details.anySig.hashAlg = hash;
		s->pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
	assert_int_equal(wire_name(&s->pub, &name), A11_OK);
	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &eh);
	assert_int_equal(wire_qualified_name(&eh, &name, &s->qn), A11_OK);
}

static inline void ecdsa_from_der(const EVP_PKEY *key, const uint8_t *der, size_t len,
				  TPMS_SIGNATURE_ECDSA *out)
{
	int field = (EVP_PKEY_get_bits(key) + 7) / 8;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &der, (long)len);

	assert_non_null(es);
	/* A TPM pads r and s to the field size. */
	out->signatureR.size = out->signatureS.size = (UINT16)field;
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), out->signatureR.buffer, field), field);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), out->signatureS.buffer, field), field);
	ECDSA_SIG_free(es);
}

static inline void sign(const struct signer *s, const uint8_t *msg, size_t len,
			TPMT_SIGNATURE *sig)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t out[1024];
	size_t olen = sizeof(out);

	assert_non_null(mctx);
	assert_int_equal(EVP_DigestSignInit(mctx, &pctx, wire_md(s->hash), NULL, s->key), 1);
	if (s->scheme == TPM2_ALG_RSASSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
	if (s->scheme == TPM2_ALG_RSAPSS) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, s->salt), 1);
	}
	assert_int_equal(EVP_DigestSign(mctx, out, &olen, msg, len), 1);
	EVP_MD_CTX_free(mctx);
	memset(sig, 0, sizeof(*sig));
	sig->sigAlg = s->scheme;
	if (s->scheme == TPM2_ALG_ECDSA) {
		sig->signature.ecdsa.hash = s->hash;
		ecdsa_from_der(s->key, out, olen, &sig->signature.ecdsa);
		return;
	}
	sig->signature.rsassa.hash = s->hash;
	sig->signature.rsassa.sig.size = (UINT16)olen;
	memcpy(sig->signature.rsassa.sig.buffer, out, olen);
}

/* Select PCRs `mask` (bit n = PCR n) in bank h, 3 bytes as TPMs send. */
static inline void add_bank(TPML_PCR_SELECTION *sel, TPMI_ALG_HASH h, uint32_t mask)
{
	TPMS_PCR_SELECTION *b = &sel->pcrSelections[sel->count++];

	b->hash = h;
	b->sizeofSelect = 3;
	for (int i = 0; i < 3; i++)
		b->pcrSelect[i] = (uint8_t)(mask >> (8 * i));
}

/* Distinct values for every selected PCR, banks in order, PCRs ascending. */
static inline void fill_values(const TPML_PCR_SELECTION *sel, struct a11_pcr_values *v)
{
	v->count = 0;
	for (uint32_t b = 0; b < sel->count; b++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];

		for (int pcr = 0; pcr < 8 * s->sizeofSelect; pcr++) {
			TPM2B_DIGEST *d;

			if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
				continue;
			d = &v->v[v->count++];
			d->size = (UINT16)wire_digest_size(s->hash);
			memset(d->buffer, 0x10 * (int)b + pcr + 1, d->size);
		}
	}
}

static inline void values_digest(TPMI_ALG_HASH h, const struct a11_pcr_values *v,
				 TPM2B_DIGEST *out)
{
	uint8_t cat[A11_PCR_MAX_VALUES * 64];
	size_t n = 0;

	for (uint32_t i = 0; i < v->count; i++) {
		memcpy(cat + n, v->v[i].buffer, v->v[i].size);
		n += v->v[i].size;
	}
	out->size = (UINT16)wire_digest_size(h);
	assert_int_equal(wire_hash(h, cat, n, out->buffer), A11_OK);
}

static inline void ev_seal(struct ev *e)
{
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&e->at, e->buf, sizeof(e->buf), &off),
			 TSS2_RC_SUCCESS);
	e->len = off;
	sign(e->s, e->buf, e->len, &e->sig);
}

static inline void ev_header(struct ev *e, struct signer *s, TPM2_ST type)
{
	memset(e, 0, sizeof(*e));
	e->s = s;
	e->nonce.size = 32;
	assert_int_equal(RAND_bytes(e->nonce.buffer, 32), 1);
	e->at.magic = TPM2_GENERATED_VALUE;
	e->at.type = type;
	e->at.qualifiedSigner = s->qn;
	e->at.extraData = e->nonce;
	e->at.clockInfo.clock = 0x0102030405060708u;
	e->at.clockInfo.resetCount = 3;
	e->at.clockInfo.restartCount = 4;
	e->at.clockInfo.safe = TPM2_YES;
	e->at.firmwareVersion = 0x2019102300000000u;
}

/* A quote over sel (sha256 {0,7} when NULL). */
static inline void quote_make(struct ev *e, struct signer *s, const TPML_PCR_SELECTION *sel)
{
	ev_header(e, s, TPM2_ST_ATTEST_QUOTE);
	if (sel != NULL)
		e->sel = *sel;
	else
		add_bank(&e->sel, TPM2_ALG_SHA256, 1u << 0 | 1u << 7);
	fill_values(&e->sel, &e->pcrs);
	e->at.attested.quote.pcrSelect = e->sel;
	values_digest(s->hash, &e->pcrs, &e->at.attested.quote.pcrDigest);
	ev_seal(e);
}

static inline a11_err quote_check(struct ev *e, TPMS_ATTEST *out)
{
	struct wire_quote_expect x = { &e->nonce, &e->sel, &e->pcrs, &e->s->qn };

	return wire_quote_verify(&e->s->pub, e->buf, e->len, &e->sig, &x, out);
}

static inline void signer_free(struct signer *s)
{
	EVP_PKEY_free(s->key);
}

#endif
