/* HTTPS POST of JSON to the broker with libcurl: TLS 1.2+, peer and host
 * verified against a CA file, bounded response, timeouts on everything. */
#ifndef A11_ATTESTER_CLIENT_H
#define A11_ATTESTER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/err.h"

struct client_response {
	long status;
	char *body;                   /* malloc'd, NUL-terminated */
	size_t len;
};

/* A connection to the broker, kept open across the protocol's two round
 * trips and, owned by the token (attester_config.http), across the logins
 * and renewals of a token: one TLS handshake, not one per login.
 * curl reconnects by itself if the broker closed it meanwhile. */
struct client;

a11_err client_open(const char *ca_file, long connect_ms, long total_ms, struct client **out);
void client_close(struct client *c);
void client_free(void *c);                /* client_close for a void * */
/* Was c opened with these settings? */
bool client_fits(const struct client *c, const char *ca_file, long connect_ms, long total_ms);
/* A11_ERR_NETWORK (connect, reset, handshake, timeout), A11_ERR_TLS (the
 * broker's certificate is not trusted), A11_ERR_PROTOCOL (answer too
 * large), A11_OK with any HTTP status; the log line says what failed. */
a11_err client_post(struct client *c, const char *url, const char *json,
		    struct client_response *out);

/* curl's result (a CURLcode) and CURLINFO_OS_ERRNO -> the error, and in
 * *cause what really failed, for the log. */
a11_err client_classify(int curl_code, long os_errno, const char **cause);

#endif
