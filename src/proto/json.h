/* Bounded JSON member access and base64 of TPM structures (jansson +
 * OpenSSL base64 + tss2-mu). Internal to src/proto. */
#ifndef A11_PROTO_JSON_H
#define A11_PROTO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <tss2/tss2_tpm2_types.h>

#include "../common/err.h"
#include "proto.h"

/* Strict standard base64 (padded, no whitespace). */
a11_err b64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *len);
/* Unpadded base64url (RFC 4648 §5), as JOSE writes it (RFC 7515 §2). */
a11_err b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *len);
/* malloc'd; NULL on allocation failure. */
char *b64_encode(const uint8_t *in, size_t len);

/* Getters: A11_ERR_NOT_FOUND when absent (callers decide whether that is
 * an error), A11_ERR_PARSE when present but wrong. */
a11_err j_str(json_t *o, const char *key, char *out, size_t cap);
a11_err j_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out);
a11_err j_bytes(json_t *o, const char *key, uint8_t *out, size_t cap, size_t *len);
/* Identifiers the broker draws at random (sessions, leases): exactly len
 * lowercase hex characters, so they are safe in logs, SQL and file names;
 * out holds at least len + 1. */
a11_err j_hex_id(json_t *o, const char *key, size_t len, char *out);

/* TPM structures as base64 members of their tss2-mu marshalling:
 * j_get_TPM2B_PUBLIC(o, "ek_public", &pub), j_put_TPM2B_PUBLIC(...), ... */
#define PROTO_TPM_TYPES(X) X(TPM2B_PUBLIC) X(TPMT_SIGNATURE) X(TPML_PCR_SELECTION) \
	X(TPM2B_ID_OBJECT) X(TPM2B_ENCRYPTED_SECRET) X(TPM2B_PRIVATE) X(TPMT_TK_VERIFIED) \
	X(TPM2B_NAME)
#define PROTO_DECLARE_TPM(T) \
	a11_err j_get_##T(json_t *o, const char *key, T *out); \
	a11_err j_put_##T(json_t *o, const char *key, const T *in);
PROTO_TPM_TYPES(PROTO_DECLARE_TPM)
a11_err j_get_attest(json_t *o, const char *key, const char *sig_key, struct proto_attest *out);
a11_err j_put_attest(json_t *o, const char *key, const char *sig_key,
		     const struct proto_attest *in);
a11_err j_put_bytes(json_t *o, const char *key, const uint8_t *in, size_t len);
/* Set key to v (stolen, NULL-safe): A11_ERR_NOMEM if v is NULL. */
a11_err j_set(json_t *o, const char *key, json_t *v);

/* Members of configuration files and policies, checked for people: an
 * absent optional member leaves *out alone; a wrong one is logged as
 * "WHERE: KEY must be ..." and gives -1. */
int j_conf_str(json_t *o, const char *where, const char *key, bool required, char *out,
	       size_t cap);
int j_conf_int(json_t *o, const char *where, const char *key, int64_t min, int64_t max,
	       int64_t *out);
/* -1, logged as "WHERE: unknown member KEY", if o has a member not in
 * known (NULL-terminated): a misspelt setting must not pass unnoticed
 * as its default, least of all in a policy. */
int j_conf_known(json_t *o, const char *where, const char *const *known);

/* src/proto/lease.c */
a11_err j_put_anchor(json_t *o, const char *key, const struct lease_anchor *in);
a11_err j_get_anchor(json_t *o, const char *key, struct lease_anchor *out);
a11_err j_put_approval(json_t *o, const char *key, const struct approval *in);
a11_err j_get_approval(json_t *o, const char *key, struct approval *out);

#endif
