/* Leaf certificates for TPM-born keys (declared in ca.h). Every input is
 * checked before anything is built: whatever this file produces carries
 * the CA's signature, so a malformed SAN or an over-long validity would
 * become a trusted statement. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "../common/log.h"
#include "ca.h"

#define SERIAL_BYTES 16         /* 128 bits, top bit cleared: positive */
#define SAN_MAX 255
#define CN_MAX 64               /* ub-common-name, RFC 5280 */

/* Logs OpenSSL's reason under the caller's name and empties the queue so
 * the next operation does not report a stale error. */
static a11_err crypto_fail(const char *func, const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	a11_log(A11_LOG_WARN, func, "%s: %s", what, buf);
	ERR_clear_error();
	return A11_ERR_CRYPTO;
}

/* ---- request checks ---- */

/* The SAN is built directly as an IA5String, so no config syntax is
 * involved; still, a workload id is a URI (RFC 3986: a scheme, then
 * printable ASCII without spaces), and commas and newlines are refused so
 * that the value stays unambiguous in logs and in `openssl x509 -text`. */
static bool san_ok(const char *uri)
{
	size_t n = strnlen(uri, SAN_MAX + 1), i;

	if (n == 0 || n > SAN_MAX)
		return false;
	for (size_t k = 0; k < n; k++)
		if (uri[k] < 0x21 || uri[k] > 0x7e || uri[k] == ',')
			return false;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	if (!isalpha((unsigned char)uri[0]))
		return false;
	for (i = 1; i < n && uri[i] != ':'; i++)
		if (!isalnum((unsigned char)uri[i]) && strchr("+-.", uri[i]) == NULL)
			return false;
	return i < n;
}

static bool key_supported(EVP_PKEY *k)
{
	int id = EVP_PKEY_get_base_id(k);

	return id == EVP_PKEY_RSA || id == EVP_PKEY_EC;
}

static a11_err check_validity(X509 *issuer, const struct ca_request *req)
{
	int cmp;

	if ((int64_t)(time_t)req->not_after != req->not_after ||
	    (int64_t)(time_t)req->not_before != req->not_before)
		return A11_ERR_ARG;
	if (req->not_after <= req->not_before) {
		log_warn("certificate would expire before it starts");
		return A11_ERR_ARG;
	}
	/* -2 (unreadable issuer time) fails too. */
	cmp = ASN1_TIME_cmp_time_t(X509_get0_notAfter(issuer), (time_t)req->not_after);
	if (cmp < 0) {
		log_warn("certificate would outlive its issuer");
		return A11_ERR_ARG;
	}
	return A11_OK;
}

static a11_err check_request(EVP_PKEY *issuer_key, X509 *issuer, const struct ca_request *req)
{
	if (req->subject_key == NULL || req->common_name == NULL || req->san_uri == NULL)
		return A11_ERR_ARG;
	if (!key_supported(issuer_key) || !key_supported(req->subject_key)) {
		log_warn("only RSA and EC keys are supported");
		return A11_ERR_UNSUPPORTED;
	}
	if (req->common_name[0] == '\0' || strnlen(req->common_name, CN_MAX + 1) > CN_MAX) {
		log_warn("common name is empty or longer than %d bytes", CN_MAX);
		return A11_ERR_ARG;
	}
	if (!san_ok(req->san_uri)) {
		log_warn("subjectAltName URI is not an acceptable URI");
		return A11_ERR_ARG;
	}
	/* Catches a configuration that pairs the CA certificate with another key:
	 * every certificate signed so would fail to chain. */
	if (X509_check_private_key(issuer, issuer_key) != 1 || X509_check_ca(issuer) < 1) {
		ERR_clear_error();
		log_warn("issuer key does not match the issuer certificate, or it is not a CA");
		return A11_ERR_ARG;
	}
	return check_validity(issuer, req);
}

/* ---- serial ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* RFC 5280 wants a positive, nonzero serial; unpredictable serials also
 * defeat chosen-prefix collisions (CA/B Forum: at least 64 random bits). */
static a11_err random_serial(uint8_t s[SERIAL_BYTES])
{
	do {
		if (RAND_bytes(s, SERIAL_BYTES) != 1)
			return crypto_fail(__func__, "RAND_bytes");
		s[0] &= 0x7f;
	} while (all_zero(s, SERIAL_BYTES));
	return A11_OK;
}

static void serial_to_hex(const uint8_t s[SERIAL_BYTES], char hex[41])
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < 2 * SERIAL_BYTES; i++) {
		unsigned v = i % 2 == 0 ? s[i / 2] >> 4 : s[i / 2] & 0x0f;

		if (n == 0 && v == 0)
			continue;   /* no leading zeros */
		hex[n++] = digits[v];
	}
	hex[n] = '\0';
}

static a11_err set_serial(X509 *x, const uint8_t s[SERIAL_BYTES])
{
	BIGNUM *bn = BN_bin2bn(s, SERIAL_BYTES, NULL);
	a11_err r = A11_OK;

	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		r = crypto_fail(__func__, "serial");
	BN_free(bn);
	return r;
}

/* ---- the certificate body ---- */

static a11_err set_subject(X509 *x, const char *cn)
{
	X509_NAME *name = X509_NAME_new();
	a11_err r = A11_ERR_ARG;

	/* add_entry fails on invalid UTF-8, which is the caller's fault. */
	if (name == NULL || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
						       (const unsigned char *)cn, -1, -1, 0) != 1) {
		ERR_clear_error();
		log_warn("common name is not valid UTF-8");
		goto out;
	}
	r = X509_set_subject_name(x, name) == 1 ? A11_OK : crypto_fail(__func__, "subject");
out:
	X509_NAME_free(name);
	return r;
}

static a11_err new_cert(X509 *issuer, const struct ca_request *req,
			const uint8_t serial[SERIAL_BYTES], X509 **out)
{
	X509 *x = X509_new();
	a11_err r = A11_ERR_NOMEM;

	if (x == NULL)
		goto out;
	r = set_serial(x, serial);
	if (r == A11_OK)
		r = set_subject(x, req->common_name);
	if (r != A11_OK)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)req->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)req->not_after) == NULL ||
	    X509_set_pubkey(x, req->subject_key) != 1)
		r = crypto_fail(__func__, "certificate fields");
out:
	if (r != A11_OK) {
		X509_free(x);
		x = NULL;
	}
	*out = x;
	return r;
}

/* ---- extensions ---- */

static a11_err add_conf_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	a11_err r = A11_OK;

	memset(&ctx, 0, sizeof(ctx));
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		r = crypto_fail(__func__, OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return r;
}

/* Built by hand rather than with "keyid:always": OpenSSL 3.0 can derive
 * the key id only from an issuer subjectKeyIdentifier extension. Without
 * one we use what "hash" would have put there (RFC 5280 method 1). */
static a11_err add_akid(X509 *x, X509 *issuer)
{
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	a11_err r = A11_ERR_NOMEM;

	if (akid == NULL)
		goto out;
	if (ski != NULL) {
		akid->keyid = ASN1_OCTET_STRING_dup(ski);
	} else if (X509_pubkey_digest(issuer, EVP_sha1(), md, &md_len) == 1) {
		akid->keyid = ASN1_OCTET_STRING_new();
		if (akid->keyid != NULL && ASN1_OCTET_STRING_set(akid->keyid, md, (int)md_len) != 1)
			goto out;
	}
	if (akid->keyid == NULL ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1) {
		r = crypto_fail(__func__, "authorityKeyIdentifier");
		goto out;
	}
	r = A11_OK;
out:
	AUTHORITY_KEYID_free(akid);
	return r;
}

/* An IA5String GeneralName built directly, never through the config
 * parser, whose syntax (commas, "URI:" prefixes) the value could abuse. */
static a11_err add_san(X509 *x, const char *uri)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	a11_err r = A11_ERR_NOMEM;

	if (names == NULL || gn == NULL || ia5 == NULL || ASN1_STRING_set(ia5, uri, -1) != 1)
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
	ia5 = NULL;
	if (sk_GENERAL_NAME_push(names, gn) <= 0)
		goto out;
	gn = NULL;
	r = A11_OK;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) != 1)
		r = crypto_fail(__func__, "subjectAltName");
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return r;
}

static a11_err add_extensions(X509 *x, X509 *issuer, const struct ca_request *req)
{
	/* keyEncipherment only makes sense for RSA key transport (RFC 5480
	 * forbids it for EC keys). */
	bool rsa = EVP_PKEY_get_base_id(req->subject_key) == EVP_PKEY_RSA;
	a11_err r;

	r = add_conf_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
	if (r == A11_OK)
		r = add_conf_ext(x, issuer, NID_key_usage, rsa ? "critical,digitalSignature,keyEncipherment"
								: "critical,digitalSignature");
	if (r == A11_OK)
		r = add_conf_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	if (r == A11_OK)
		r = add_conf_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (r == A11_OK)
		r = add_akid(x, issuer);
	if (r == A11_OK)
		r = add_san(x, req->san_uri);
	return r;
}

a11_err ca_issue(EVP_PKEY *issuer_key, X509 *issuer_cert, const struct ca_request *req,
		 X509 **out, char serial_hex[41])
{
	uint8_t serial[SERIAL_BYTES];
	X509 *x = NULL;
	a11_err r = A11_ERR_ARG;

	if (out != NULL)
		*out = NULL;
	if (issuer_key == NULL || issuer_cert == NULL || req == NULL || out == NULL ||
	    serial_hex == NULL)
		goto out;
	r = check_request(issuer_key, issuer_cert, req);
	if (r == A11_OK)
		r = random_serial(serial);
	if (r == A11_OK)
		r = new_cert(issuer_cert, req, serial, &x);
	if (r == A11_OK)
		r = add_extensions(x, issuer_cert, req);
	/* SHA-256 with ECDSA or RSA PKCS#1 v1.5, by the issuer key's type. */
	if (r == A11_OK && X509_sign(x, issuer_key, EVP_sha256()) <= 0)
		r = crypto_fail(__func__, "X509_sign");
	if (r != A11_OK)
		goto out;
	serial_to_hex(serial, serial_hex);
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return r;
}
