#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int level = A11_LOG_WARN;
static int level_forced;

static void read_env(void)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	const char *v = getenv("ATTEST11_LOG");

	if (v == NULL || level_forced)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			level = (int)i;
}

void a11_log_set_level(enum a11_log_level l)
{
	level_forced = 1;
	level = l;
}

enum a11_log_level a11_log_get_level(void)
{
	pthread_once(&once, read_env);
	return (enum a11_log_level)level;
}

void a11_log(enum a11_log_level l, const char *func, const char *fmt, ...)
{
	static const char *const tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	char line[1024];
	va_list ap;

	pthread_once(&once, read_env);
	if ((int)l > level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so concurrent threads do not interleave. */
	fprintf(stderr, "attest11 %s %s: %s\n", tags[l], func, line);
}
