/* http.c against a real client: a self-signed P-256 certificate made here,
 * the server on 127.0.0.1 port 0, libcurl talking TLS to it. Covers round
 * trips, the body limit (Content-Length and chunked), 405, the thread pool,
 * refusal of plain HTTP and TLS 1.1, draining on stop, and the observer.
 * The certificate, server and client helpers are in http_fixture.h. */
#include "http_fixture.h"

static void test_get_post(void **state)
{
	struct seen t;
	struct call post = { .path = "/echo", .body = "{\"a\":1}", .body_len = 7 };
	struct call get = { .path = "/echo?x=1&y=%0a" };

	(void)state;
	start(&t, 2);
	perform(&t, &get);
	assert_int_equal(get.rc, CURLE_OK);
	assert_int_equal(get.status, 200);
	assert_string_equal(get.reply, "GET /echo - ");
	assert_string_equal(get.ctype, "text/plain");
	assert_true(get.no_store);
	perform(&t, &post);
	assert_int_equal(post.status, 200);
	assert_string_equal(post.reply, "POST /echo application/x-www-form-urlencoded {\"a\":1}");
	assert_true(post.no_store);
	assert_int_equal(atomic_load(&t.handled), 2);
	assert_int_equal(atomic_load(&t.observed), 2);
	call_done(&get);
	call_done(&post);
	stop(&t);
}

/* Exactly max_body passes, one byte more is 413 and never reaches the
 * handler. */
static void expect_413(struct seen *t, bool chunked, bool stream)
{
	char *big = malloc(MAX_BODY + 1);
	struct call ok = { .path = "/len", .body = big, .body_len = MAX_BODY,
			   .chunked = chunked, .stream = stream };
	struct call no = { .path = "/len", .body = big, .body_len = MAX_BODY + 1,
			   .chunked = chunked, .stream = stream };
	int handled;

	assert_non_null(big);
	memset(big, 'x', MAX_BODY + 1);
	perform(t, &ok);
	assert_int_equal(ok.rc, CURLE_OK);
	assert_int_equal(ok.status, 200);
	assert_string_equal(ok.reply, "4096");
	handled = atomic_load(&t->handled);
	perform(t, &no);
	assert_int_equal(no.rc, CURLE_OK);
	assert_int_equal(no.status, 413);
	assert_string_equal(no.ctype, "application/problem+json");
	assert_non_null(strstr(no.reply, "\"type\":\"urn:attest11:error:payload_too_large\""));
	assert_non_null(strstr(no.reply, "\"code\":\"payload_too_large\""));
	assert_non_null(strstr(no.reply, "\"status\":413"));
	assert_int_equal(atomic_load(&t->handled), handled);   /* never reached */
	call_done(&ok);
	call_done(&no);
	free(big);
}

static void test_body_limit_length(void **state)
{
	struct seen t;

	(void)state;
	start(&t, 2);
	expect_413(&t, false, false);
	assert_int_equal(atomic_load(&t.observed), 2);
	stop(&t);
}

/* The same with "Expect: 100-continue": MHD's "100 Continue" path. */
static void test_body_limit_expect(void **state)
{
	struct seen t;

	(void)state;
	start(&t, 2);
	expect_413(&t, false, true);
	assert_int_equal(atomic_load(&t.observed), 2);
	stop(&t);
}

static void test_body_limit_chunked(void **state)
{
	struct seen t;

	(void)state;
	start(&t, 2);
	expect_413(&t, true, false);
	assert_int_equal(atomic_load(&t.observed), 2);
	stop(&t);
}

/* A declared length over the limit is refused from the headers alone: the
 * client, waiting for "100 Continue", never sends a byte of the body. */
static void test_body_refused_unread(void **state)
{
	const size_t n = (size_t)8 << 20;
	char *big = calloc(1, n);
	struct call c = { .path = "/len", .body = big, .body_len = n, .stream = true };
	struct seen t;

	(void)state;
	assert_non_null(big);
	start(&t, 1);
	perform(&t, &c);
	assert_int_equal(c.rc, CURLE_OK);
	assert_int_equal(c.status, 413);
	assert_int_equal(c.sent, 0);
	assert_int_equal(atomic_load(&t.handled), 0);
	assert_int_equal(atomic_load(&t.observed), 1);
	call_done(&c);
	free(big);
	stop(&t);
}

/* A declared body past the limit but within the drain slack is read and
 * dropped before the 413: answered at once, the close with the body unread
 * became a reset the client saw instead of the 413 ("Broken pipe", most
 * of the time with a 200 KB body). Ten tries: the reset was not every time. */
static void test_body_drained_then_refused(void **state)
{
	const size_t n = (size_t)200 * 1024;
	char *big = malloc(n);
	struct seen t;

	(void)state;
	assert_non_null(big);
	memset(big, 'z', n);
	start(&t, 1);
	for (int i = 0; i < 10; i++) {
		struct call c = { .path = "/len", .body = big, .body_len = n };

		perform(&t, &c);
		assert_int_equal(c.rc, CURLE_OK);
		assert_int_equal(c.status, 413);
		call_done(&c);
	}
	assert_int_equal(atomic_load(&t.handled), 0);
	free(big);
	stop(&t);
}

/* A chunked body far past the limit is not read to its end: the server
 * hangs up once it has dropped about a MiB more than the limit. */
static void test_body_flood_chunked(void **state)
{
	const size_t n = (size_t)8 << 20;
	char *big = malloc(n);
	struct call c = { .path = "/len", .body = big, .body_len = n, .chunked = true };
	struct seen t;

	(void)state;
	assert_non_null(big);
	memset(big, 'y', n);
	start(&t, 1);
	perform(&t, &c);
	assert_int_not_equal(c.rc, CURLE_OK);
	assert_true(c.sent < n);
	assert_int_equal(atomic_load(&t.handled), 0);
	get_ok(&t, "/len", "0");
	call_done(&c);
	free(big);
	stop(&t);
}

static void test_method_not_allowed(void **state)
{
	static const char *const methods[] = { "PUT", "DELETE", "PATCH" };
	struct seen t;

	(void)state;
	start(&t, 1);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		struct call c = { .method = methods[i], .path = "/echo" };

		perform(&t, &c);
		assert_int_equal(c.rc, CURLE_OK);
		assert_int_equal(c.status, 405);
		assert_string_equal(c.ctype, "application/problem+json");
		assert_non_null(strstr(c.reply, "\"status\":405"));
		assert_true(c.no_store);
		call_done(&c);
	}
	assert_int_equal(atomic_load(&t.handled), 0);
	assert_int_equal(atomic_load(&t.observed), 3);
	stop(&t);
}

static void test_bad_handler_status(void **state)
{
	struct call c = { .path = "/bad" };
	struct seen t;

	(void)state;
	start(&t, 1);
	perform(&t, &c);
	assert_int_equal(c.status, 500);
	assert_string_equal(c.ctype, "application/problem+json");
	assert_non_null(strstr(c.reply, "\"code\":\"internal\""));
	call_done(&c);
	stop(&t);
}

#define CLIENTS 8
#define PER_CLIENT 4

struct client {
	struct seen *t;
	int ok;
};

static void *client_main(void *arg)
{
	struct client *cl = arg;

	for (int i = 0; i < PER_CLIENT; i++) {
		struct call c = { .path = "/work" };

		perform(cl->t, &c);
		if (c.rc == CURLE_OK && c.status == 200 && c.reply != NULL &&
		    strcmp(c.reply, "done") == 0)
			cl->ok++;
		call_done(&c);
	}
	return NULL;
}

static void test_pool(void **state)
{
	struct client cl[CLIENTS];
	pthread_t th[CLIENTS];
	struct seen t;

	(void)state;
	start(&t, 4);
	for (int i = 0; i < CLIENTS; i++) {
		cl[i] = (struct client){ .t = &t };
		assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(cl[i].ok, PER_CLIENT);
	}
	assert_int_equal(atomic_load(&t.handled), CLIENTS * PER_CLIENT);
	assert_int_equal(atomic_load(&t.observed), CLIENTS * PER_CLIENT);
	assert_true(t.nthreads > 1);
	stop(&t);
}

static void test_plain_http_refused(void **state)
{
	struct call c = { .path = "/echo", .scheme = "http" };
	struct seen t;

	(void)state;
	start(&t, 1);
	perform(&t, &c);
	assert_true(c.rc != CURLE_OK || c.status != 200);
	assert_int_equal(atomic_load(&t.handled), 0);
	call_done(&c);
	get_ok(&t, "/len", "0");     /* and the server is still fine */
	stop(&t);
}

static void test_old_tls_refused(void **state)
{
	struct call old = { .path = "/len",
			    .tls_version = CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1 };
	struct call v12 = { .path = "/len",
			    .tls_version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2 };
	struct seen t;

	(void)state;
	start(&t, 1);
	perform(&t, &old);
	assert_int_not_equal(old.rc, CURLE_OK);
	/* The same client settings up to TLS 1.2 work: the version is why. */
	perform(&t, &v12);
	assert_int_equal(v12.rc, CURLE_OK);
	assert_int_equal(v12.status, 200);
	assert_int_equal(atomic_load(&t.handled), 1);
	call_done(&old);
	call_done(&v12);
	stop(&t);
}

static bool port_listening(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool up;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return up;
}

struct slow_client {
	struct seen *t;
	struct call c;
};

static void *slow_main(void *arg)
{
	struct slow_client *sc = arg;

	perform(sc->t, &sc->c);
	return NULL;
}

static void test_stop_drains(void **state)
{
	struct slow_client sc = { .c = { .path = "/slow" } };
	uint16_t port;
	pthread_t th;
	struct seen t;

	(void)state;
	start(&t, 2);
	sc.t = &t;
	port = http_port(t.srv);
	assert_true(port_listening(port));
	assert_int_equal(pthread_create(&th, NULL, slow_main, &sc), 0);
	for (int i = 0; i < 500 && !atomic_load(&t.slow_started); i++)
		sleep_ms(10);
	assert_true(atomic_load(&t.slow_started));
	stop(&t);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(sc.c.rc, CURLE_OK);
	assert_int_equal(sc.c.status, 200);
	assert_string_equal(sc.c.reply, "slow");
	assert_int_equal(atomic_load(&t.observed), 1);
	assert_false(port_listening(port));
	call_done(&sc.c);
}

/* A client that connects and says nothing is dropped after timeout_s. */
static void test_idle_timeout(void **state)
{
	struct http_config cfg = {
		.bind = "127.0.0.1", .cert_file = cert_path, .key_file = key_path,
		.threads = 1, .max_body = MAX_BODY, .timeout_s = 1,
	};
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval limit = { .tv_sec = 5 };
	struct timespec t0, t1;
	struct http_server *s;
	double waited;
	ssize_t got;
	char byte;
	int fd;

	(void)state;
	assert_int_equal(http_start(&cfg, handler, NULL, NULL, &s), A11_OK);
	a.sin_port = htons(http_port(s));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Until EOF: MHD may send a TLS alert first; a recv timeout fails. */
	while ((got = recv(fd, &byte, 1, 0)) > 0)
		;
	assert_int_equal(got, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(waited > 0.5 && waited < 4.0);
	close(fd);
	http_stop(s);
}

/* No global state: two servers side by side, one outliving the other. */
static void test_two_servers(void **state)
{
	struct seen a, b;

	(void)state;
	start(&a, 1);
	start(&b, 2);
	assert_int_not_equal(http_port(a.srv), http_port(b.srv));
	get_ok(&a, "/len", "0");
	get_ok(&b, "/len", "0");
	stop(&a);
	get_ok(&b, "/len", "0");
	assert_int_equal(atomic_load(&b.observed), 2);
	stop(&b);
}

static void test_ipv6(void **state)
{
	struct call c = { .path = "/len", .host = "[::1]" };
	struct seen t;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(pthread_mutex_init(&t.lock, NULL), 0);
	if (start_on(&t, "::1", 0, 1) != A11_OK) {
		pthread_mutex_destroy(&t.lock);
		skip();     /* no IPv6 loopback here */
	}
	perform(&t, &c);
	assert_int_equal(c.rc, CURLE_OK);
	assert_int_equal(c.status, 200);
	call_done(&c);
	stop(&t);
}

static void test_bad_config(void **state)
{
	struct http_config cfg = {
		.bind = "127.0.0.1", .cert_file = cert_path, .key_file = key_path,
		.threads = 1, .max_body = MAX_BODY, .timeout_s = 5,
	};
	struct http_server *s = (struct http_server *)&cfg;   /* http_start resets it */
	struct seen t;

	(void)state;
	cfg.bind = "localhost";      /* names are not resolved */
	assert_int_equal(http_start(&cfg, handler, NULL, NULL, &s), A11_ERR_ARG);
	assert_null(s);
	cfg.bind = "127.0.0.1";
	cfg.threads = 0;
	assert_int_equal(http_start(&cfg, handler, NULL, NULL, &s), A11_ERR_ARG);
	cfg.threads = 1;
	cfg.key_file = "/nonexistent/key.pem";
	assert_int_equal(http_start(&cfg, handler, NULL, NULL, &s), A11_ERR_IO);
	cfg.key_file = cert_path;    /* a certificate is not a key */
	assert_int_equal(http_start(&cfg, handler, NULL, NULL, &s), A11_ERR_IO);
	cfg.key_file = key_path;
	start(&t, 1);
	cfg.port = http_port(t.srv);  /* taken */
	assert_int_equal(http_start(&cfg, handler, NULL, NULL, &s), A11_ERR_IO);
	assert_null(s);
	stop(&t);
	http_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_post),
		cmocka_unit_test(test_body_limit_length),
		cmocka_unit_test(test_body_limit_expect),
		cmocka_unit_test(test_body_limit_chunked),
		cmocka_unit_test(test_body_refused_unread),
		cmocka_unit_test(test_body_drained_then_refused),
		cmocka_unit_test(test_body_flood_chunked),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_bad_handler_status),
		cmocka_unit_test(test_pool),
		cmocka_unit_test(test_plain_http_refused),
		cmocka_unit_test(test_old_tls_refused),
		cmocka_unit_test(test_stop_drains),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_two_servers),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
