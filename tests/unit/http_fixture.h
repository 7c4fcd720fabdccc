/* Test fixture of the HTTPS front end: a self-signed P-256 certificate in a
 * temporary directory, a server with a handler and an observer that record
 * what they saw, and a libcurl client. Header-only (static inline) like
 * attest_fixture.h: each unit test is its own binary. */
#ifndef A11_TEST_HTTP_FIXTURE_H
#define A11_TEST_HTTP_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../../src/broker/http.h"
#include "../testlib.h"

#define MAX_BODY 4096
#define MAX_SEEN_THREADS 64

static char dir[64], cert_path[96], key_path[96];

/* What the handler and the observer saw; written on pool threads, read on
 * the test thread after the requests are done. */
struct seen {
	atomic_int handled, observed, slow_started, wrong;
	pthread_mutex_t lock;
	pthread_t threads[MAX_SEEN_THREADS];
	int nthreads;
	struct http_server *srv;
};

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline void note_thread(struct seen *t)
{
	pthread_t me = pthread_self();
	int i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nthreads && !pthread_equal(t->threads[i], me); i++)
		;
	if (i == t->nthreads && i < MAX_SEEN_THREADS)
		t->threads[t->nthreads++] = me;
	pthread_mutex_unlock(&t->lock);
}

static inline void reply(struct http_response *resp, int status, const char *text)
{
	resp->status = status;
	resp->content_type = "text/plain";
	resp->body = strdup(text);
	resp->body_len = strlen(text);
	resp->outcome = "ok";
}

/* /echo: "METHOD PATH CONTENT-TYPE BODY"; /len: the body length;
 * /work: sleeps 20 ms; /slow: 300 ms; /bad: no status at all. */
static inline void handler(void *ctx, const struct http_request *req,
			   struct http_response *resp)
{
	struct seen *t = ctx;
	char buf[256];

	atomic_fetch_add(&t->handled, 1);
	note_thread(t);
	if (req->body == NULL || req->body[req->body_len] != '\0')
		atomic_fetch_add(&t->wrong, 1);
	if (strcmp(req->path, "/echo") == 0) {
		snprintf(buf, sizeof(buf), "%s %s %s %s", req->method, req->path,
			 req->content_type != NULL ? req->content_type : "-",
			 (const char *)req->body);
		reply(resp, 200, buf);
	} else if (strcmp(req->path, "/len") == 0) {
		snprintf(buf, sizeof(buf), "%zu", req->body_len);
		reply(resp, 200, buf);
	} else if (strcmp(req->path, "/work") == 0) {
		sleep_ms(20);
		reply(resp, 200, "done");
	} else if (strcmp(req->path, "/slow") == 0) {
		atomic_store(&t->slow_started, 1);
		sleep_ms(300);
		reply(resp, 200, "slow");
	} else if (strcmp(req->path, "/bad") != 0) {
		reply(resp, 404, "nothing here");
	}
}

static inline void observer(void *ctx, const struct http_request *req, int status,
			    double seconds)
{
	struct seen *t = ctx;

	if (req->method == NULL || req->path == NULL || status < 100 || seconds < 0)
		atomic_fetch_add(&t->wrong, 1);
	atomic_fetch_add(&t->observed, 1);
}

static inline a11_err start_on(struct seen *t, const char *bind, uint16_t port,
			       unsigned threads)
{
	struct http_config cfg = {
		.bind = bind, .port = port, .cert_file = cert_path, .key_file = key_path,
		.threads = threads, .max_body = MAX_BODY, .timeout_s = 5,
	};

	return http_start(&cfg, handler, observer, t, &t->srv);
}

static inline void start(struct seen *t, unsigned threads)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(pthread_mutex_init(&t->lock, NULL), 0);
	assert_int_equal(start_on(t, "127.0.0.1", 0, threads), A11_OK);
	assert_int_not_equal(http_port(t->srv), 0);
}

static inline void stop(struct seen *t)
{
	http_stop(t->srv);
	t->srv = NULL;
	assert_int_equal(atomic_load(&t->wrong), 0);
	pthread_mutex_destroy(&t->lock);
}

/* One request. */
struct call {
	const char *method;        /* NULL: GET, or POST when body is set */
	const char *path;
	const char *body;
	size_t body_len;
	bool chunked;              /* body through the read callback, chunked */
	bool stream;               /* ... with Content-Length and Expect: 100-continue */
	const char *scheme;        /* NULL: https */
	const char *host;          /* NULL: 127.0.0.1 */
	long tls_version;          /* CURLOPT_SSLVERSION, 0: default */
	/* results */
	CURLcode rc;
	long status;
	char *reply;
	size_t reply_len;
	char ctype[64];
	bool no_store;
	size_t sent;               /* read-callback position */
};

static inline size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	char *r = realloc(c->reply, c->reply_len + size * n + 1);

	if (r == NULL)
		return 0;
	memcpy(r + c->reply_len, p, size * n);
	c->reply = r;
	c->reply_len += size * n;
	r[c->reply_len] = '\0';
	return size * n;
}

static inline size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;

	if (size * n >= 23 && strncasecmp(p, "Cache-Control: no-store", 23) == 0)
		c->no_store = true;
	return size * n;
}

/* Chunked uploads come through here, at most 1000 bytes at a time so that
 * the body spans several chunks. */
static inline size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct call *c = arg;
	size_t left = c->body_len - c->sent, k = size * n < 1000 ? size * n : 1000;

	k = k < left ? k : left;
	memcpy(p, c->body + c->sent, k);
	c->sent += k;
	return k;
}

static inline void setup_body(CURL *h, struct call *c, struct curl_slist **hdrs)
{
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	if (!c->chunked && !c->stream) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
		return;
	}
	if (c->stream) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
		*hdrs = curl_slist_append(*hdrs, "Expect: 100-continue");
	} else {
		*hdrs = curl_slist_append(*hdrs, "Transfer-Encoding: chunked");
	}
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, c);
}

/* Thread-safe: no cmocka assertions, results land in c. */
static inline void perform(struct seen *t, struct call *c)
{
	struct curl_slist *hdrs = NULL;
	char url[256], *ct = NULL;
	CURL *h = curl_easy_init();

	c->rc = CURLE_FAILED_INIT;
	if (h == NULL)
		return;
	snprintf(url, sizeof(url), "%s://%s:%u%s", c->scheme ? c->scheme : "https",
		 c->host ? c->host : "127.0.0.1", (unsigned)http_port(t->srv), c->path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, cert_path);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	if (c->body != NULL)
		setup_body(h, c, &hdrs);
	if (c->method != NULL)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	if (c->tls_version != 0) {
		curl_easy_setopt(h, CURLOPT_SSLVERSION, c->tls_version);
		/* OpenSSL 3 refuses TLS < 1.2 at its default security level:
		 * lower it so that it is the server that says no. */
		curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	c->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
		snprintf(c->ctype, sizeof(c->ctype), "%s", ct);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
}

static inline void call_done(struct call *c)
{
	free(c->reply);
	c->reply = NULL;
}

static inline void get_ok(struct seen *t, const char *path, const char *want)
{
	struct call c = { .path = path };

	perform(t, &c);
	assert_int_equal(c.rc, CURLE_OK);
	assert_int_equal(c.status, 200);
	assert_string_equal(c.reply, want);
	call_done(&c);
}
static inline void make_cert(void)
{
	static const unsigned char cn[] = "localhost";
	EVP_PKEY *k = t_keygen("p256");
	X509 *x = X509_new();
	X509_NAME *n;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	FILE *f;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	n = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				  "DNS:localhost,IP:127.0.0.1,IP:::1");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_non_null(f = fopen(cert_path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
	assert_non_null(f = fopen(key_path, "w"));
	assert_int_equal(chmod(key_path, 0600), 0);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
	X509_free(x);
	EVP_PKEY_free(k);
}

static inline int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/a11-http.XXXXXX",
		 getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 40 ? getenv("TMPDIR")
									  : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	make_cert();
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static inline int group_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	unlink(cert_path);
	unlink(key_path);
	rmdir(dir);
	return 0;
}

#endif
