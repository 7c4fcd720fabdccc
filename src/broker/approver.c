#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../wire/key.h"
#include "approver.h"
#include "privkey.h"

#define KEY_FILE_MAX 4096 /* a P-256 PKCS#8 PEM is ~240 bytes */

struct approver_key {
	EVP_PKEY *key;
	TPM2B_PUBLIC pub;
	uint8_t name[APPROVER_NAME_LEN];
};

/* keys[0] anchors new leases. */
struct approver {
	struct approver_key keys[APPROVER_KEYS_MAX];
	size_t n;
};

/* PEM of key: private (PKCS#8) or public (SPKI), malloc'd, NUL-terminated. */
static char *pem_of(EVP_PKEY *key, int private_part)
{
	/* A secure-memory BIO cleanses its buffer when freed. */
	BIO *b = BIO_new(private_part ? BIO_s_secmem() : BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n;
	int ok = b != NULL && (private_part ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0,
								      NULL, NULL)
					    : PEM_write_bio_PUBKEY(b, key));

	if (ok && (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

a11_err approver_keygen(const char *priv_path, const char *pub_path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	char *priv = key ? pem_of(key, 1) : NULL, *pub = key ? pem_of(key, 0) : NULL;
	a11_err r = priv && pub ? file_create(priv_path, 0600, priv) : A11_ERR_CRYPTO;

	if (r == A11_OK && (r = file_create(pub_path, 0644, pub)) != A11_OK)
		unlink(priv_path); /* we created it (O_EXCL): removing it is safe */
	if (priv != NULL)
		OPENSSL_cleanse(priv, strlen(priv));
	free(priv);
	free(pub);
	EVP_PKEY_free(key);
	return r;
}

/* The public area attesters load: an unrestricted ECDSA-SHA256 P-256
 * verification key. Its Name is what every authPolicy names. */
static a11_err tpm_public(EVP_PKEY *key, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;
	a11_err r;

	memset(out, 0, sizeof(*out));
	if ((r = wire_pub_from_evp(key, p)) != A11_OK)
		return r;
	if (p->type != TPM2_ALG_ECC || p->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256)
		return A11_ERR_UNSUPPORTED;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	return A11_OK;
}

/* The PEM read whole into memory we cleanse (stdio would leave copies). */
static EVP_PKEY *read_key(const char *path)
{
	char buf[KEY_FILE_MAX];
	struct stat st;
	EVP_PKEY *k = NULL;
	ssize_t n = -1;
	int fd;

	if (file_open_private(path, "approver key", &fd, &st) != A11_OK)
		return NULL;
	if (st.st_size > 0 && st.st_size < (off_t)sizeof(buf))
		n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n == st.st_size)
		k = privkey_from_pem((const uint8_t *)buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (k == NULL)
		log_error("%s: not a PEM private key of at most %d bytes", path, KEY_FILE_MAX - 1);
	return k;
}

static a11_err load_key(const char *priv_path, struct approver_key *k)
{
	TPM2B_NAME name;
	a11_err r;

	if ((k->key = read_key(priv_path)) == NULL)
		return A11_ERR_PARSE;
	if ((r = tpm_public(k->key, &k->pub)) != A11_OK)
		log_error("%s: the approver key must be ECDSA P-256", priv_path);
	else if ((r = wire_name(&k->pub.publicArea, &name)) == A11_OK &&
		 name.size != APPROVER_NAME_LEN)
		r = A11_ERR_UNSUPPORTED;
	if (r == A11_OK)
		memcpy(k->name, name.name, APPROVER_NAME_LEN);
	return r;
}

/* A key's id in logs and `lease list`: the first 4 bytes of its Name's
 * digest, in hex. */
static void log_key(const char *path, const struct approver_key *k, const char *role)
{
	log_info("approver key %s: id %02x%02x%02x%02x (%s)", path, k->name[2], k->name[3],
		 k->name[4], k->name[5], role);
}

a11_err approver_load(const char *priv_path, struct approver **out)
{
	struct approver *a = calloc(1, sizeof(*a));
	a11_err r;

	if (a == NULL)
		return A11_ERR_NOMEM;
	a->n = 1;
	if ((r = load_key(priv_path, &a->keys[0])) == A11_OK) {
		log_key(priv_path, &a->keys[0], "new leases");
		*out = a;
	} else {
		approver_free(a);
	}
	return r;
}

static const struct approver_key *find(const struct approver *a, const uint8_t *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (memcmp(a->keys[i].name, name, APPROVER_NAME_LEN) == 0)
			return &a->keys[i];
	return NULL;
}

a11_err approver_add(struct approver *a, const char *priv_path)
{
	struct approver_key *k;
	a11_err r;

	if (a->n == APPROVER_KEYS_MAX) {
		log_error("%s: at most %d approver keys", priv_path, APPROVER_KEYS_MAX);
		return A11_ERR_ARG;
	}
	k = &a->keys[a->n];
	if ((r = load_key(priv_path, k)) == A11_OK && find(a, k->name) != NULL) {
		log_error("%s: this approver key is already loaded", priv_path);
		r = A11_ERR_EXISTS;
	}
	if (r == A11_OK) {
		log_key(priv_path, k, "renewals of its leases");
		a->n++;
	} else {
		EVP_PKEY_free(k->key);
		memset(k, 0, sizeof(*k));
	}
	return r;
}

void approver_free(struct approver *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		EVP_PKEY_free(a->keys[i].key);
	free(a);
}

const TPM2B_PUBLIC *approver_public(const struct approver *a)
{
	return &a->keys[0].pub;
}

const TPM2B_PUBLIC *approver_public_of(const struct approver *a, const uint8_t *name,
				       size_t name_len)
{
	const struct approver_key *k = name_len == 0 ? &a->keys[0]
				       : name_len == APPROVER_NAME_LEN ? find(a, name) : NULL;
	if (k != NULL)
		return &k->pub;
	if (name_len == APPROVER_NAME_LEN)
		log_error("the lease's approver key %02x%02x%02x%02x is not one this broker holds "
			  "(approver_key, approver_keys_old)", name[2], name[3], name[4], name[5]);
	else
		log_error("the lease's approver key is a %zu-byte Name", name_len);
	return NULL;
}

void approver_name(const struct approver *a, uint8_t name[APPROVER_NAME_LEN])
{
	memcpy(name, a->keys[0].name, APPROVER_NAME_LEN);
}

/* DER ECDSA-Sig-Value -> fixed 32-byte r and s. */
static a11_err to_tpm(const uint8_t *der, size_t len, TPMT_SIGNATURE *sig)
{
	const uint8_t *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r = NULL, *s = NULL;
	TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;
	a11_err res = A11_ERR_CRYPTO;

	if (es == NULL)
		return A11_ERR_CRYPTO;
	ECDSA_SIG_get0(es, &r, &s);
	memset(sig, 0, sizeof(*sig));
	sig->sigAlg = TPM2_ALG_ECDSA;
	e->hash = TPM2_ALG_SHA256;
	if (BN_bn2binpad(r, e->signatureR.buffer, 32) == 32 &&
	    BN_bn2binpad(s, e->signatureS.buffer, 32) == 32) {
		e->signatureR.size = e->signatureS.size = 32;
		res = A11_OK;
	}
	ECDSA_SIG_free(es);
	return res;
}

/* By Name: pub may be a copy of the ring's public area. */
static EVP_PKEY *key_of(const struct approver *a, const TPM2B_PUBLIC *pub)
{
	const struct approver_key *k;
	TPM2B_NAME name;

	if (wire_name(&pub->publicArea, &name) != A11_OK || name.size != APPROVER_NAME_LEN)
		return NULL;
	k = find(a, name.name);
	return k ? k->key : NULL;
}

a11_err approver_sign(const struct approver *a, const TPM2B_DIGEST *digest,
		      TPMT_SIGNATURE *sig)
{
	return approver_sign_with(a, &a->keys[0].pub, digest, sig);
}

a11_err approver_sign_with(const struct approver *a, const TPM2B_PUBLIC *pub,
			   const TPM2B_DIGEST *digest, TPMT_SIGNATURE *sig)
{
	EVP_PKEY *key = key_of(a, pub);
	EVP_PKEY_CTX *ctx = key ? EVP_PKEY_CTX_new(key, NULL) : NULL;
	uint8_t der[80];
	size_t len = sizeof(der);
	a11_err r = A11_ERR_CRYPTO;

	/* The digest is signed as is: the TPM verifies exactly these bytes. */
	if (digest->size == 32 && ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_sign(ctx, der, &len, digest->buffer, digest->size) == 1)
		r = to_tpm(der, len, sig);
	EVP_PKEY_CTX_free(ctx);
	return r;
}
