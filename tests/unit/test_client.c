/* src/attester/client.c: its reading of curl's errors (only certificate
 * verdicts are "not trusted"; a broker that restarts is the network), and
 * failover over several brokers, against libmicrohttpd servers that answer
 * as told, a port nobody listens on and a listener that resets. */
#include "http_fixture.h"
#include <microhttpd.h>

#include "../../src/attester/client.h"

static a11_err classify(CURLcode rc, long os_errno)
{
	const char *cause = NULL;
	a11_err r = client_classify(rc, os_errno, &cause);

	assert_non_null(cause);
	return r;
}

static void test_trust(void **state)
{
	(void)state;
	assert_int_equal(classify(CURLE_OK, 0), A11_OK);
	assert_int_equal(classify(CURLE_PEER_FAILED_VERIFICATION, 0), A11_ERR_TLS);
	assert_int_equal(classify(CURLE_SSL_CACERT_BADFILE, 0), A11_ERR_TLS);
	assert_int_equal(classify(CURLE_SSL_ISSUER_ERROR, 0), A11_ERR_TLS);
	assert_int_equal(classify(CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0), A11_ERR_TLS);
}

static void test_reset_is_network(void **state)
{
	const char *cause;

	(void)state;
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR, ECONNRESET), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR, 0), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_RECV_ERROR, ECONNRESET), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_SEND_ERROR, EPIPE), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_GOT_NOTHING, 0), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_COULDNT_CONNECT, ECONNREFUSED), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_OPERATION_TIMEDOUT, 0), A11_ERR_NETWORK);
	assert_int_equal(classify(CURLE_WRITE_ERROR, 0), A11_ERR_PROTOCOL);
	/* The log says a reset, not trust. */
	client_classify(CURLE_RECV_ERROR, ECONNRESET, &cause);
	assert_non_null(strstr(cause, "reset"));
	client_classify(CURLE_SSL_CONNECT_ERROR, ECONNRESET, &cause);
	assert_non_null(strstr(cause, "reset"));
	assert_null(strstr(cause, "trusted"));
}

/* A broker that answers every POST with status (and Retry-After if set),
 * after sleeping delay_ms; hits counts the answers. */
struct fake {
	struct MHD_Daemon *d;
	int status;
	const char *retry_after;
	long delay_ms;
	atomic_int hits;
	char url[64];
};

static enum MHD_Result fake_answer(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *data,
				   size_t *size, void **con_cls)
{
	static int started;
	struct fake *f = cls;
	struct MHD_Response *m;
	enum MHD_Result ret;

	(void)url, (void)method, (void)version, (void)data;
	if (*con_cls == NULL) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*size != 0) {
		*size = 0; /* the body is not this test's business */
		return MHD_YES;
	}
	sleep_ms(f->delay_ms);
	atomic_fetch_add(&f->hits, 1);
	m = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
	if (f->retry_after != NULL)
		MHD_add_response_header(m, "Retry-After", f->retry_after);
	ret = MHD_queue_response(conn, (unsigned)f->status, m);
	MHD_destroy_response(m);
	return ret;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b = calloc(1, 8192);

	assert_non_null(f);
	assert_non_null(b);
	assert_true(fread(b, 1, 8191, f) > 0);
	fclose(f);
	return b;
}

static void fake_start(struct fake *f, int status)
{
	char *cert = slurp(cert_path), *key = slurp(key_path);
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const union MHD_DaemonInfo *info;

	f->status = status;
	f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL,
				fake_answer, f, MHD_OPTION_HTTPS_MEM_CERT, cert,
				MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_SOCK_ADDR, &lo,
				MHD_OPTION_END);
	assert_non_null(f->d);
	info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%u", (unsigned)info->port);
	free(cert);
	free(key);
}

static void fake_stop(struct fake *f)
{
	MHD_stop_daemon(f->d);
}

/* A port bound and closed again: nobody listens there. */
static void dead_url(char *url, size_t cap)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(s, (struct sockaddr *)&a, len), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	snprintf(url, cap, "https://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
}

static struct client *open_list(const char *a, const char *b, long total_ms)
{
	char list[256];
	struct client *c;

	snprintf(list, sizeof(list), "%s,%s", a, b);
	assert_int_equal(client_open(list, cert_path, 2000, total_ms, &c), A11_OK);
	return c;
}

/* POST once; the status, and which broker answered in *who. */
static long post(struct client *c, a11_err want, const char **who, bool *failed_over)
{
	struct client_response resp;

	assert_int_equal(client_post(c, "/v1/challenge", "{}", &resp), want);
	*who = resp.broker;
	*failed_over = resp.failed_over;
	free(resp.body);
	return resp.status;
}

static void test_failover_down_then_sticky(void **state)
{
	struct fake b = { 0 };
	char dead[64];
	const char *who;
	bool over;
	struct client *c;

	(void)state;
	dead_url(dead, sizeof(dead));
	fake_start(&b, 200);
	c = open_list(dead, b.url, 5000);
	assert_int_equal(post(c, A11_OK, &who, &over), 200);
	assert_string_equal(who, b.url);
	assert_true(over);
	/* The one that served is asked first next time. */
	assert_int_equal(post(c, A11_OK, &who, &over), 200);
	assert_string_equal(who, b.url);
	assert_false(over);
	assert_int_equal(atomic_load(&b.hits), 2);
	client_close(c);
	fake_stop(&b);
}

static void test_failover_on_5xx(void **state)
{
	struct fake a = { 0 }, b = { 0 };
	const char *who;
	bool over;
	struct client *c;

	(void)state;
	fake_start(&a, 500);
	fake_start(&b, 200);
	c = open_list(a.url, b.url, 5000);
	assert_int_equal(post(c, A11_OK, &who, &over), 200);
	assert_string_equal(who, b.url);
	assert_int_equal(post(c, A11_OK, &who, &over), 200);
	assert_int_equal(atomic_load(&a.hits), 1);
	assert_int_equal(atomic_load(&b.hits), 2);
	client_close(c);
	/* A 4xx is the broker's word, not an outage: no failover. */
	a.status = 403;
	c = open_list(a.url, b.url, 5000);
	assert_int_equal(post(c, A11_OK, &who, &over), 403);
	assert_string_equal(who, a.url);
	assert_int_equal(atomic_load(&b.hits), 2);
	client_close(c);
	/* All of them failing: the last one's answer. */
	b.status = 502;
	c = open_list(a.url, b.url, 5000);
	a.status = 500;
	assert_int_equal(post(c, A11_OK, &who, &over), 502);
	assert_string_equal(who, b.url);
	client_close(c);
	fake_stop(&a);
	fake_stop(&b);
}

static void test_failover_on_timeout(void **state)
{
	struct fake a = { .delay_ms = 1500 }, b = { 0 };
	const char *who;
	bool over;
	struct client *c;

	(void)state;
	fake_start(&a, 200);
	fake_start(&b, 200);
	c = open_list(a.url, b.url, 300);
	assert_int_equal(post(c, A11_OK, &who, &over), 200);
	assert_string_equal(who, b.url);
	assert_true(over);
	client_close(c);
	fake_stop(&a);
	fake_stop(&b);
}

/* Accepts one connection and resets it (SO_LINGER 0: RST, not FIN). */
static void *resetter(void *arg)
{
	int s = *(int *)arg, k = accept(s, NULL, NULL);
	struct linger l = { 1, 0 };

	if (k >= 0) {
		setsockopt(k, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(k);
	}
	return NULL;
}

static void test_failover_on_reset(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct fake b = { 0 };
	char url[64];
	const char *who;
	bool over;
	pthread_t th;
	struct client *c;

	(void)state;
	assert_int_equal(bind(s, (struct sockaddr *)&a, len), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	assert_int_equal(pthread_create(&th, NULL, resetter, &s), 0);
	fake_start(&b, 200);
	c = open_list(url, b.url, 5000);
	assert_int_equal(post(c, A11_OK, &who, &over), 200);
	assert_string_equal(who, b.url);
	pthread_join(th, NULL);
	close(s);
	client_close(c);
	fake_stop(&b);
}

/* A busy broker's Retry-After is the wait, bounded, and the caller sees
 * it; it earns one more try: a, b, a. */
static void test_retry_after(void **state)
{
	struct fake a = { .retry_after = "1" }, b = { .retry_after = "1" };
	struct client_response resp;
	struct client *c;

	(void)state;
	fake_start(&a, 503);
	fake_start(&b, 503);
	c = open_list(a.url, b.url, 5000);
	assert_int_equal(client_post(c, "/v1/evidence", "{}", &resp), A11_OK);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after, 1);
	assert_string_equal(resp.broker, a.url);
	free(resp.body);
	assert_int_equal(atomic_load(&a.hits), 2);
	assert_int_equal(atomic_load(&b.hits), 1);
	client_close(c);
	/* A broker asking for an hour gets CLIENT_RETRY_AFTER_MAX. */
	a.retry_after = "3600";
	c = open_list(a.url, b.url, 5000);
	assert_int_equal(client_post(c, "/v1/evidence", "{}", &resp), A11_OK);
	assert_int_equal(resp.status, 503);
	assert_string_equal(resp.broker, a.url);
	assert_int_equal(resp.retry_after, CLIENT_RETRY_AFTER_MAX);
	free(resp.body);
	client_close(c);
	fake_stop(&a);
	fake_stop(&b);
}

static void test_backoff(void **state)
{
	unsigned seed = 1;

	(void)state;
	for (int i = 0; i < 200; i++) {
		long first = client_backoff_ms(1, 0, &seed), second = client_backoff_ms(2, 0, &seed);
		long late = client_backoff_ms(30, 0, &seed);

		assert_true(first >= 50 && first <= 100);
		assert_true(second >= 100 && second <= 200);
		assert_true(late >= 800 && late <= 1600);
	}
	assert_true(client_backoff_ms(1, 2, &seed) == 2000);
	assert_true(client_backoff_ms(1, 3600, &seed) == CLIENT_RETRY_AFTER_MAX * 1000L);
}

static void test_broker_list(void **state)
{
	char list[CLIENT_MAX_BROKERS * 32 + 64] = "", url[CLIENT_URL_MAX + 2];

	(void)state;
	assert_int_equal(client_brokers_check("https://a:8443"), A11_OK);
	assert_int_equal(client_brokers_check("https://a:8443,https://b:8443"), A11_OK);
	assert_int_equal(client_brokers_check(""), A11_ERR_ARG);
	assert_int_equal(client_brokers_check(","), A11_ERR_ARG);
	assert_int_equal(client_brokers_check("http://a:8080"), A11_ERR_ARG);
	assert_int_equal(client_brokers_check("https://a:8443,http://b"), A11_ERR_ARG);
	assert_int_equal(client_brokers_check("https://"), A11_ERR_ARG);
	for (int i = 0; i < CLIENT_MAX_BROKERS; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%shttps://b%d:8443",
			 i ? "," : "", i);
	assert_int_equal(client_brokers_check(list), A11_OK);
	strcat(list, ",https://one-more:8443");
	assert_int_equal(client_brokers_check(list), A11_ERR_ARG);
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	memcpy(url, "https://", 8);
	assert_int_equal(client_brokers_check(url), A11_ERR_ARG);
	url[CLIENT_URL_MAX] = '\0';
	assert_int_equal(client_brokers_check(url), A11_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_reset_is_network),
		cmocka_unit_test(test_failover_down_then_sticky),
		cmocka_unit_test(test_failover_on_5xx),
		cmocka_unit_test(test_failover_on_timeout),
		cmocka_unit_test(test_failover_on_reset),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_broker_list),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
