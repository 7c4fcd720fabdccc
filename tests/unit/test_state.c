/* The host state directory (src/attester/state.c): a lease survives the
 * round trip member by member, broken or misplaced files are refused, the
 * directory and files get owner-only modes, and the lock excludes a second
 * holder for as long as it waits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto_fixture.h"
#include "tmpdir_fixture.h"
#include "../../src/attester/state.h"

#define CRED "web-01.prod_A"

struct fx {
	struct tmpdir top;
	char dir[PATH_MAX];   /* top/state: state_save creates it */
	struct host_lease in;
};

static void fill_lease(struct host_lease *l)
{
	memset(l, 0, sizeof(*l));
	fx_rel(&l->rel, 2, true); /* with a key public and an approval */
	/* What state_save does not keep. */
	l->rel.duplicate.size = 0;
	l->rel.seed.size = 0;
	l->priv.size = 222;
	fx_fill(l->priv.buffer, 222, 64);
	l->key_auth = true;
	fx_fill(l->salt, sizeof(l->salt), 65);
	l->iterations = 100000;
	l->srk_alg = TPM2_ALG_ECC;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(&f->top);
	tmpdir_file(&f->top, "state", f->dir);
	fill_lease(&f->in);
	*state = f;
	return 0;
}

/* Everything state_save and state_lock may leave in top/state. */
static void remove_state(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	chmod(dir, 0700);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	remove_state(f->dir);
	tmpdir_remove(&f->top);
	host_lease_clear(&f->in);
	free(f);
	return 0;
}

static void eq_lease(const struct host_lease *a, const struct host_lease *b)
{
	assert_int_equal(a->rel.kind, b->rel.kind);
	assert_true(b->rel.has_key);
	eq_public(&a->rel.pub, &b->rel.pub);
	assert_int_equal(b->rel.duplicate.size, 0);
	assert_int_equal(b->rel.seed.size, 0);
	assert_int_equal(a->rel.pcr_bound, b->rel.pcr_bound);
	eq_sel(&a->rel.pcr_selection, &b->rel.pcr_selection);
	assert_int_equal(a->rel.auth_value, b->rel.auth_value);
	assert_int_equal(b->rel.cert_count, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(a->rel.cert_len[i], b->rel.cert_len[i]);
		assert_memory_equal(a->rel.certs[i], b->rel.certs[i], a->rel.cert_len[i]);
	}
	assert_int_equal(a->rel.token_ct_len, b->rel.token_ct_len);
	assert_memory_equal(a->rel.token_ct, b->rel.token_ct, a->rel.token_ct_len);
	assert_string_equal(a->rel.lease, b->rel.lease);
	assert_int_equal(a->rel.lease_expires, b->rel.lease_expires);
	assert_int_equal(a->rel.lease_approved, b->rel.lease_approved);
	eq_approval(&a->rel.approval, &b->rel.approval);
	assert_string_equal(a->rel.ear, b->rel.ear);
	assert_int_equal(a->priv.size, b->priv.size);
	assert_memory_equal(a->priv.buffer, b->priv.buffer, a->priv.size);
	assert_true(b->key_auth);
	assert_memory_equal(a->salt, b->salt, sizeof(a->salt));
	assert_int_equal(a->iterations, b->iterations);
	assert_int_equal(a->srk_alg, b->srk_alg);
}

static void lease_path(const struct fx *f, const char *name, char *out)
{
	assert_true(snprintf(out, PATH_MAX, "%s/%s.lease", f->dir, name) < PATH_MAX);
}

static void round_trip(void **state)
{
	struct fx *f = *state;
	struct host_lease out;

	f->in.rel.duplicate.size = 180; /* present in memory, never written */
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	f->in.rel.duplicate.size = 0;
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	eq_lease(&f->in, &out);
	host_lease_clear(&out);
	/* Saving again replaces the file. */
	f->in.rel.lease_expires++;
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_int_equal(out.rel.lease_expires, f->in.rel.lease_expires);
	host_lease_clear(&out);
}

static void no_key_no_auth(void **state)
{
	struct fx *f = *state;
	struct host_lease out;

	f->in.rel.has_key = false;
	f->in.key_auth = false;
	f->in.priv.size = 0;
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_false(out.rel.has_key);
	assert_false(out.key_auth);
	assert_int_equal(out.priv.size, 0);
	host_lease_clear(&out);
}

/* Whether the writer verified the EAR travels with the file (it is not
 * part of the protocol's release), and only as far as it is true. */
static void ear_verified_kept(void **state)
{
	struct fx *f = *state;
	struct host_lease out;

	for (int v = 0; v < 2; v++) {
		f->in.rel.ear_verified = v;
		assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
		assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
		assert_int_equal(out.rel.ear_verified, v);
		host_lease_clear(&out);
	}
}

static void not_found(void **state)
{
	struct fx *f = *state;
	struct host_lease out;

	/* No directory yet, then a directory without the file. */
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_NOT_FOUND);
	assert_int_equal(state_save(f->dir, "other", &f->in), A11_OK);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_NOT_FOUND);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void corrupt(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], other[PATH_MAX];
	struct host_lease out;

	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	lease_path(f, CRED, p);
	write_file(p, "{\"version\":1,\"credential\":\"" CRED "\",\"private\":\"AAA");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
	write_file(p, "{\"version\":3}");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
	/* A lease copied under another name is not that credential's. */
	assert_int_equal(state_save(f->dir, "other", &f->in), A11_OK);
	lease_path(f, "other", other);
	assert_int_equal(rename(other, p), 0);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
}

/* The file's text with one occurrence of from replaced by to. */
static void edit_file(const char *path, const char *from, const char *to)
{
	char buf[65536], out[65536], *at;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(at = strstr(buf, from));
	assert_true(snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - buf), buf, to,
			     at + strlen(from)) < (int)sizeof(out));
	write_file(path, out);
}

/* Version 2 keeps the approval's ticket and the approver's Name; a
 * version 1 file (before tickets) is read, without one; a ticket that
 * does not decode is left out, the rest of the file kept. */
static void ticket_versions(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct host_lease out;

	lease_path(f, CRED, p);
	f->in.has_ticket = true;
	f->in.ticket = (TPMT_TK_VERIFIED){ .tag = TPM2_ST_VERIFIED, .hierarchy = TPM2_RH_OWNER,
					   .digest = { .size = 32, .buffer = { 7, 8, 9 } } };
	f->in.approver = (TPM2B_NAME){ .size = 34, .name = { 0, 0x0b, 5 } };
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_true(out.has_ticket);
	assert_memory_equal(&out.ticket, &f->in.ticket, sizeof(out.ticket));
	assert_memory_equal(&out.approver, &f->in.approver, sizeof(out.approver));
	eq_lease(&f->in, &out);
	host_lease_clear(&out);
	edit_file(p, "\"version\":2", "\"version\":1");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_false(out.has_ticket);
	eq_lease(&f->in, &out);
	host_lease_clear(&out);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	edit_file(p, "\"ticket\":\"", "\"ticket\":\"!");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_false(out.has_ticket);
	eq_lease(&f->in, &out);
	host_lease_clear(&out);
}

/* Which SRK the private blob is under: kept; absent in files written
 * before ECC SRKs, which were all under the RSA one; nothing else. */
static void srk_type(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct host_lease out;

	lease_path(f, CRED, p);
	f->in.srk_alg = TPM2_ALG_RSA;
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_int_equal(out.srk_alg, TPM2_ALG_RSA);
	host_lease_clear(&out);
	f->in.srk_alg = TPM2_ALG_ECC;
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	edit_file(p, "\"srk\":\"ecc\",", "");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
	assert_int_equal(out.srk_alg, TPM2_ALG_RSA);
	host_lease_clear(&out);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	edit_file(p, "\"srk\":\"ecc\"", "\"srk\":\"ECC\"");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	edit_file(p, "\"srk\":\"ecc\"", "\"srk\":1");
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
}

/* PIN parameters that do not match their check value (a damaged salt or
 * iteration count, or a file from before the check) are refused, so the
 * module never asks the TPM with an authValue derived from them. */
static void key_auth_damaged(void **state)
{
	static const char *const edits[][2] = {
		{ "\"salt\":\"AAAA", "\"salt\":\"AAAB" },
		{ "\"iterations\":100000", "\"iterations\":100001" },
		{ "\"check\":\"", "\"old\":\"" },
	};
	struct fx *f = *state;
	char p[PATH_MAX];
	struct host_lease out;

	lease_path(f, CRED, p);
	memset(f->in.salt, 0, sizeof(f->in.salt));
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
		assert_int_equal(state_load(f->dir, CRED, &out), A11_OK);
		assert_true(out.key_auth);
		host_lease_clear(&out);
		edit_file(p, edits[i][0], edits[i][1]);
		assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
	}
}

static void too_large(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct host_lease out;
	FILE *fp;

	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	lease_path(f, CRED, p);
	assert_non_null(fp = fopen(p, "w"));
	for (int i = 0; i < 300 * 1024; i++)
		fputc(' ', fp);
	fputs("{}", fp);
	fclose(fp);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_PARSE);
}

static void bad_names(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = { "a/b", "../x", ".hidden", "", "sp ace", "x\n" };
	char longname[PROTO_NAME_MAX + 2];
	struct host_lease out;
	int fd;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(state_save(f->dir, bad[i], &f->in), A11_ERR_ARG);
		assert_int_equal(state_load(f->dir, bad[i], &out), A11_ERR_ARG);
		assert_int_equal(state_lock(f->dir, bad[i], 10, &fd), A11_ERR_ARG);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(state_save(f->dir, longname, &f->in), A11_ERR_ARG);
	longname[PROTO_NAME_MAX] = '\0';
	assert_int_equal(state_save(f->dir, longname, &f->in), A11_OK);
}

static void modes_and_no_temp(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int n = 0;

	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	lease_path(f, CRED, p);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_non_null(d = opendir(f->dir));
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			assert_string_equal(e->d_name, CRED ".lease");
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
}

/* Root (nginx's master) writing a service user's directory leaves the
 * lease and the lock to that user, who must be able to replace them. */
static void root_gives_files_to_owner(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 32];
	struct stat st;
	int fd;

	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(chown(f->dir, 65534, 65534), 0);
	assert_int_equal(state_lock(f->dir, CRED, 1000, &fd), A11_OK);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	state_unlock(fd);
	snprintf(p, sizeof(p), "%s/%s.lease", f->dir, CRED);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	snprintf(p, sizeof(p), "%s/%s.lock", f->dir, CRED);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 65534);
}

static void refuses_unsafe_dir(void **state)
{
	struct fx *f = *state;
	char link[PATH_MAX];
	struct host_lease out;

	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_ERR_IO);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_IO);
	assert_int_equal(chmod(f->dir, 0700), 0);
	/* A symlink to a good directory is still refused. */
	tmpdir_file(&f->top, "link", link);
	assert_int_equal(symlink(f->dir, link), 0);
	assert_int_equal(state_save(link, CRED, &f->in), A11_ERR_IO);
	unlink(link);
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void lock_excludes(void **state)
{
	struct fx *f = *state;
	int a = -1, b = -1;
	long t0, waited;

	assert_int_equal(state_lock(f->dir, CRED, 0, &a), A11_OK);
	t0 = now_ms();
	/* A separate open file description, as another thread or process has. */
	assert_int_equal(state_lock(f->dir, CRED, 200, &b), A11_ERR_EXPIRED);
	waited = now_ms() - t0;
	assert_int_equal(b, -1);
	assert_true(waited >= 200 && waited < 1500);
	/* Another credential's lock is independent. */
	assert_int_equal(state_lock(f->dir, "other", 0, &b), A11_OK);
	state_unlock(b);
	state_unlock(a);
	assert_int_equal(state_lock(f->dir, CRED, 0, &b), A11_OK);
	state_unlock(b);
}

/* A FIFO (or any non-regular file) in place of the lease: refused at
 * once, never an open() that waits for a writer forever. The alarm turns
 * a hang into a failure. */
static void refuses_fifo(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	struct host_lease out;

	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	lease_path(f, CRED, p);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	alarm(10);
	assert_int_equal(state_load(f->dir, CRED, &out), A11_ERR_IO);
	alarm(0);
}

static void make_temp(const struct fx *f, const char *name, time_t age)
{
	char p[PATH_MAX];
	struct timespec t[2];

	assert_true(snprintf(p, sizeof(p), "%s/%s", f->dir, name) < (int)sizeof(p));
	write_file(p, "{\"half\":");
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
}

static bool exists(const struct fx *f, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	assert_true(snprintf(p, sizeof(p), "%s/%s", f->dir, name) < (int)sizeof(p));
	return lstat(p, &st) == 0;
}

/* A writer killed between creating its temporary and renaming it leaves
 * .CRED.lease.XXXXXXXXXXXX behind: the next save of CRED removes those
 * older than any writer takes, and leaves a fresh one (a writer may still
 * be at it) and other credentials' alone. */
static void removes_stale_temps(void **state)
{
	struct fx *f = *state;

	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	make_temp(f, "." CRED ".lease.0123456789ab", 3600);
	make_temp(f, "." CRED ".lease.abcdefabcdef", 0);
	make_temp(f, ".other.lease.0123456789ab", 3600);
	make_temp(f, "." CRED ".lease.keep", 3600);
	assert_int_equal(state_save(f->dir, CRED, &f->in), A11_OK);
	assert_false(exists(f, "." CRED ".lease.0123456789ab"));
	assert_true(exists(f, "." CRED ".lease.abcdefabcdef"));
	assert_true(exists(f, ".other.lease.0123456789ab"));
	assert_true(exists(f, "." CRED ".lease.keep"));
	assert_true(exists(f, CRED ".lease"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(no_key_no_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(ear_verified_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(srk_type, setup, teardown),
		cmocka_unit_test_setup_teardown(ticket_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(key_auth_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(modes_and_no_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(root_gives_files_to_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_unsafe_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(lock_excludes, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(removes_stale_temps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
