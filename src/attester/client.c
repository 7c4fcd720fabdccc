#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "../common/log.h"
#include "../proto/proto.h"
#include "client.h"

/* A broker answer is small; more means a wrong or hostile peer. */
#define RESPONSE_MAX (4 * PROTO_MAX_BODY)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct client_response *r = arg;
	size_t len = size * n;
	char *b;

	if (len > RESPONSE_MAX - r->len || (b = realloc(r->body, r->len + len + 1)) == NULL)
		return 0; /* curl aborts the transfer */
	memcpy(b + r->len, p, len);
	r->len += len;
	b[r->len] = '\0';
	r->body = b;
	return len;
}

/* What failed, said precisely: only curl's certificate verdicts mean the
 * broker is not trusted. A broker that restarts resets the connection,
 * which curl reports as a send, receive or TLS handshake error; that is
 * the network, not trust. */
a11_err client_classify(int rc, long os_errno, const char **cause)
{
	bool reset = os_errno == ECONNRESET || os_errno == EPIPE || os_errno == ECONNABORTED;

	switch (rc) {
	case CURLE_OK:
		*cause = "ok";
		return A11_OK;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_INVALIDCERTSTATUS:
		*cause = "the broker's TLS certificate is not trusted (check ca_file)";
		return A11_ERR_TLS;
	case CURLE_WRITE_ERROR:
		*cause = "the broker's answer is too large";
		return A11_ERR_PROTOCOL;
	case CURLE_OPERATION_TIMEDOUT:
		*cause = "the broker did not answer in time";
		return A11_ERR_NETWORK;
	case CURLE_COULDNT_RESOLVE_HOST:
		*cause = "cannot resolve the broker's name";
		return A11_ERR_NETWORK;
	case CURLE_COULDNT_CONNECT:
		*cause = "cannot connect to the broker (down, or a firewall)";
		return A11_ERR_NETWORK;
	case CURLE_SSL_CONNECT_ERROR:
		*cause = reset ? "the broker reset the connection during the TLS handshake "
				 "(restarting?)"
			       : "the TLS handshake with the broker failed (not a certificate "
				 "problem: protocol or connection)";
		return A11_ERR_NETWORK;
	default:
		*cause = reset ? "the broker reset the connection (restarting?)"
			       : "the connection to the broker failed";
		return A11_ERR_NETWORK;
	}
}

struct client {
	CURL *curl;
	struct curl_slist *hdr;
	char *ca_file;
	char *brokers;                /* as given, for client_fits */
	char *split;                  /* a copy cut at the commas: url[] points into it */
	const char *url[CLIENT_MAX_BROKERS];
	size_t n, cur;                /* cur: the broker that last served */
	long connect_ms, total_ms;
	unsigned seed;                /* the backoff's jitter */
};

static void setup(struct client *c)
{
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->total_ms);
	/* Signals are no way to time out inside a library a process loads. */
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdr);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
}

a11_err client_open(const char *brokers, const char *ca_file, long connect_ms, long total_ms,
		    struct client **out)
{
	struct client *c;
	a11_err r;

	*out = NULL;
	pthread_once(&once, global_init);
	if (global_rc != CURLE_OK || (c = calloc(1, sizeof(*c))) == NULL)
		return A11_ERR_NOMEM;
	c->curl = curl_easy_init();
	c->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	c->ca_file = strdup(ca_file);
	c->brokers = strdup(brokers);
	c->split = strdup(brokers);
	c->connect_ms = connect_ms;
	c->total_ms = total_ms;
	/* Jitter only: spreads hosts that lost the same broker at once. */
	c->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)c;
	r = c->curl && c->hdr && c->ca_file && c->brokers && c->split
		    ? brokers_split(c->split, brokers, c->url, &c->n)
		    : A11_ERR_NOMEM;
	if (r != A11_OK) {
		client_close(c);
		return r;
	}
	setup(c);
	*out = c;
	return A11_OK;
}

void client_close(struct client *c)
{
	if (c == NULL)
		return;
	curl_slist_free_all(c->hdr);
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c->ca_file);
	free(c->brokers);
	free(c->split);
	free(c);
}

bool client_fits(const struct client *c, const char *brokers, const char *ca_file,
		 long connect_ms, long total_ms)
{
	return strcmp(c->brokers, brokers) == 0 && strcmp(c->ca_file, ca_file) == 0 &&
	       c->connect_ms == connect_ms && c->total_ms == total_ms;
}

long client_backoff_ms(unsigned retry, unsigned retry_after, unsigned *seed)
{
	long base = 50L << (retry < 5 ? (retry > 0 ? retry - 1 : 0) : 4);
	long ms = base + rand_r(seed) % (base + 1);

	if (retry_after > CLIENT_RETRY_AFTER_MAX)
		retry_after = CLIENT_RETRY_AFTER_MAX;
	return ms > retry_after * 1000L ? ms : retry_after * 1000L;
}

struct client_sessions {
	CURLSH *share;
};

a11_err client_sessions_new(struct client_sessions **out)
{
	struct client_sessions *s;

	*out = NULL;
	pthread_once(&once, global_init);
	if (global_rc != CURLE_OK || (s = calloc(1, sizeof(*s))) == NULL)
		return A11_ERR_NOMEM;
	/* No lock callbacks: one machine's requests come one at a time
	 * (curl_share_setopt(3) wants them only for concurrent use). */
	if ((s->share = curl_share_init()) == NULL ||
	    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) !=
		    CURLSHE_OK) {
		client_sessions_free(s);
		return A11_ERR_NOMEM;
	}
	*out = s;
	return A11_OK;
}

void client_sessions_free(struct client_sessions *s)
{
	if (s == NULL)
		return;
	if (s->share != NULL)
		curl_share_cleanup(s->share);
	free(s);
}

void client_use_sessions(struct client *c, struct client_sessions *s)
{
	curl_easy_setopt(c->curl, CURLOPT_SHARE, s->share);
}

/* One POST to one broker. */
static a11_err post_one(struct client *c, const char *url, const char *json,
			struct client_response *out)
{
	char detail[CURL_ERROR_SIZE] = "";
	const char *cause;
	long os_errno = 0;
	CURLcode rc;
	a11_err r;

	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, detail);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, out);
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK) {
		curl_off_t conn = 0, tls = 0, total = 0, after = 0;

		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
		curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &conn);
		curl_easy_getinfo(c->curl, CURLINFO_APPCONNECT_TIME_T, &tls);
		curl_easy_getinfo(c->curl, CURLINFO_TOTAL_TIME_T, &total);
		if (out->status == 503 && curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &after) ==
						  CURLE_OK && after > 0)
			out->retry_after = after > CLIENT_RETRY_AFTER_MAX ? CLIENT_RETRY_AFTER_MAX
									  : (unsigned)after;
		log_debug("broker %s: HTTP %ld in %.1f ms (connect %.1f, TLS %.1f)", url,
			  out->status, (double)total / 1e3, (double)conn / 1e3, (double)tls / 1e3);
	}
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL); /* detail ends here */
	r = client_classify(rc, os_errno, &cause);
	if (rc != CURLE_OK) {
		log_error("broker %s: %s (curl: %s)", url, cause,
			  detail[0] ? detail : curl_easy_strerror(rc));
		free(out->body);
		memset(out, 0, sizeof(*out));
	}
	return r;
}

/* The network failed or the broker could not serve: another may. An
 * untrusted certificate or an oversized answer is no replica's outage. */
static bool worth_failover(a11_err r, const struct client_response *resp)
{
	return r == A11_ERR_NETWORK || (r == A11_OK && resp->status >= 500 && resp->status <= 599);
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

a11_err client_post(struct client *c, const char *path, const char *json,
		    struct client_response *out)
{
	char url[CLIENT_URL_MAX + 64];
	unsigned tries = (unsigned)c->n, extra = 0, after = 0, busy = 0;
	a11_err r = A11_ERR_NETWORK;

	for (unsigned i = 0; i < tries; i++) {
		size_t at = c->cur;

		if (i > 0)
			pause_ms(client_backoff_ms(i, after, &c->seed));
		memset(out, 0, sizeof(*out));
		if (snprintf(url, sizeof(url), "%s%s", c->url[at], path) >= (int)sizeof(url))
			return A11_ERR_ARG;
		r = post_one(c, url, json, out);
		out->broker = c->url[at];
		out->failed_over = i > 0;
		if (!worth_failover(r, out))
			break;
		after = out->retry_after;
		/* A busy broker said when to come back: one more try. */
		if (after > 0 && extra++ == 0)
			tries++;
		if (r == A11_OK)
			log_warn("broker %s: HTTP %ld%s", c->url[at], out->status,
				 after > 0 ? " (busy)" : "");
		c->cur = (at + 1) % c->n; /* the next request starts at the next one too */
		if (i + 1 == tries)
			break;
		busy += after > 0;
		free(out->body);
	}
	out->busy_retried = busy;
	if (out->failed_over && !worth_failover(r, out))
		log_info("broker %s served, after another failed", out->broker);
	return r;
}
