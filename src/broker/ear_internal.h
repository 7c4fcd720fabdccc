/* Shared by ear.c (tokens) and ear_key.c (key files); not an API. */
#ifndef A11_BROKER_EAR_INTERNAL_H
#define A11_BROKER_EAR_INTERNAL_H

#include <stdbool.h>
#include <string.h>
#include <cjose/cjose.h>
#include <jansson.h>

#define EAR_KID_LEN 43          /* RFC 7638 SHA-256 thumbprint, base64url */

struct ear_signer {
	cjose_jwk_t *jwk;       /* EC P-256 with its private part */
	char kid[EAR_KID_LEN + 1];
};

/* cjose leaves err untouched on some failure paths. */
static inline const char *cj_msg(const cjose_err *err)
{
	return err->message != NULL ? err->message : "unknown cjose error";
}

static inline void cj_free(void *p)
{
	cjose_get_dealloc()(p);
}

/* obj[key] is a string (equal to want unless want is NULL). */
static inline bool member_is(json_t *obj, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v != NULL && (want == NULL || strcmp(v, want) == 0);
}

#endif
