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

/* One connection to the broker, kept open across the protocol's two
 * round trips (one TLS handshake per login, not two). */
struct client;

a11_err client_open(const char *ca_file, long connect_ms, long total_ms, struct client **out);
void client_close(struct client *c);
/* A11_ERR_NETWORK (connect/timeout), A11_ERR_TLS (certificate), A11_OK
 * with any HTTP status. */
a11_err client_post(struct client *c, const char *url, const char *json,
		    struct client_response *out);

#endif
