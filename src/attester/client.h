/* HTTPS POST of JSON to the broker with libcurl: TLS 1.2+, peer and host
 * verified against a CA file, bounded response, timeouts on everything;
 * over several replicas of the broker, failing over from one to the next
 * (docs/operations.md, "Running several brokers"). */
#ifndef A11_ATTESTER_CLIENT_H
#define A11_ATTESTER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/err.h"
#include "brokers.h"
/* A broker's Retry-After is honoured up to this many seconds. */
#define CLIENT_RETRY_AFTER_MAX 5

struct client_response {
	long status;
	char *body;                   /* malloc'd, NUL-terminated */
	size_t len;
	const char *broker;           /* the URL that answered (the client's, until it closes) */
	unsigned retry_after;         /* a 503's Retry-After in seconds (bounded), else 0 */
	bool failed_over;             /* an earlier broker failed this request: it may
				       * have acted on it before it died */
	unsigned busy_retried;        /* 503s with Retry-After met and tried again */
};

/* A connection to the brokers, kept open across the protocol's two round
 * trips and, owned by the token (attester_config.http), across the logins
 * and renewals of a token: one TLS handshake, not one per login.
 * curl reconnects by itself if the broker closed it meanwhile.
 * brokers: "https://a:8443" or "https://a:8443,https://b:8443". */
struct client;

/* A11_ERR_ARG (with a log line) if brokers is not 1 to CLIENT_MAX_BROKERS
 * https URLs. */
a11_err client_open(const char *brokers, const char *ca_file, long connect_ms, long total_ms,
		    struct client **out);
void client_close(struct client *c);
/* Was c opened with these settings? */
bool client_fits(const struct client *c, const char *brokers, const char *ca_file,
		 long connect_ms, long total_ms);
/* POST json to path ("/v1/challenge") at the broker that last served; on
 * a connection failure, reset, timeout or HTTP 5xx, at the next one after
 * a jittered backoff (client_backoff_ms), each broker once, and once more
 * after a 503 with Retry-After. A11_ERR_NETWORK (connect, reset,
 * handshake, timeout), A11_ERR_TLS (the broker's certificate is not
 * trusted), A11_ERR_PROTOCOL (answer too large), A11_OK with any HTTP
 * status (the last broker's); the log says what failed and which broker
 * served. */
a11_err client_post(struct client *c, const char *path, const char *json,
		    struct client_response *out);

/* The TLS sessions of one client machine, kept apart from its
 * connections: a client opened after another closed resumes the other's
 * session (the broker's session tickets, docs/protocol.md) instead of a
 * full handshake. A client keeps its own sessions already, across its
 * reconnections; this is for callers that close and open clients, as
 * attest11-load's --new-connections does for each simulated host. Not
 * for several machines at once: one machine's sessions, one request at a
 * time (no locking). */
struct client_sessions;

a11_err client_sessions_new(struct client_sessions **out);
/* After every client that used s is closed. */
void client_sessions_free(struct client_sessions *s);
/* c resumes from, and keeps its new sessions in, s. */
void client_use_sessions(struct client *c, struct client_sessions *s);

/* curl's result (a CURLcode) and CURLINFO_OS_ERRNO -> the error, and in
 * *cause what really failed, for the log. */
a11_err client_classify(int curl_code, long os_errno, const char **cause);
/* The wait before retry number `retry` (1, 2, ...): uniform in
 * [50, 100] ms doubling per retry, at most 1600 ms; at least retry_after
 * seconds (bounded by CLIENT_RETRY_AFTER_MAX) if the broker said so.
 * *seed: rand_r's state. */
long client_backoff_ms(unsigned retry, unsigned retry_after, unsigned *seed);

#endif
