/* The broker's HTTPS front end: libmicrohttpd with TLS (GnuTLS), a thread
 * pool, bounded request bodies, per-connection timeouts, and one log line
 * per request. Routing is the handler's business. */
#ifndef A11_BROKER_HTTP_H
#define A11_BROKER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* GnuTLS priorities: TLS 1.2 and 1.3 only, AEAD ciphers, forward-secret
 * key exchange (tests/bench/floor.c handshakes with them too).
 * AES-128-GCM first: TLS 1.3's mandatory suite, as strong as the P-256
 * and X25519 it is keyed by, and its SHA-256 key schedule runs on the
 * CPU's SHA instructions where SHA-384's does not (a handshake ~30 %
 * cheaper on the bench machine, docs/performance.md). X25519
 * first: it is the key share OpenSSL's clients (libcurl's, the
 * attester's) send first, and with the server's precedence on P-256 each
 * of their TLS 1.3 handshakes took a HelloRetryRequest (a second
 * ClientHello and round trip); X25519 is also the cheaper ECDHE. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:" \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:" \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"

struct http_request {
	const char *method;          /* "GET", "POST", ... */
	const char *path;            /* "/v1/challenge" (no query string) */
	const char *content_type;    /* NULL if absent */
	const uint8_t *body;         /* NUL-terminated copy; body_len excludes the NUL */
	size_t body_len;
};

struct http_response {
	int status;
	const char *content_type;    /* static string */
	char *body;                  /* malloc'd by the handler; freed by http.c */
	size_t body_len;
	const char *outcome;         /* short word for the request log: "ok", a refusal code */
	unsigned retry_after;        /* s; 0: no Retry-After header */
};

/* Called on a pool thread, concurrently; must fill resp. */
typedef void (*http_handler)(void *ctx, const struct http_request *req,
			     struct http_response *resp);
/* Called once per request after the response is queued (for metrics). */
typedef void (*http_observer)(void *ctx, const struct http_request *req, int status,
			      double seconds);

struct http_config {
	const char *bind;            /* "127.0.0.1" */
	uint16_t port;               /* 0: pick a free port (see http_port) */
	const char *cert_file;       /* PEM certificate chain */
	const char *key_file;        /* PEM private key */
	unsigned threads;            /* pool size, >= 1 */
	size_t max_body;             /* larger bodies: 413 without reading them */
	const char *large_path;      /* the one path allowed a larger body, or NULL */
	size_t large_max_body;       /* ... and its limit (the evidence, with its event log) */
	unsigned timeout_s;          /* idle connection timeout */
};

struct http_server;

a11_err http_start(const struct http_config *cfg, http_handler h, http_observer obs,
		   void *ctx, struct http_server **out);
uint16_t http_port(const struct http_server *s);
/* Stop accepting, let in-flight requests finish, free everything. */
void http_stop(struct http_server *s);

#endif
