/* The three kinds of credential the broker deals out (seed draft §3):
 * an existing key + chain it holds, a certificate it issues for a key born
 * in the TPM, and a bearer token. */
#ifndef A11_KIND_H
#define A11_KIND_H

enum cred_kind { CRED_REPOSITORY, CRED_CA, CRED_TOKEN };

/* "repository", "ca", "token"; NULL for an invalid value. */
const char *cred_kind_name(enum cred_kind k);
/* 0 and *k set, or -1 for an unknown name. */
int cred_kind_parse(const char *s, enum cred_kind *k);

#endif
