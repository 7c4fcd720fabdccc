#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../common/log.h"
#include "../wire/key.h"
#include "locks.h"
#include "object.h"
#include "ops.h"

/* Attributes that exist on a private key but never leave the TPM. */
static const CK_ATTRIBUTE_TYPE sensitive[] = {
	CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
	CKA_COEFFICIENT, CKA_VALUE,
};

struct builder {
	struct p11_object *o;
	int failed;
};

static void add(struct builder *b, CK_ATTRIBUTE_TYPE type, const void *v, size_t len)
{
	struct p11_object *o = b->o;
	CK_ATTRIBUTE *a = realloc(o->attrs, (o->n_attrs + 1) * sizeof(*a));
	void *copy = malloc(len ? len : 1);

	if (a == NULL || copy == NULL) {
		free(copy);
		if (a != NULL)
			o->attrs = a;
		b->failed = 1;
		return;
	}
	if (len)
		memcpy(copy, v, len);
	o->attrs = a;
	o->attrs[o->n_attrs++] = (CK_ATTRIBUTE){ type, copy, (CK_ULONG)len };
}

static void add_bool(struct builder *b, CK_ATTRIBUTE_TYPE type, CK_BBOOL v)
{
	add(b, type, &v, sizeof(v));
}

static void add_ulong(struct builder *b, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	add(b, type, &v, sizeof(v));
}

static struct builder start_labelled(CK_OBJECT_CLASS cls, bool private_obj, const char *label)
{
	struct builder b = { calloc(1, sizeof(struct p11_object)), 0 };

	if (b.o == NULL) {
		b.failed = 1;
		return b;
	}
	b.o->cls = cls;
	b.o->private_obj = private_obj;
	add_ulong(&b, CKA_CLASS, cls);
	add_bool(&b, CKA_TOKEN, CK_TRUE);
	add_bool(&b, CKA_PRIVATE, private_obj);
	add_bool(&b, CKA_MODIFIABLE, CK_FALSE);
	add_bool(&b, CKA_COPYABLE, CK_FALSE);
	add_bool(&b, CKA_DESTROYABLE, CK_FALSE);
	add(&b, CKA_LABEL, label, strlen(label));
	return b;
}

static struct builder start(CK_OBJECT_CLASS cls, bool private_obj, const struct p11_token *t)
{
	return start_labelled(cls, private_obj, t->conf->label);
}

/* One stable id per token, shared by the key and its certificate, so a
 * process that logs in again (a forked nginx worker) finds them again. */
static void token_id(const struct p11_token *t, uint8_t id[20])
{
	char in[PROTO_NAME_MAX + 16];
	int n = snprintf(in, sizeof(in), "attest11:%s", t->conf->credential);

	EVP_Digest(in, (size_t)n, id, NULL, EVP_sha1(), NULL);
}

static void add_bn(struct builder *b, CK_ATTRIBUTE_TYPE type, EVP_PKEY *k, const char *name)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;

	if (EVP_PKEY_get_bn_param(k, name, &bn) != 1 || (size_t)BN_num_bytes(bn) > sizeof(buf) ||
	    (n = BN_bn2bin(bn, buf)) <= 0) {
		log_error("cannot read %s of the key", name);
		b->failed = 1;
	}
	else
		add(b, type, buf, (size_t)n);
	BN_free(bn);
}

static void add_ec(struct builder *b, EVP_PKEY *k)
{
	char group[64];
	uint8_t point[1 + 2 * 66], der[2 + sizeof(point) + 2], *p = der;
	unsigned char *params = NULL;
	size_t plen = 0;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	int n;

	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1 ||
	    (n = i2d_ASN1_OBJECT(OBJ_nid2obj(OBJ_sn2nid(group)), &params)) <= 0 ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					    sizeof(point), &plen) != 1 ||
	    os == NULL || ASN1_OCTET_STRING_set(os, point, (int)plen) != 1 ||
	    i2d_ASN1_OCTET_STRING(os, &p) <= 0) {
		log_error("cannot encode the EC public key (%s)", group);
		b->failed = 1;
	} else {
		add(b, CKA_EC_PARAMS, params, (size_t)n);
		add(b, CKA_EC_POINT, der, (size_t)(p - der));
	}
	OPENSSL_free(params);
	ASN1_OCTET_STRING_free(os);
}

/* What private and public key objects share: type, id, public values. */
static void add_key_common(struct builder *b, const struct p11_token *t,
			   const struct attester_result *c, EVP_PKEY *k)
{
	const CK_MECHANISM_TYPE *mechs;
	size_t n;
	CK_KEY_TYPE type = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? CKK_RSA : CKK_EC;
	uint8_t id[20];

	token_id(t, id);
	add_ulong(b, CKA_KEY_TYPE, type);
	add(b, CKA_ID, id, sizeof(id));
	add_bool(b, CKA_DERIVE, CK_FALSE);
	add_bool(b, CKA_LOCAL, c->rel.kind == CRED_CA);
	ops_key_mechanisms(type, &mechs, &n);
	add(b, CKA_ALLOWED_MECHANISMS, mechs, n * sizeof(*mechs));
	if (type == CKK_RSA) {
		add_bn(b, CKA_MODULUS, k, OSSL_PKEY_PARAM_RSA_N);
		add_bn(b, CKA_PUBLIC_EXPONENT, k, OSSL_PKEY_PARAM_RSA_E);
	} else {
		add_ec(b, k);
	}
	b->o->pub = k;
	EVP_PKEY_up_ref(k);
}

static struct p11_object *private_key(const struct p11_token *t,
				      const struct attester_result *c, EVP_PKEY *k)
{
	struct builder b = start(CKO_PRIVATE_KEY, true, t);
	bool rsa = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
	CK_ULONG expires = (CK_ULONG)c->rel.lease_expires;

	add_key_common(&b, t, c, k);
	add_bool(&b, CKA_SIGN, CK_TRUE);
	add_bool(&b, CKA_DECRYPT, rsa);
	add_bool(&b, CKA_SIGN_RECOVER, CK_FALSE);
	add_bool(&b, CKA_UNWRAP, CK_FALSE);
	add_bool(&b, CKA_SENSITIVE, CK_TRUE);
	add_bool(&b, CKA_ALWAYS_SENSITIVE, CK_TRUE);
	add_bool(&b, CKA_EXTRACTABLE, CK_FALSE);
	add_bool(&b, CKA_NEVER_EXTRACTABLE, CK_TRUE);
	add_bool(&b, CKA_ALWAYS_AUTHENTICATE, CK_FALSE);
	add_bool(&b, CKA_WRAP_WITH_TRUSTED, CK_FALSE);
	/* Only an EAR checked against ear_key and this exchange's nonce:
	 * otherwise the attribute is absent (docs/pkcs11.md). */
	if (mod.conf.ear_key[0] != '\0' && c->rel.ear_verified && c->rel.ear != NULL &&
	    c->rel.ear[0] != '\0')
		add(&b, CKA_ATTEST11_ATTESTATION_RESULT, c->rel.ear, strlen(c->rel.ear));
	add_ulong(&b, CKA_ATTEST11_LEASE_EXPIRES, expires);
	add(&b, CKA_ATTEST11_LEASE_ID, c->rel.lease, strlen(c->rel.lease));
	if (b.failed) {
		object_free(b.o);
		return NULL;
	}
	return b.o;
}

static struct p11_object *public_key(const struct p11_token *t,
				     const struct attester_result *c, EVP_PKEY *k)
{
	struct builder b = start(CKO_PUBLIC_KEY, false, t);
	bool rsa = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;

	add_key_common(&b, t, c, k);
	add_bool(&b, CKA_VERIFY, CK_TRUE);
	add_bool(&b, CKA_ENCRYPT, CK_FALSE);
	add_bool(&b, CKA_WRAP, CK_FALSE);
	add_bool(&b, CKA_TRUSTED, CK_FALSE);
	if (rsa)
		add_ulong(&b, CKA_MODULUS_BITS, (CK_ULONG)EVP_PKEY_get_bits(k));
	if (b.failed) {
		object_free(b.o);
		return NULL;
	}
	return b.o;
}

static void add_name(struct builder *b, CK_ATTRIBUTE_TYPE type, const X509_NAME *name)
{
	unsigned char *der = NULL;
	int n = i2d_X509_NAME(name, &der);

	if (n <= 0)
		b->failed = 1;
	else
		add(b, type, der, (size_t)n);
	OPENSSL_free(der);
}

static void add_serial(struct builder *b, const ASN1_INTEGER *serial)
{
	unsigned char *der = NULL;
	int n = i2d_ASN1_INTEGER(serial, &der);

	if (n <= 0)
		b->failed = 1;
	else
		add(b, CKA_SERIAL_NUMBER, der, (size_t)n);
	OPENSSL_free(der);
}

/* The leaf certificate carries the token's label like its key, so
 * "pkcs11:object=LABEL;type=cert" finds exactly it; chain certificates
 * are LABEL-ca1, LABEL-ca2, ... */
static struct p11_object *certificate(const struct p11_token *t,
				      const struct attester_result *c, size_t i)
{
	char label[P11_LABEL_MAX + 32];
	struct builder b;
	const uint8_t *p = c->rel.certs[i];
	X509 *x = d2i_X509(NULL, &p, (long)c->rel.cert_len[i]);
	unsigned char *der = NULL;
	uint8_t id[20];

	if (i == 0)
		snprintf(label, sizeof(label), "%s", t->conf->label);
	else
		snprintf(label, sizeof(label), "%s-ca%zu", t->conf->label, i);
	b = start_labelled(CKO_CERTIFICATE, false, label);
	if (x == NULL) {
		object_free(b.o);
		return NULL;
	}
	if (i == 0) {
		token_id(t, id);
	} else {
		/* Chain certificates: an id of their own, from their subject. */
		int n = i2d_X509_NAME(X509_get_subject_name(x), &der);
		EVP_Digest(der, n > 0 ? (size_t)n : 0, id, NULL, EVP_sha1(), NULL);
		OPENSSL_free(der);
		der = NULL;
	}
	add_ulong(&b, CKA_CERTIFICATE_TYPE, CKC_X_509);
	add_ulong(&b, CKA_CERTIFICATE_CATEGORY, i == 0 ? 1 : 2); /* token user / authority */
	add_bool(&b, CKA_TRUSTED, CK_FALSE);
	add(&b, CKA_ID, id, sizeof(id));
	add(&b, CKA_VALUE, c->rel.certs[i], c->rel.cert_len[i]);
	add_name(&b, CKA_SUBJECT, X509_get_subject_name(x));
	add_name(&b, CKA_ISSUER, X509_get_issuer_name(x));
	add_serial(&b, X509_get_serialNumber(x));
	X509_free(x);
	if (b.failed) {
		object_free(b.o);
		return NULL;
	}
	return b.o;
}

static struct p11_object *token_data(const struct p11_token *t,
				     const struct attester_result *c)
{
	struct builder b = start(CKO_DATA, true, t);
	static const char app[] = "attest11";

	add(&b, CKA_APPLICATION, app, sizeof(app) - 1);
	add(&b, CKA_OBJECT_ID, "", 0);
	add(&b, CKA_VALUE, c->token, c->token_len);
	if (b.failed) {
		object_free(b.o);
		return NULL;
	}
	return b.o;
}

static int push(struct p11_object ***objs, size_t *n, struct p11_object *o)
{
	struct p11_object **v;


	if (o == NULL || (v = realloc(*objs, (*n + 1) * sizeof(*v))) == NULL) {
		object_free(o);
		return -1;
	}
	v[(*n)++] = o;
	*objs = v;
	return 0;
}

CK_RV object_build(const struct p11_token *t, const struct attester_result *c, bool with_private,
		   struct p11_object ***objs, size_t *n)
{
	EVP_PKEY *k = NULL;
	int rc = 0;

	*objs = NULL;
	*n = 0;
	if (with_private && c->token != NULL)
		rc = push(objs, n, token_data(t, c));
	if (rc == 0 && c->rel.kind != CRED_TOKEN && c->key.pub.size != 0) {
		a11_err e = wire_pub_to_evp(&c->key.pub.publicArea, &k);
		if (e != A11_OK) {
			log_error("token %s: the TPM key's public part is unusable: %s",
				  t->conf->label, a11_strerror(e));
			rc = -1;
		}
		else
			rc = (with_private ? push(objs, n, private_key(t, c, k)) : 0) |
			     push(objs, n, public_key(t, c, k));
	}
	for (size_t i = 0; rc == 0 && i < c->rel.cert_count; i++)
		rc = push(objs, n, certificate(t, c, i));
	EVP_PKEY_free(k);
	if (rc != 0) {
		log_error("token %s: cannot build its objects", t->conf->label);
		for (size_t i = 0; i < *n; i++)
			object_free((*objs)[i]);
		free(*objs);
		*objs = NULL;
		*n = 0;
		return CKR_HOST_MEMORY;
	}
	return CKR_OK;
}

void object_free(struct p11_object *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n_attrs; i++) {
		OPENSSL_cleanse(o->attrs[i].pValue, o->attrs[i].ulValueLen);
		free(o->attrs[i].pValue);
	}
	free(o->attrs);
	EVP_PKEY_free(o->pub);
	free(o);
}

static bool same_object(const struct p11_object *a, const struct p11_object *b)
{
	const CK_ATTRIBUTE *la = object_attr(a, CKA_LABEL), *lb = object_attr(b, CKA_LABEL);

	return a->cls == b->cls && la != NULL && lb != NULL && la->ulValueLen == lb->ulValueLen &&
	       memcmp(la->pValue, lb->pValue, la->ulValueLen) == 0;
}

/* An application that found a certificate before login, or before a
 * renewal, keeps a valid handle to it. */
void object_attach_inlock(struct p11_token *t, struct p11_object **objs, size_t n)
{
	lock_assert(LOCK_MOD);
	for (size_t i = 0; i < n; i++) {
		objs[i]->handle = 0;
		for (size_t j = 0; j < t->n_objects && objs[i]->handle == 0; j++)
			if (t->objects[j] != NULL && same_object(objs[i], t->objects[j])) {
				objs[i]->handle = t->objects[j]->handle;
				object_free(t->objects[j]);
				t->objects[j] = NULL;
			}
		if (objs[i]->handle == 0)
			objs[i]->handle = mod.next_handle++;
	}
	object_detach_inlock(t);
	t->objects = objs;
	t->n_objects = n;
}

void object_detach_inlock(struct p11_token *t)
{
	lock_assert(LOCK_MOD);
	for (size_t i = 0; i < t->n_objects; i++)
		object_free(t->objects[i]); /* NULL-safe */
	free(t->objects);
	t->objects = NULL;
	t->n_objects = 0;
}

const CK_ATTRIBUTE *object_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < o->n_attrs; i++)
		if (o->attrs[i].type == type)
			return &o->attrs[i];
	return NULL;
}

bool object_visible_inlock(const struct p11_session *s, const struct p11_object *o)
{
	lock_assert(LOCK_MOD);
	return !o->private_obj || s->token->logged_in;
}

struct p11_object *object_find_inlock(struct p11_session *s, CK_OBJECT_HANDLE h)
{
	struct p11_token *t = s->token;

	lock_assert(LOCK_MOD);
	for (size_t i = 0; i < t->n_objects; i++)
		if (t->objects[i]->handle == h)
			return object_visible_inlock(s, t->objects[i]) ? t->objects[i] : NULL;
	return NULL;
}

bool object_matches(const struct p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++) {
		const CK_ATTRIBUTE *a = object_attr(o, tmpl[i].type);

		if (a == NULL || a->ulValueLen != tmpl[i].ulValueLen ||
		    (a->ulValueLen && memcmp(a->pValue, tmpl[i].pValue, a->ulValueLen) != 0))
			return false;
	}
	return true;
}

static bool is_sensitive(const struct p11_object *o, CK_ATTRIBUTE_TYPE type)
{
	if (o->cls != CKO_PRIVATE_KEY)
		return false;
	for (size_t i = 0; i < sizeof(sensitive) / sizeof(sensitive[0]); i++)
		if (sensitive[i] == type)
			return true;
	return false;
}

/* Every attribute is processed; the return value reports the last kind
 * of problem met, as PKCS#11 allows. */
CK_RV object_get_attrs(const struct p11_object *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	CK_RV rv = CKR_OK;

	for (CK_ULONG i = 0; i < n; i++) {
		const CK_ATTRIBUTE *a = object_attr(o, tmpl[i].type);

		if (is_sensitive(o, tmpl[i].type)) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
		} else if (a == NULL) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (tmpl[i].pValue == NULL) {
			tmpl[i].ulValueLen = a->ulValueLen;
		} else if (tmpl[i].ulValueLen < a->ulValueLen) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			memcpy(tmpl[i].pValue, a->pValue, a->ulValueLen);
			tmpl[i].ulValueLen = a->ulValueLen;
		}
	}
	return rv;
}

CK_ULONG object_size(const struct p11_object *o)
{
	CK_ULONG n = 0;

	for (size_t i = 0; i < o->n_attrs; i++)
		n += sizeof(CK_ATTRIBUTE) + o->attrs[i].ulValueLen;
	return n;
}
