/* A private temporary directory per test, removed with everything in it
 * at the end. Header-only (static inline) because each unit test is its
 * own binary linked only with testlib. */
#ifndef A11_TEST_TMPDIR_FIXTURE_H
#define A11_TEST_TMPDIR_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

struct tmpdir {
	char path[PATH_MAX];
};

static inline void tmpdir_make(struct tmpdir *t)
{
	const char *base = getenv("TMPDIR");

	snprintf(t->path, sizeof(t->path), "%s/attest11-unit.XXXXXX",
		 base != NULL && *base != '\0' ? base : "/tmp");
	assert_non_null(mkdtemp(t->path));
}

/* path/name into out (PATH_MAX bytes). */
static inline void tmpdir_file(const struct tmpdir *t, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", t->path, name);

	assert_true(n > 0 && n < PATH_MAX);
}

/* The tests create plain files only, so one level is enough. */
static inline void tmpdir_remove(struct tmpdir *t)
{
	char f[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(t->path);

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		tmpdir_file(t, e->d_name, f);
		assert_int_equal(unlink(f), 0);
	}
	closedir(d);
	assert_int_equal(rmdir(t->path), 0);
}

#endif
