/* EAR signing key files (declared in ear.h): a P-256 private JWK readable
 * by its owner only, the public JWK next to it for relying parties, both
 * carrying the RFC 7638 thumbprint as "kid". */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../common/file.h"
#include "../common/log.h"
#include "ear.h"
#include "ear_internal.h"

#define KEY_FILE_MAX 4096       /* a P-256 private JWK is ~250 bytes */

/* RFC 7638 thumbprint: SHA-256 over the required EC members in lexicographic
 * order without whitespace. cjose 0.6.2 has no thumbprint function, so the
 * canonical form is rebuilt from cjose's public JWK with sorted keys. */
static a11_err thumbprint(const cjose_jwk_t *jwk, char kid[EAR_KID_LEN + 1])
{
	cjose_err err = { 0 };
	char *pub = cjose_jwk_to_json(jwk, false, &err);
	json_t *full = pub != NULL ? json_loads(pub, 0, NULL) : NULL;
	json_t *canon = NULL;
	char *text = NULL, *b64 = NULL;
	unsigned char md[32];
	size_t b64_len = 0;
	a11_err r = A11_ERR_CRYPTO;

	canon = json_pack("{s:O, s:O, s:O, s:O}", "crv", json_object_get(full, "crv"),
			  "kty", json_object_get(full, "kty"), "x", json_object_get(full, "x"),
			  "y", json_object_get(full, "y"));
	if (canon == NULL) {
		log_warn("cannot rebuild the public JWK: %s", cj_msg(&err));
		goto out;
	}
	text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL || EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	if (!cjose_base64url_encode(md, sizeof(md), &b64, &b64_len, &err) || b64_len != EAR_KID_LEN) {
		log_warn("base64url: %s", cj_msg(&err));
		goto out;
	}
	memcpy(kid, b64, EAR_KID_LEN + 1);
	r = A11_OK;
out:
	cj_free(b64);
	free(text);
	json_decref(canon);
	json_decref(full);
	cj_free(pub);
	return r;
}

static a11_err write_keys(const cjose_jwk_t *jwk, const char *priv_path, const char *pub_path)
{
	cjose_err err = { 0 };
	char *priv = cjose_jwk_to_json(jwk, true, &err);
	char *pub = cjose_jwk_to_json(jwk, false, &err);
	a11_err r = A11_ERR_NOMEM;

	if (priv == NULL || pub == NULL) {
		log_warn("cannot serialize the JWK: %s", cj_msg(&err));
		goto out;
	}
	r = file_create(priv_path, 0600, priv);
	if (r != A11_OK)
		goto out;
	r = file_create(pub_path, 0644, pub);
	/* A private key without its public half would only confuse the next
	 * `init`; we created it (O_EXCL), so removing it is safe. */
	if (r != A11_OK)
		unlink(priv_path);
out:
	if (priv != NULL)
		OPENSSL_cleanse(priv, strlen(priv));
	cj_free(priv);
	cj_free(pub);
	return r;
}

a11_err ear_keygen(const char *priv_path, const char *pub_path)
{
	cjose_err err = { 0 };
	cjose_jwk_t *jwk = NULL;
	char kid[EAR_KID_LEN + 1];
	a11_err r = A11_ERR_ARG;

	if (priv_path == NULL || pub_path == NULL)
		goto out;
	r = A11_ERR_CRYPTO;
	jwk = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
	if (jwk == NULL) {
		log_warn("cannot create a P-256 key: %s", cj_msg(&err));
		goto out;
	}
	r = thumbprint(jwk, kid);
	if (r != A11_OK)
		goto out;
	/* The kid in both files lets a relying party match tokens to keys. */
	if (!cjose_jwk_set_kid(jwk, kid, EAR_KID_LEN, &err)) {
		log_warn("cannot set kid: %s", cj_msg(&err));
		r = A11_ERR_NOMEM;
		goto out;
	}
	r = write_keys(jwk, priv_path, pub_path);
out:
	if (jwk != NULL)
		cjose_jwk_release(jwk);
	return r;
}

/* The whole private key file, refusing one that others may read. */
static a11_err read_private(const char *path, char buf[KEY_FILE_MAX], size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd;
	a11_err r = file_open_private(path, "EAR signing key", &fd, &st);

	if (r != A11_OK)
		return r;
	r = A11_ERR_ARG;
	if (st.st_size <= 0 || st.st_size >= KEY_FILE_MAX) {
		log_error("EAR signing key %s: unexpected size", path);
		goto out;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n != (ssize_t)st.st_size) {
		log_error("cannot read EAR signing key %s", path);
		r = A11_ERR_IO;
		goto out;
	}
	*len = (size_t)n;
	r = A11_OK;
out:
	close(fd);
	return r;
}

/* Only an EC P-256 private JWK will do; checked on the JSON first because
 * cjose happily imports a public-only key as a "signing" key. */
static a11_err import_private(const char *path, const char *text, size_t len, cjose_jwk_t **out)
{
	cjose_err err = { 0 };
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	cjose_jwk_t *jwk = NULL;
	a11_err r = A11_ERR_PARSE;

	if (!json_is_object(j)) {
		log_error("EAR signing key %s is not a JWK", path);
		goto out;
	}
	r = A11_ERR_UNSUPPORTED;
	if (!member_is(j, "kty", "EC") || !member_is(j, "crv", "P-256")) {
		log_error("EAR signing key %s is not an EC P-256 JWK", path);
		goto out;
	}
	r = A11_ERR_ARG;
	if (!member_is(j, "d", NULL)) {
		log_error("EAR signing key %s has no private part", path);
		goto out;
	}
	r = A11_ERR_PARSE;
	jwk = cjose_jwk_import_json(j, &err);
	if (jwk == NULL || cjose_jwk_get_kty(jwk, &err) != CJOSE_JWK_KTY_EC ||
	    cjose_jwk_EC_get_curve(jwk, &err) != CJOSE_JWK_EC_P_256) {
		log_warn("EAR signing key %s rejected: %s", path, cj_msg(&err));
		goto out;
	}
	*out = jwk;
	jwk = NULL;
	r = A11_OK;
out:
	if (jwk != NULL)
		cjose_jwk_release(jwk);
	json_decref(j);
	return r;
}

a11_err ear_signer_load(const char *priv_path, struct ear_signer **out)
{
	char buf[KEY_FILE_MAX];
	size_t len = 0;
	struct ear_signer *s = NULL;
	a11_err r = A11_ERR_ARG;

	if (priv_path == NULL || out == NULL)
		goto out;
	*out = NULL;
	r = read_private(priv_path, buf, &len);
	if (r != A11_OK)
		goto out;
	r = A11_ERR_NOMEM;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto out;
	r = import_private(priv_path, buf, len, &s->jwk);
	if (r == A11_OK)
		r = thumbprint(s->jwk, s->kid);
	if (r == A11_OK) {
		*out = s;
		s = NULL;
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	ear_signer_free(s);
	return r;
}

void ear_signer_free(struct ear_signer *s)
{
	if (s == NULL)
		return;
	if (s->jwk != NULL)
		cjose_jwk_release(s->jwk);
	free(s);
}
