/* Broker metrics: process-wide relaxed atomic counters (each value is
 * independent; no ordering between them is promised), rendered in the
 * Prometheus text exposition format 0.0.4. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define KINDS (CRED_TOKEN + 1)
#define ROUTES 3
#define BUCKETS 12            /* the last one is +Inf */
#define DURATION "attest11_request_duration_seconds"

static const struct {
	const char *name;
	const char *help;
} counter_info[M__COUNT] = {
	[M_CHALLENGES] = { "attest11_challenges_total", "Challenges issued." },
	[M_ATTESTATIONS] = { "attest11_attestations_total", "Evidence appraised." },
	[M_RENEWALS] = { "attest11_renewals_total", "Lease renewals." },
};

static const char *const route_names[ROUTES] = { "challenge", "evidence", "other" };
static const double bucket_le[BUCKETS - 1] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};
static const char *const bucket_label[BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
	"2.5", "+Inf",
};

static _Atomic uint64_t counters[M__COUNT];
static _Atomic uint64_t releases[KINDS];
static _Atomic uint64_t refusals[REF__COUNT];

/* Buckets hold only their own observations; rendering accumulates them, and
 * _count is their total, so +Inf and _count always agree in one scrape. */
static struct {
	_Atomic uint64_t bucket[BUCKETS];
	_Atomic uint64_t sum_us;   /* microseconds: no atomic double in C11 */
} hist[ROUTES];

static void bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void metrics_inc(enum metric m)
{
	if ((unsigned)m < M__COUNT)
		bump(&counters[m], 1);
}

void metrics_release(enum cred_kind kind)
{
	if ((unsigned)kind < KINDS)
		bump(&releases[kind], 1);
}

void metrics_refusal(enum refusal r)
{
	/* REF_NONE is success, not a refusal. */
	if (r != REF_NONE && (unsigned)r < REF__COUNT)
		bump(&refusals[r], 1);
}

static unsigned route_index(const char *route)
{
	for (unsigned i = 0; route != NULL && i < ROUTES - 1; i++)
		if (strcmp(route, route_names[i]) == 0)
			return i;
	return ROUTES - 1;
}

void metrics_observe(const char *route, double seconds)
{
	unsigned r = route_index(route), b = 0;
	double us;

	/* A clock step can make a duration negative or NaN: count it as 0. */
	if (!(seconds > 0))
		seconds = 0;
	while (b < BUCKETS - 1 && seconds > bucket_le[b])
		b++;
	us = seconds * 1e6 + 0.5;
	bump(&hist[r].bucket[b], 1);
	bump(&hist[r].sum_us, us < 1e18 ? (uint64_t)us : UINT64_C(1000000000000000000));
}

static void render_counters(FILE *f)
{
	for (unsigned m = 0; m < M__COUNT; m++)
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counter_info[m].name,
			counter_info[m].help, counter_info[m].name, counter_info[m].name,
			(unsigned long long)get(&counters[m]));
	fputs("# HELP attest11_releases_total Credentials released, by kind.\n"
	      "# TYPE attest11_releases_total counter\n", f);
	for (unsigned k = 0; k < KINDS; k++)
		fprintf(f, "attest11_releases_total{kind=\"%s\"} %llu\n",
			cred_kind_name((enum cred_kind)k), (unsigned long long)get(&releases[k]));
	fputs("# HELP attest11_refusals_total Requests refused, by reason.\n"
	      "# TYPE attest11_refusals_total counter\n", f);
	for (unsigned r = REF_NONE + 1; r < REF__COUNT; r++)
		fprintf(f, "attest11_refusals_total{reason=\"%s\"} %llu\n",
			refusal_code((enum refusal)r), (unsigned long long)get(&refusals[r]));
}

static void render_route(FILE *f, unsigned r)
{
	uint64_t total = 0, sum_us = get(&hist[r].sum_us);

	for (unsigned b = 0; b < BUCKETS; b++) {
		total += get(&hist[r].bucket[b]);
		fprintf(f, DURATION "_bucket{route=\"%s\",le=\"%s\"} %llu\n", route_names[r],
			bucket_label[b], (unsigned long long)total);
	}
	fprintf(f, DURATION "_sum{route=\"%s\"} %llu.%06llu\n", route_names[r],
		(unsigned long long)(sum_us / 1000000), (unsigned long long)(sum_us % 1000000));
	fprintf(f, DURATION "_count{route=\"%s\"} %llu\n", route_names[r],
		(unsigned long long)total);
}

char *metrics_render(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool ok;

	if (f == NULL)
		goto out;
	render_counters(f);
	fputs("# HELP " DURATION " Time from request headers to queued response.\n"
	      "# TYPE " DURATION " histogram\n", f);
	for (unsigned r = 0; r < ROUTES; r++)
		render_route(f, r);
	/* open_memstream reports allocation failure through the stream. */
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok) {
		free(text);
		text = NULL;
	}
out:
	return text;
}
