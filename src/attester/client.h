/* HTTPS POST of JSON to the broker with libcurl: TLS 1.2+, peer and host
 * verified against a CA file, bounded response, timeouts on everything. */
#ifndef A11_ATTESTER_CLIENT_H
#define A11_ATTESTER_CLIENT_H

#include <stddef.h>

#include "../common/err.h"

struct client_response {
	long status;
	char *body;                   /* malloc'd, NUL-terminated */
	size_t len;
};

/* A11_ERR_NETWORK (connect/timeout), A11_ERR_TLS (certificate), A11_OK
 * with any HTTP status. */
a11_err client_post(const char *url, const char *ca_file, long connect_ms, long total_ms,
		    const char *json, struct client_response *out);

#endif
