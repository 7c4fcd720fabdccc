/* Counting and reporting a run: exchanges released and checked, latency
 * percentiles, refusals by code, errors, failed checks, and the broker's
 * CPU time per exchange from /proc/PID/stat. Text for people, --json
 * (jansson) for scripts; the exit status says whether anything failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "load.h"

void load_stats_refusal(struct load_stats *s, const char *code)
{
	size_t i;

	for (i = 0; i < s->ncodes; i++)
		if (strcmp(s->refusals[i].code, code) == 0)
			break;
	if (i == s->ncodes) {
		if (s->ncodes == LOAD_MAX_CODES)
			i = LOAD_MAX_CODES - 1; /* the last slot takes whatever does not fit */
		else
			snprintf(s->refusals[s->ncodes++].code, LOAD_CODE_LEN, "%s", code);
	}
	s->refusals[i].n++;
}

void load_stats_lat(struct load_stats *s, double ms)
{
	struct load_lat *l = &s->lat;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		double *p = realloc(l->ms, cap * sizeof(*p));

		if (p == NULL)
			return; /* a latency lost, never a count: counts come first */
		l->ms = p;
		l->cap = cap;
	}
	l->ms[l->n++] = ms;
}

void load_stats_merge(struct load_stats *into, const struct load_stats *from)
{
	into->fresh += from->fresh;
	into->renewed += from->renewed;
	into->transport += from->transport;
	into->other += from->other;
	into->checks_failed += from->checks_failed;
	into->retried_after_503 += from->retried_after_503;
	for (size_t i = 0; i < from->ncodes; i++)
		for (unsigned long k = 0; k < from->refusals[i].n; k++)
			load_stats_refusal(into, from->refusals[i].code);
	for (size_t i = 0; i < from->lat.n; i++)
		load_stats_lat(into, from->lat.ms[i]);
}

void load_stats_clear(struct load_stats *s)
{
	free(s->lat.ms);
	memset(s, 0, sizeof(*s));
}

double load_cpu_ms(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and parentheses: count from its end.
	 * Fields 3-13, then utime (14) and stime (15), in clock ticks. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static double pct(const struct load_lat *l, double p)
{
	size_t k;

	if (l->n == 0)
		return 0;
	k = (size_t)(p / 100.0 * (double)l->n + 0.999999);
	return l->ms[k == 0 ? 0 : k - 1];
}

static bool allowed(const struct load_config *c, const char *code)
{
	for (size_t i = 0; i < c->nallowed; i++)
		if (strcmp(c->allowed[i], code) == 0)
			return true;
	return false;
}

static unsigned long unexpected(const struct load_config *c, const struct load_stats *s)
{
	unsigned long n = 0;

	for (size_t i = 0; i < s->ncodes; i++)
		n += allowed(c, s->refusals[i].code) ? 0 : s->refusals[i].n;
	return n;
}

static const char *mode_name(enum load_mode m)
{
	return m == LOAD_OPEN ? "open" : m == LOAD_SPIKE ? "spike" : "closed";
}

static const char *ek_name(enum simhost_ek e)
{
	return e == SIMHOST_EK_RSA2048 ? "rsa" : e == SIMHOST_EK_P384 ? "p384" : "p256";
}

static json_t *report_json(const struct load_config *c, const struct load_stats *s,
			   double seconds, double cpu_ms)
{
	unsigned long ok = s->fresh + s->renewed;
	json_t *ref = json_object(), *o;

	for (size_t i = 0; ref != NULL && i < s->ncodes; i++)
		json_object_set_new(ref, s->refusals[i].code, json_integer((json_int_t)s->refusals[i].n));
	o = json_pack("{s:s, s:s, s:I, s:I, s:b, s:b, s:f, s:I, s:I, s:I, s:f,"
		      " s:{s:f, s:f, s:f, s:f}, s:o, s:I, s:I, s:I, s:I, s:I}",
		      "mode", mode_name(c->mode), "ek", ek_name(c->ek), "hosts", (json_int_t)c->hosts,
		      "concurrency", (json_int_t)(c->mode == LOAD_SPIKE ? c->hosts : c->concurrency),
		      "new_connections", (int)c->new_conn, "renew", (int)c->renew, "seconds", seconds,
		      "exchanges", (json_int_t)ok, "releases", (json_int_t)s->fresh,
		      "renewals", (json_int_t)s->renewed,
		      "per_second", seconds > 0 ? (double)ok / seconds : 0.0,
		      "latency_ms", "p50", pct(&s->lat, 50), "p95", pct(&s->lat, 95), "p99",
		      pct(&s->lat, 99), "max", pct(&s->lat, 100), "refusals", ref,
		      "unexpected_refusals", (json_int_t)unexpected(c, s),
		      "transport_errors", (json_int_t)s->transport, "other_errors",
		      (json_int_t)s->other, "checks_failed", (json_int_t)s->checks_failed,
		      "retried_after_503", (json_int_t)s->retried_after_503);
	if (o != NULL && c->new_conn)
		json_object_set_new(o, "tls_resumption", json_boolean(!c->full_handshakes));
	if (o != NULL && cpu_ms >= 0)
		json_object_set_new(o, "broker_cpu_ms_per_exchange",
				    json_real(ok > 0 ? cpu_ms / (double)ok : 0));
	return o;
}

static void report_text(const struct load_config *c, const struct load_stats *s,
			double seconds, double cpu_ms)
{
	unsigned long ok = s->fresh + s->renewed;

	printf("attest11-load: %s, %u hosts (%s EK), concurrency %u, %s connections%s\n",
	       mode_name(c->mode), c->hosts, ek_name(c->ek),
	       c->mode == LOAD_SPIKE ? c->hosts : c->concurrency,
	       !c->new_conn ? "kept" : c->full_handshakes ? "new (full handshakes)"
							  : "new (TLS sessions resumed)",
	       c->renew ? ", each release renewed" : "");
	printf("exchanges: %lu released and checked (%lu releases, %lu renewals) in %.2f s: %.1f/s\n",
	       ok, s->fresh, s->renewed, seconds, seconds > 0 ? (double)ok / seconds : 0.0);
	printf("latency per exchange, ms: p50 %.1f p95 %.1f p99 %.1f max %.1f\n",
	       pct(&s->lat, 50), pct(&s->lat, 95), pct(&s->lat, 99), pct(&s->lat, 100));
	printf("refusals:%s", s->ncodes == 0 ? " none" : "");
	for (size_t i = 0; i < s->ncodes; i++)
		printf(" %s %lu%s", s->refusals[i].code, s->refusals[i].n,
		       allowed(c, s->refusals[i].code) ? " (allowed)" : "");
	printf("\nerrors: transport %lu, other %lu; checks failed %lu; unexpected refusals %lu\n",
	       s->transport, s->other, s->checks_failed, unexpected(c, s));
	printf("retried after 503 (busy, store_busy; not errors): %lu\n", s->retried_after_503);
	if (cpu_ms >= 0)
		printf("broker CPU: %.2f ms per exchange (%.0f ms in all)\n",
		       ok > 0 ? cpu_ms / (double)ok : 0.0, cpu_ms);
}

int load_report(const struct load_config *c, const struct load_stats *st, double seconds,
		double cpu_ms)
{
	struct load_stats s = *st;
	double *sorted = s.lat.n > 0 ? malloc(s.lat.n * sizeof(*sorted)) : NULL;
	json_t *o;

	if (sorted != NULL) {
		memcpy(sorted, st->lat.ms, s.lat.n * sizeof(*sorted));
		qsort(sorted, s.lat.n, sizeof(*sorted), by_value);
	} else {
		s.lat.n = 0;
	}
	s.lat.ms = sorted;
	if (c->json && (o = report_json(c, &s, seconds, cpu_ms)) != NULL) {
		json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(o);
	} else {
		report_text(c, &s, seconds, cpu_ms);
	}
	free(sorted);
	return st->transport || st->other || st->checks_failed || unexpected(c, st) ? 1 : 0;
}
