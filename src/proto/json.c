#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "../common/log.h"
#include "json.h"

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

a11_err b64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *len)
{
	size_t pad = 0, raw;
	uint8_t *tmp;
	int n;

	/* EVP_DecodeBlock skips whitespace and ignores padding: check first;
	 * nothing longer than cap can need is decoded. */
	if (in_len % 4 != 0 || in_len / 4 > cap / 3 + 1)
		return A11_ERR_PARSE;
	while (pad < 2 && pad < in_len && in[in_len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < in_len - pad; i++)
		if (!b64_char(in[i]))
			return A11_ERR_PARSE;
	raw = in_len / 4 * 3;
	if (raw - pad > cap)
		return A11_ERR_PARSE;
	if (in_len == 0) {
		*len = 0;
		return A11_OK;
	}
	if ((tmp = malloc(raw)) == NULL)
		return A11_ERR_NOMEM;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)in_len);
	if (n == (int)raw) {
		memcpy(out, tmp, raw - pad);
		*len = raw - pad;
	}
	OPENSSL_cleanse(tmp, raw);
	free(tmp);
	return n == (int)raw ? A11_OK : A11_ERR_PARSE;
}

a11_err b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = (in_len + 3) / 4 * 4;
	char *std;
	a11_err r;

	/* One character left over encodes no whole byte. */
	if (in_len % 4 == 1 || in_len > 4 * ((size_t)PROTO_MAX_BODY / 3 + 1))
		return A11_ERR_PARSE;
	if ((std = malloc(n + 1)) == NULL)
		return A11_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char c = i < in_len ? in[i] : '=';

		/* The standard alphabet's own characters are not base64url. */
		std[i] = c == '+' || c == '/' || (c == '=' && i < in_len) ? '!'
			 : c == '-' ? '+' : c == '_' ? '/' : c;
	}
	r = b64_decode(std, n, out, cap, len);
	free(std);
	return r;
}

char *b64_encode(const uint8_t *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

a11_err j_str(json_t *o, const char *key, char *out, size_t cap)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (v == NULL)
		return A11_ERR_NOT_FOUND;
	if (!json_is_string(v) || (n = json_string_length(v)) >= cap ||
	    memchr(json_string_value(v), '\0', n) != NULL) {
		log_debug("member %s: not a string of at most %zu bytes", key, cap - 1);
		return A11_ERR_PARSE;
	}
	memcpy(out, json_string_value(v), n + 1);
	return A11_OK;
}

a11_err j_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return A11_ERR_NOT_FOUND;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		log_debug("member %s: not an integer in [%lld, %lld]", key, (long long)min,
			  (long long)max);
		return A11_ERR_PARSE;
	}
	*out = json_integer_value(v);
	return A11_OK;
}

a11_err j_hex_id(json_t *o, const char *key, size_t len, char *out)
{
	a11_err r = j_str(o, key, out, len + 1);

	if (r == A11_OK && (strlen(out) != len || strspn(out, "0123456789abcdef") != len)) {
		log_debug("member %s: not %zu lowercase hex characters", key, len);
		r = A11_ERR_PARSE;
	}
	return r;
}

a11_err j_bytes(json_t *o, const char *key, uint8_t *out, size_t cap, size_t *len)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return A11_ERR_NOT_FOUND;
	if (!json_is_string(v) ||
	    b64_decode(json_string_value(v), json_string_length(v), out, cap, len) != A11_OK) {
		log_debug("member %s: not base64 of at most %zu bytes", key, cap);
		return A11_ERR_PARSE;
	}
	return A11_OK;
}

int j_conf_str(json_t *o, const char *where, const char *key, bool required, char *out,
	       size_t cap)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap) {
		log_error("%s: %s must be a string of 1 to %zu bytes", where, key, cap - 1);
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int j_conf_known(json_t *o, const char *where, const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t i = 0;

		while (known[i] != NULL && strcmp(known[i], key) != 0)
			i++;
		if (known[i] == NULL) {
			log_error("%s: unknown member %s", where, key);
			return -1;
		}
	}
	return 0;
}

int j_conf_int(json_t *o, const char *where, const char *key, int64_t min, int64_t max,
	       int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		log_error("%s: %s must be an integer from %lld to %lld", where, key, (long long)min,
			  (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

a11_err j_set(json_t *o, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(o, key, v) == 0 ? A11_OK : A11_ERR_NOMEM;
}

a11_err j_put_bytes(json_t *o, const char *key, const uint8_t *in, size_t len)
{
	char *b = b64_encode(in, len);
	int rc = b == NULL ? -1 : json_object_set_new(o, key, json_string(b));

	free(b);
	return rc == 0 ? A11_OK : A11_ERR_NOMEM;
}

#define PROTO_DEFINE_TPM(T) \
	a11_err j_get_##T(json_t *o, const char *key, T *out) \
	{ \
		uint8_t buf[sizeof(T)]; \
		size_t len = 0, off = 0; \
		a11_err r = j_bytes(o, key, buf, sizeof(buf), &len); \
		if (r != A11_OK) \
			return r; \
		memset(out, 0, sizeof(*out)); \
		if (Tss2_MU_##T##_Unmarshal(buf, len, &off, out) != TSS2_RC_SUCCESS || off != len) { \
			log_debug("member %s: not one " #T, key); \
			return A11_ERR_PARSE; \
		} \
		return A11_OK; \
	} \
	a11_err j_put_##T(json_t *o, const char *key, const T *in) \
	{ \
		uint8_t buf[sizeof(T)]; \
		size_t off = 0; \
		if (Tss2_MU_##T##_Marshal(in, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS) \
			return A11_ERR_ARG; \
		return j_put_bytes(o, key, buf, off); \
	}
PROTO_TPM_TYPES(PROTO_DEFINE_TPM)

a11_err j_get_attest(json_t *o, const char *key, const char *sig_key, struct proto_attest *out)
{
	a11_err r = j_bytes(o, key, out->data, sizeof(out->data), &out->len);

	if (r == A11_OK && out->len == 0)
		r = A11_ERR_PARSE;
	if (r == A11_OK)
		r = j_get_TPMT_SIGNATURE(o, sig_key, &out->sig);
	/* Half an attestation is malformed, not absent. */
	return r == A11_ERR_NOT_FOUND &&
	       (json_object_get(o, key) != NULL || json_object_get(o, sig_key) != NULL)
		? A11_ERR_PARSE : r;
}

a11_err j_put_attest(json_t *o, const char *key, const char *sig_key,
		     const struct proto_attest *in)
{
	a11_err r = j_put_bytes(o, key, in->data, in->len);

	return r == A11_OK ? j_put_TPMT_SIGNATURE(o, sig_key, &in->sig) : r;
}
