/* metrics.c: counters, labelled counters, the latency histogram, the text
 * exposition format, and exact totals under concurrent increments.
 * Metrics are process-wide, so every check compares before and after. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/broker/metrics.h"

#define H "attest11_request_duration_seconds"

/* The value on the line that starts with series followed by a space. */
static double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	fail_msg("no series %s", series);
	return 0;
}

static double scrape(const char *series)
{
	char *text = metrics_render();
	double v;

	assert_non_null(text);
	v = value_of(text, series);
	free(text);
	return v;
}

static void test_counters(void **state)
{
	double ch = scrape("attest11_challenges_total");
	double ren = scrape("attest11_renewals_total");
	double ca = scrape("attest11_releases_total{kind=\"ca\"}");
	double tok = scrape("attest11_releases_total{kind=\"token\"}");
	double pcr = scrape("attest11_refusals_total{reason=\"pcr_values\"}");

	(void)state;
	for (int i = 0; i < 3; i++)
		metrics_inc(M_CHALLENGES);
	metrics_release(CRED_CA);
	metrics_release(CRED_CA);
	metrics_refusal(REF_PCR_VALUES);
	metrics_refusal(REF_NONE);               /* success: not counted */
	metrics_refusal((enum refusal)999);      /* out of range: ignored */
	metrics_release((enum cred_kind)7);
	metrics_inc(M__COUNT);
	assert_true(scrape("attest11_challenges_total") == ch + 3);
	assert_true(scrape("attest11_renewals_total") == ren);
	assert_true(scrape("attest11_releases_total{kind=\"ca\"}") == ca + 2);
	assert_true(scrape("attest11_releases_total{kind=\"token\"}") == tok);
	assert_true(scrape("attest11_refusals_total{reason=\"pcr_values\"}") == pcr + 1);
}

/* Every line is a comment or "name{labels} value", every family is
 * announced by HELP and TYPE, and every refusal code has a series. */
static void test_format(void **state)
{
	static const char *const expected[] = {
		"# HELP attest11_challenges_total ",
		"# TYPE attest11_challenges_total counter\n",
		"# TYPE attest11_attestations_total counter\n",
		"# TYPE attest11_renewals_total counter\n",
		"# TYPE attest11_releases_total counter\n",
		"# TYPE attest11_refusals_total counter\n",
		"# HELP " H " ",
		"# TYPE " H " histogram\n",
		"attest11_releases_total{kind=\"repository\"} ",
		H "_bucket{route=\"challenge\",le=\"0.0025\"} ",
		H "_bucket{route=\"other\",le=\"+Inf\"} ",
		H "_sum{route=\"evidence\"} ",
		H "_count{route=\"evidence\"} ",
	};
	char *text = metrics_render(), *line, *save = NULL;
	regex_t re;
	char key[96];

	(void)state;
	assert_non_null(text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		assert_non_null(strstr(text, expected[i]));
	for (int r = REF_NONE + 1; r < REF__COUNT; r++) {
		snprintf(key, sizeof(key), "{reason=\"%s\"} ", refusal_code((enum refusal)r));
		assert_non_null(strstr(text, key));
	}
	assert_null(strstr(text, "reason=\"ok\""));
	assert_int_equal(regcomp(&re, "^(# (HELP|TYPE) .+|[a-z_:][a-z0-9_:]*"
				 "(\\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\\})? "
				 "[0-9]+(\\.[0-9]+)?)$", REG_EXTENDED | REG_NOSUB), 0);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (regexec(&re, line, 0, NULL, 0) != 0)
			fail_msg("bad exposition line: %s", line);
	regfree(&re);
	free(text);
}

static const char *const les[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"+Inf",
};
#define NLE (sizeof(les) / sizeof(les[0]))

static void buckets(const char *text, const char *route, double out[NLE])
{
	char series[128];

	for (size_t i = 0; i < NLE; i++) {
		snprintf(series, sizeof(series), H "_bucket{route=\"%s\",le=\"%s\"}", route,
			 les[i]);
		out[i] = value_of(text, series);
	}
}

static void check_cumulative(const char *text, const char *route)
{
	double b[NLE];
	char series[96];

	buckets(text, route, b);
	for (size_t i = 1; i < NLE; i++)
		assert_true(b[i] >= b[i - 1]);
	snprintf(series, sizeof(series), H "_count{route=\"%s\"}", route);
	assert_true(value_of(text, series) == b[NLE - 1]);
}

static void test_histogram(void **state)
{
	static const double want[NLE] = { 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4 };
	char *before = metrics_render(), *after;
	double b0[NLE], b1[NLE], o0[NLE], o1[NLE];
	double sum0, sum1;

	(void)state;
	assert_non_null(before);
	metrics_observe("challenge", 0.003);     /* first fits le=0.005 */
	metrics_observe("challenge", 0.001);     /* le is inclusive */
	metrics_observe("challenge", 5.0);       /* only +Inf */
	metrics_observe("challenge", -1.0);      /* clock step: counts as 0 */
	metrics_observe("nonsense", 0.2);        /* unknown route: other */
	metrics_observe(NULL, 0.2);
	after = metrics_render();
	assert_non_null(after);
	buckets(before, "challenge", b0);
	buckets(after, "challenge", b1);
	buckets(before, "other", o0);
	buckets(after, "other", o1);
	for (size_t i = 0; i < NLE; i++)
		assert_true(b1[i] - b0[i] == want[i]);
	assert_true(o1[7] - o0[7] == 2 && o1[6] - o0[6] == 0);   /* le=0.25 vs 0.1 */
	sum0 = value_of(before, H "_sum{route=\"challenge\"}");
	sum1 = value_of(after, H "_sum{route=\"challenge\"}");
	assert_true(sum1 - sum0 > 5.0039 && sum1 - sum0 < 5.0041);
	check_cumulative(after, "challenge");
	check_cumulative(after, "evidence");
	check_cumulative(after, "other");
	free(before);
	free(after);
}

#define THREADS 4
#define PER_THREAD 10000

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		metrics_inc(M_ATTESTATIONS);
		metrics_refusal(REF_NONCE_REUSED);
		metrics_observe("evidence", 0.000001);
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	double att = scrape("attest11_attestations_total");
	double reused = scrape("attest11_refusals_total{reason=\"nonce_reused\"}");
	double count = scrape(H "_count{route=\"evidence\"}");
	double sum = scrape(H "_sum{route=\"evidence\"}");
	pthread_t t[THREADS];

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_true(scrape("attest11_attestations_total") == att + THREADS * PER_THREAD);
	assert_true(scrape("attest11_refusals_total{reason=\"nonce_reused\"}") ==
		    reused + THREADS * PER_THREAD);
	assert_true(scrape(H "_count{route=\"evidence\"}") == count + THREADS * PER_THREAD);
	/* 1 us each, kept exactly in integer microseconds. */
	assert_true(scrape(H "_sum{route=\"evidence\"}") - sum > 0.03999 &&
		    scrape(H "_sum{route=\"evidence\"}") - sum < 0.04001);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_concurrency),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
