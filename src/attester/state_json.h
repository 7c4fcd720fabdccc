/* The lease file's format (src/attester/state_json.c), for state.c. */
#ifndef A11_STATE_JSON_H
#define A11_STATE_JSON_H

#include "state.h"

/* The file's text (malloc'd), or NULL (logged). */
char *state_encode(const char *credential, const struct host_lease *in);
/* A11_ERR_PARSE if buf is not a lease of credential (any version this
 * module reads); A11_ERR_NOMEM. */
a11_err state_decode(const char *buf, size_t len, const char *credential,
		     struct host_lease *out);

#endif
