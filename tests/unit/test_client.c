/* src/attester/client.c's reading of curl's errors: only certificate
 * verdicts are "not trusted"; a broker that restarts (connection reset,
 * in or after the TLS handshake) is the network. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_reset_is_network),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
