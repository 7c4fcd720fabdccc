/* The broker's HTTPS front end over libmicrohttpd (GnuTLS).
 *
 * Each request lives in a struct conn_req from the first access-handler call
 * (headers received) to MHD's "request completed" notification. Bodies are
 * buffered here, bounded by max_body, and handed to the handler in one piece.
 * The server counts requests in flight so that http_stop can let them finish:
 * MHD_stop_daemon on its own closes connections whose response is queued but
 * not yet sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "../common/file.h"
#include "../common/log.h"
#include "http.h"
#include "http_tls.h"
#include "../proto/refusal.h"

/* Per-connection pool for headers and MHD's read/write buffers; bodies live
 * in our own buffer, so this only has to fit our small headers. At most
 * 32 KiB: MHD takes a larger pool from mmap and gives it back with munmap
 * at each connection's end, whose TLB shootdown across cores cost the
 * broker 4-5 % of its CPU over new connections; 32 KiB comes from malloc. */
#define CONN_MEMORY_LIMIT ((size_t)32 * 1024)
/* Certificate chains and keys are small; anything larger is a wrong path. */
#define PEM_MAX ((size_t)1 << 20)
/* MHD 0.9.75 cannot queue a response while the body is still arriving, so
 * an oversized chunked body is read and dropped before the 413; past this
 * much extra the client is not worth answering and is disconnected. */
#define DISCARD_SLACK ((size_t)1 << 20)
/* http_stop waits for requests in flight at most the idle timeout (after
 * which MHD drops a stalled client anyway) plus this. */
#define DRAIN_SLACK_S 5
#define LOG_PATH_MAX 96
#define PROBLEM_TYPE "application/problem+json"

struct http_server {
	struct MHD_Daemon *daemon;
	http_handler handler;
	http_observer observer;
	void *ctx;
	size_t max_body;
	const char *large_path;   /* the caller's, kept for the server's life */
	size_t large_max_body;
	unsigned timeout_s;
	uint16_t port;
	/* MHD keeps these pointers (documented as "memory pointer", no copy
	 * promised), so they stay alive until the daemon is stopped. */
	char *cert, *key;
	size_t cert_len, key_len;
	struct http_tickets *tickets;   /* session resumption (http_tls.c) */
	bool sync_ready;
	pthread_mutex_t lock;
	pthread_cond_t drained;
	unsigned inflight;        /* requests between first call and completion */
};

struct conn_req {
	struct timespec start;
	char method[16];
	char log_path[LOG_PATH_MAX + 1];  /* printable copy, for the request log */
	uint8_t *body;
	size_t len, cap;
	size_t seen;              /* bytes received, including discarded ones */
	size_t max_body;          /* this path's limit */
	bool too_large;           /* over max_body: dropping the rest */
	bool answered;            /* a response was queued */
};

static char empty_body[1];

static double elapsed_s(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* The path is URL-decoded by MHD and may hold control characters: never
 * let a client forge log lines. */
static void printable(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static void req_free(struct conn_req *r)
{
	if (r == NULL)
		return;
	/* Evidence bodies carry the PIN. */
	if (r->body != NULL)
		OPENSSL_cleanse(r->body, r->cap);
	free(r->body);
	free(r);
}

static void inflight_add(struct http_server *s, int delta)
{
	pthread_mutex_lock(&s->lock);
	s->inflight = (unsigned)((int)s->inflight + delta);
	if (s->inflight == 0)
		pthread_cond_broadcast(&s->drained);
	pthread_mutex_unlock(&s->lock);
}

/* An RFC 9457 answer made here rather than by the handler; the strings are
 * our constants, so they need no JSON escaping. body stays NULL on ENOMEM. */
static void problem(struct http_response *resp, int status, const char *code,
		    const char *title)
{
	static const char fmt[] = "{\"type\":\"urn:attest11:error:%s\",\"title\":\"%s\","
				  "\"status\":%d,\"code\":\"%s\",\"detail\":\"%s\"}";
	int n = snprintf(NULL, 0, fmt, code, title, status, code, title);

	*resp = (struct http_response){ .status = status, .content_type = PROBLEM_TYPE,
					.outcome = code };
	if (n >= 0 && (resp->body = malloc((size_t)n + 1)) != NULL) {
		snprintf(resp->body, (size_t)n + 1, fmt, code, title, status, code, title);
		resp->body_len = (size_t)n;
	}
}

static void refusal_problem(struct http_response *resp, enum refusal why)
{
	problem(resp, refusal_status(why), refusal_code(why), refusal_title(why));
}

static bool add_headers(struct MHD_Response *m, const struct http_response *resp)
{
	bool ok = MHD_add_response_header(m, "Cache-Control", "no-store") == MHD_YES;

	if (ok && resp->content_type != NULL)
		ok = MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE,
					     resp->content_type) == MHD_YES;
	if (ok && resp->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		ok = MHD_add_response_header(m, MHD_HTTP_HEADER_ALLOW, "GET, POST") == MHD_YES;
	if (ok && resp->retry_after > 0) {
		char secs[16];

		snprintf(secs, sizeof(secs), "%u", resp->retry_after);
		ok = MHD_add_response_header(m, MHD_HTTP_HEADER_RETRY_AFTER, secs) == MHD_YES;
	}
	return ok;
}

/* Queue resp (consuming its body), then log and observe. */
static enum MHD_Result respond(struct http_server *s, struct MHD_Connection *c,
			       struct conn_req *r, const struct http_request *req,
			       struct http_response *resp)
{
	enum MHD_Result ret = MHD_NO;
	struct MHD_Response *m;
	double secs;

	/* A copy keeps ownership simple: the handler's buffer is freed here
	 * whatever MHD does. */
	m = MHD_create_response_from_buffer(resp->body_len,
					    resp->body != NULL ? resp->body : empty_body,
					    MHD_RESPMEM_MUST_COPY);
	free(resp->body);
	resp->body = NULL;
	if (m == NULL || !add_headers(m, resp))
		goto out;
	ret = MHD_queue_response(c, (unsigned)resp->status, m);
	if (ret != MHD_YES)
		goto out;
	r->answered = true;
	secs = elapsed_s(&r->start);
	log_info("%s %s %d %s %.1f ms", r->method, r->log_path, resp->status,
		 resp->outcome != NULL ? resp->outcome : "-", secs * 1e3);
	if (s->observer != NULL)
		s->observer(s->ctx, req, resp->status, secs);
out:
	if (m != NULL)
		MHD_destroy_response(m);
	return ret;
}

static enum MHD_Result refuse(struct http_server *s, struct MHD_Connection *c,
			      struct conn_req *r, const char *url, const char *method,
			      bool bad_method)
{
	struct http_request req = { .method = method, .path = url,
				    .body = (const uint8_t *)"" };
	struct http_response resp = { 0 };

	/* 405 is HTTP plumbing, not a protocol refusal: no refusal code. */
	if (bad_method)
		problem(&resp, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
			"only GET and POST are served");
	else
		refusal_problem(&resp, REF_PAYLOAD_TOO_LARGE);
	return resp.body != NULL ? respond(s, c, r, &req, &resp) : MHD_NO;
}

/* The declared Content-Length, or 0 when absent. A malformed value is left
 * to MHD, which refuses it on its own; an overflowing one is too large. */
static unsigned long long declared_length(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n = 0;
	char *end;

	if (v == NULL || *v < '0' || *v > '9')
		goto out;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != ERANGE && *end != '\0')
		n = 0;
out:
	return n;
}

/* Room for need bytes (need <= limit): geometric growth, capped at limit. */
static bool reserve(struct conn_req *r, size_t need, size_t limit)
{
	size_t cap = r->cap != 0 ? r->cap : 1024;
	bool ok = true;
	uint8_t *p;

	if (need <= r->cap)
		goto out;
	while (cap < need && cap <= limit / 2)
		cap *= 2;
	if (cap < need || cap > limit)
		cap = limit;
	/* Not realloc: the old buffer may already hold part of a PIN. */
	ok = (p = malloc(cap)) != NULL;
	if (!ok)
		goto out;
	if (r->body != NULL) {
		memcpy(p, r->body, r->len);
		OPENSSL_cleanse(r->body, r->cap);
		free(r->body);
	}
	r->body = p;
	r->cap = cap;
out:
	return ok;
}

/* Whether a body declared excess bytes too large is read and dropped before
 * the 413 rather than answered at once. Answering at once closes the
 * connection with the body unread, and the kernel turns that close into a
 * reset the client may see before the 413 ("Broken pipe"). So a body within
 * DISCARD_SLACK of the limit is drained first; a larger one is not worth
 * reading, nor is a body the client holds back for "100 Continue". */
static bool drain_first(struct MHD_Connection *c, unsigned long long excess)
{
	const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_EXPECT);

	return excess <= DISCARD_SLACK && (expect == NULL || strcasecmp(expect, "100-continue") != 0);
}

/* First call, headers only: set up the request, refuse early what we can. */
static enum MHD_Result begin(struct http_server *s, struct MHD_Connection *c,
			     const char *url, const char *method, void **con_cls)
{
	unsigned long long declared = declared_length(c);
	struct conn_req *r = calloc(1, sizeof(*r));
	enum MHD_Result ret = MHD_NO;

	if (r == NULL)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	printable(r->method, sizeof(r->method), method);
	printable(r->log_path, sizeof(r->log_path), url);
	r->max_body = s->large_path != NULL && strcmp(url, s->large_path) == 0 ? s->large_max_body
									       : s->max_body;
	*con_cls = r;
	inflight_add(s, 1);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		ret = refuse(s, c, r, url, method, true);
	else if (declared > r->max_body && !drain_first(c, declared - r->max_body))
		/* Answered before the body is read; MHD then closes the
		 * connection. */
		ret = refuse(s, c, r, url, method, false);
	else if (declared > r->max_body) {
		r->too_large = true;   /* absorb drops it; the 413 comes at its end */
		ret = MHD_YES;
	}
	else if (declared == 0 || reserve(r, (size_t)declared + 1, r->max_body + 1))
		ret = MHD_YES;
out:
	return ret;
}

/* A piece of the body (chunked or not). */
static enum MHD_Result absorb(struct conn_req *r, const char *data, size_t *size)
{
	enum MHD_Result ret = MHD_NO;
	size_t n = *size;

	*size = 0;
	r->seen += n;
	if (!r->too_large && r->len + n > r->max_body) {
		r->too_large = true;
		if (r->body != NULL)
			OPENSSL_cleanse(r->body, r->cap);
		free(r->body);
		r->body = NULL;
		r->cap = r->len = 0;
	}
	if (r->too_large) {
		ret = r->seen > r->max_body + DISCARD_SLACK ? MHD_NO : MHD_YES;
		goto out;
	}
	if (!reserve(r, r->len + n + 1, r->max_body + 1))
		goto out;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	ret = MHD_YES;
out:
	return ret;
}

/* The whole request is in: run the handler and send what it says. */
static enum MHD_Result finish(struct http_server *s, struct MHD_Connection *c,
			      struct conn_req *r, const char *url, const char *method)
{
	struct http_request req = { .method = method, .path = url };
	struct http_response resp = { 0 };

	req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_TYPE);
	req.body = r->body != NULL ? r->body : (const uint8_t *)"";
	req.body_len = r->len;
	if (r->body != NULL)
		r->body[r->len] = '\0';
	s->handler(s->ctx, &req, &resp);
	if (resp.status < 100 || resp.status > 599) {
		log_error("handler gave HTTP status %d for %s", resp.status, r->log_path);
		free(resp.body);
		refusal_problem(&resp, REF_INTERNAL);
	}
	return respond(s, c, r, &req, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *data, size_t *size, void **con_cls)
{
	struct http_server *s = cls;
	struct conn_req *r = *con_cls;
	enum MHD_Result ret;

	(void)version;
	if (r == NULL)
		ret = begin(s, c, url, method, con_cls);
	else if (*size != 0)
		ret = absorb(r, data, size);
	else if (r->too_large)
		ret = refuse(s, c, r, url, method, false);
	else
		ret = finish(s, c, r, url, method);
	return ret;
}

static const char *termination(enum MHD_RequestTerminationCode toe)
{
	static const char *const names[] = {
		[MHD_REQUEST_TERMINATED_TIMEOUT_REACHED] = "timeout",
		[MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN] = "shutdown",
		[MHD_REQUEST_TERMINATED_READ_ERROR] = "read_error",
		[MHD_REQUEST_TERMINATED_CLIENT_ABORT] = "client_abort",
	};

	return (unsigned)toe < sizeof(names) / sizeof(names[0]) && names[toe] != NULL ?
	       names[toe] : "error";
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct conn_req *r = *con_cls;

	(void)c;
	if (r == NULL)
		return;
	/* Requests that never got an answer still get their one log line. */
	if (!r->answered)
		log_info("%s %s - %s %.1f ms", r->method, r->log_path, termination(toe),
			 elapsed_s(&r->start) * 1e3);
	req_free(r);
	*con_cls = NULL;
	inflight_add(s, -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("libmicrohttpd: %s", line);
}

/* An IPv4 or IPv6 literal ("::1" or "[::1]"). */
static bool parse_bind(const char *host, uint16_t port, struct sockaddr_storage *ss, bool *v6)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	bool ok = false;

	memset(ss, 0, sizeof(*ss));
	if (n >= sizeof(buf))
		goto out;
	memcpy(buf, host, n + 1);
	if (n >= 2 && buf[0] == '[' && buf[n - 1] == ']') {
		buf[n - 1] = '\0';
		memmove(buf, buf + 1, n - 1);
	}
	*v6 = inet_pton(AF_INET, buf, &a4->sin_addr) != 1;
	if (!*v6) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		ok = true;
	} else if (inet_pton(AF_INET6, buf, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		ok = true;
	}
out:
	return ok;
}

static bool sync_init(struct http_server *s)
{
	pthread_condattr_t attr;
	bool ok = false;

	if (pthread_condattr_init(&attr) != 0)
		goto out;
	/* Drain deadlines must not move with the wall clock. */
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&s->drained, &attr) == 0) {
		ok = pthread_mutex_init(&s->lock, NULL) == 0;
		if (!ok)
			pthread_cond_destroy(&s->drained);
	}
	pthread_condattr_destroy(&attr);
out:
	return ok;
}

static void server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->key != NULL)
		OPENSSL_cleanse(s->key, s->key_len);
	free(s->key);
	free(s->cert);
	http_tickets_free(s->tickets);
	if (s->sync_ready) {
		pthread_cond_destroy(&s->drained);
		pthread_mutex_destroy(&s->lock);
	}
	free(s);
}

static a11_err start_daemon(struct http_server *s, const struct http_config *cfg,
			    const struct sockaddr_storage *ss, bool v6)
{
	/* ITC: MHD_quiesce_daemon needs it with internal threads. */
	unsigned flags = MHD_USE_TLS | MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	/* MHD warns about a pool of one and runs its single polling thread
	 * then, so the option is given only for more (END ends the array). */
	struct MHD_OptionItem pool[] = {
		{ cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		  (intptr_t)cfg->threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	const union MHD_DaemonInfo *info;
	a11_err e = A11_ERR_IO;

	/* The logger goes first so that start-up errors reach our log. */
	s->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
		MHD_OPTION_HTTPS_MEM_CERT, s->cert,
		MHD_OPTION_HTTPS_MEM_KEY, s->key,
		MHD_OPTION_HTTPS_PRIORITIES, HTTP_TLS_PRIORITIES,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, http_tickets_on_connection, s->tickets,
		MHD_OPTION_END);
	if (s->daemon == NULL) {
		log_error("cannot start HTTPS on %s port %u", cfg->bind, (unsigned)cfg->port);
		goto out;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : cfg->port;
	e = A11_OK;
out:
	return e;
}

a11_err http_start(const struct http_config *cfg, http_handler h, http_observer obs,
		   void *ctx, struct http_server **out)
{
	struct http_server *s = NULL;
	struct sockaddr_storage ss;
	a11_err e = A11_ERR_ARG;
	bool v6;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || h == NULL || out == NULL || cfg->bind == NULL ||
	    cfg->cert_file == NULL || cfg->key_file == NULL || cfg->threads == 0 ||
	    cfg->max_body == 0 || cfg->max_body >= SIZE_MAX - DISCARD_SLACK ||
	    (cfg->large_path != NULL && (cfg->large_max_body < cfg->max_body ||
					 cfg->large_max_body >= SIZE_MAX - DISCARD_SLACK)))
		goto out;
	if (!parse_bind(cfg->bind, cfg->port, &ss, &v6)) {
		log_error("bind address %s is not an IPv4 or IPv6 literal", cfg->bind);
		goto out;
	}
	e = A11_ERR_NOMEM;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	s->sync_ready = sync_init(s);
	if (!s->sync_ready)
		goto out;
	s->handler = h;
	s->observer = obs;
	s->ctx = ctx;
	s->max_body = cfg->max_body;
	s->large_path = cfg->large_path;
	s->large_max_body = cfg->large_max_body;
	s->timeout_s = cfg->timeout_s;
	if ((e = file_read_all(cfg->cert_file, PEM_MAX, &s->cert, &s->cert_len)) != A11_OK ||
	    (e = file_read_all(cfg->key_file, PEM_MAX, &s->key, &s->key_len)) != A11_OK ||
	    (e = http_tickets_new(&s->tickets)) != A11_OK ||
	    (e = start_daemon(s, cfg, &ss, v6)) != A11_OK)
		goto out;
	log_info("listening on %s port %u (%u threads)", cfg->bind, (unsigned)s->port,
		 cfg->threads);
	*out = s;
	s = NULL;
out:
	server_free(s);
	return e;
}

uint16_t http_port(const struct http_server *s)
{
	return s != NULL ? s->port : 0;
}

/* Wait until no request is in flight, or until the deadline. */
static void drain(struct http_server *s)
{
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)s->timeout_s + DRAIN_SLACK_S;
	pthread_mutex_lock(&s->lock);
	while (s->inflight > 0 && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&s->drained, &s->lock, &deadline);
	if (s->inflight > 0)
		log_warn("stopping with %u request(s) still in flight", s->inflight);
	pthread_mutex_unlock(&s->lock);
}

void http_stop(struct http_server *s)
{
	MHD_socket listen_fd;

	if (s == NULL)
		return;
	listen_fd = MHD_quiesce_daemon(s->daemon);
	drain(s);
	MHD_stop_daemon(s->daemon);
	/* After quiesce the listening socket is ours to close, and only once
	 * the daemon's threads are gone. */
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	http_tickets_report(s->tickets);
	log_info("stopped listening on port %u", (unsigned)s->port);
	server_free(s);
}
