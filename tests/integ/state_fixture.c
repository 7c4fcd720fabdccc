/* A host lease without a TPM, for tests/integ/cert.sh:
 *   state_fixture DIR CREDENTIAL [PEM-FILE...]
 * saves DIR/CREDENTIAL.lease through state_save() holding the certificates
 * of the PEM files in order (leaf first); with no file, a token-kind lease
 * without certificates. Key, approval and blobs are synthetic: nothing
 * here is ever given to a TPM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "../../src/attester/state.h"

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* An ECC P-256 signing key public area, sized as tss2-mu marshals it. */
static int fake_public(TPM2B_PUBLIC *p, unsigned seed)
{
	TPMT_PUBLIC *t = &p->publicArea;
	uint8_t buf[sizeof(*t)];
	size_t off = 0;

	memset(p, 0, sizeof(*p));
	t->type = TPM2_ALG_ECC;
	t->nameAlg = TPM2_ALG_SHA256;
	t->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
		TPMA_OBJECT_SIGN_ENCRYPT;
	t->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	t->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	t->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	t->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	t->unique.ecc.x.size = t->unique.ecc.y.size = 32;
	fill(t->unique.ecc.x.buffer, 32, seed);
	fill(t->unique.ecc.y.buffer, 32, seed + 1);
	if (Tss2_MU_TPMT_PUBLIC_Marshal(t, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return -1;
	p->size = (UINT16)off;
	return 0;
}

static int fake_approval(struct approval *a)
{
	TPMS_SIGNATURE_ECDSA *s = &a->signature.signature.ecdsa;

	fill(a->anchor.policy_ref, sizeof(a->anchor.policy_ref), 3);
	a->clock_end = 3600000;
	a->reset_count = 1;
	a->approved.size = 32;
	fill(a->approved.buffer, 32, 4);
	a->signature.sigAlg = TPM2_ALG_ECDSA;
	s->hash = TPM2_ALG_SHA256;
	s->signatureR.size = s->signatureS.size = 32;
	fill(s->signatureR.buffer, 32, 5);
	fill(s->signatureS.buffer, 32, 6);
	return fake_public(&a->anchor.approver, 7);
}

/* Every certificate of a PEM file, appended as DER. */
static int add_certs(struct release *rel, const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	int n = 0, len;

	if (f == NULL)
		return -1;
	while (rel->cert_count < PROTO_MAX_CERTS &&
	       (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		uint8_t *der = NULL, *copy;

		len = i2d_X509(x, &der);
		X509_free(x);
		/* release_clear frees with free(), not OPENSSL_free. */
		copy = len > 0 ? malloc((size_t)len) : NULL;
		if (copy != NULL)
			memcpy(copy, der, (size_t)len);
		OPENSSL_free(der);
		if (copy == NULL)
			break;
		rel->certs[rel->cert_count] = copy;
		rel->cert_len[rel->cert_count++] = (size_t)len;
		n++;
	}
	fclose(f);
	return n > 0 ? 0 : -1;
}

static int build(struct host_lease *l, int nfiles, char **files)
{
	struct release *rel = &l->rel;

	rel->kind = nfiles > 0 ? CRED_REPOSITORY : CRED_TOKEN;
	rel->has_key = true;
	if (fake_public(&rel->pub, 1) != 0 || fake_approval(&rel->approval) != 0)
		return -1;
	l->priv.size = 160;
	fill(l->priv.buffer, 160, 2);
	snprintf(rel->lease, sizeof(rel->lease), "00112233445566778899aabbccddeeff");
	rel->lease_expires = 4102444800; /* 2100-01-01 */
	rel->lease_approved = rel->lease_expires - 3600;
	if ((rel->ear = strdup("e30.e30.c2ln")) == NULL)
		return -1;
	if (nfiles == 0) {
		rel->token_ct_len = 28 + 16;
		if ((rel->token_ct = malloc(rel->token_ct_len)) == NULL)
			return -1;
		fill(rel->token_ct, rel->token_ct_len, 8);
	}
	for (int i = 0; i < nfiles; i++)
		if (add_certs(rel, files[i]) != 0) {
			fprintf(stderr, "state_fixture: no certificate in %s\n", files[i]);
			return -1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	struct host_lease l;
	a11_err r = A11_ERR_ARG;

	if (argc < 3) {
		fputs("usage: state_fixture DIR CREDENTIAL [PEM-FILE...]\n", stderr);
		return 2;
	}
	memset(&l, 0, sizeof(l));
	if (build(&l, argc - 3, argv + 3) == 0)
		r = state_save(argv[1], argv[2], &l);
	host_lease_clear(&l);
	if (r != A11_OK)
		fprintf(stderr, "state_fixture: %s\n", a11_strerror(r));
	return r == A11_OK ? 0 : 1;
}
