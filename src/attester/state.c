/* The host state directory (state.h): its files, their reading and
 * atomic replacement, and the lock; the lease file's format is
 * src/attester/state_json.c. */
#define _GNU_SOURCE /* mkostemp: temp files must not leak into exec'd children */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../common/file.h"
#include "../common/log.h"
#include "state.h"
#include "state_json.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)
/* A release is at most PROTO_MAX_BODY; the rest is a few kilobytes. */
#define STATE_FILE_MAX (256 * 1024)
#define LOCK_POLL_MS 10
#define PATH_CAP 4096
#define FILE_CAP (PROTO_NAME_MAX + 8) /* NAME.lease, NAME.lock */

/* ---- names and paths ------------------------------------------------------ */

/* Credential names become file names: no '/', no "..", no hidden files. */
static a11_err check_name(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > PROTO_NAME_MAX || name[0] == '.')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			goto bad;
	}
	return A11_OK;
bad:
	log_error("credential name unusable as a file name (want [A-Za-z0-9._-], 1 to %d, "
		  "no leading '.')", PROTO_NAME_MAX);
	return A11_ERR_ARG;
}

/* DIR/NAME.SUFFIX into path, NAME.SUFFIX into file (for openat). */
static a11_err make_paths(const char *dir, const char *name, const char *suffix,
			  char path[PATH_CAP], char file[FILE_CAP])
{
	int n = snprintf(path, PATH_CAP, "%s/%s%s", dir, name, suffix);

	if (n < 0 || n >= PATH_CAP) {
		log_error("state path too long: %s", dir);
		return A11_ERR_ARG;
	}
	snprintf(file, FILE_CAP, "%s%s", name, suffix); /* check_name bounds it */
	return A11_OK;
}

/* ---- the directory --------------------------------------------------------- */

/* Another user who can write the directory could plant a lease (and with it
 * the certificate `attest11 cert` hands to a TLS server) or swap files. */
static a11_err check_dir_stat(const char *dir, const struct stat *st, bool check_owner)
{
	const char *why = !S_ISDIR(st->st_mode) ? "not a directory"
			  : check_owner && st->st_uid != geteuid() && geteuid() != 0
				  ? "not owned by this user"
			  : (st->st_mode & (S_IWGRP | S_IWOTH)) ? "writable by group or others"
			  : NULL;

	if (why == NULL)
		return A11_OK;
	log_error("state directory %s refused: %s", dir, why);
	return A11_ERR_IO;
}

/* An fd on DIR after the checks above (the owner only when writing: a
 * reader such as `attest11 cert` running as root may read the lease of
 * the module's user). O_NOFOLLOW refuses a symlink as the last component.
 * Only that one level is created if missing (the parent, e.g. /var/lib,
 * is the system's). */
static a11_err open_dir(const char *dir, bool create, int *dfd)
{
	struct stat st;
	a11_err r;

	*dfd = -1;
	if (dir == NULL || *dir == '\0')
		return A11_ERR_ARG;
	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create state directory %s: %s", dir, strerror(errno));
		return A11_ERR_IO;
	}
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0) {
		r = errno == ENOENT ? A11_ERR_NOT_FOUND : A11_ERR_IO;
		if (r == A11_ERR_IO)
			log_error("state directory %s: %s", dir, errno == ELOOP || errno == ENOTDIR
					  ? "a symlink or not a directory" : strerror(errno));
		return r;
	}
	if (fstat(*dfd, &st) != 0 || (r = check_dir_stat(dir, &st, create)) != A11_OK) {
		close(*dfd);
		*dfd = -1;
		return A11_ERR_IO;
	}
	return A11_OK;
}

/* ---- reading ----------------------------------------------------------------- */

static a11_err read_fd(int fd, const char *path, char **buf, size_t *len)
{
	char *b = malloc(STATE_FILE_MAX + 1);
	size_t n = 0;
	ssize_t got = 1;

	if (b == NULL)
		return A11_ERR_NOMEM;
	/* One byte past the limit tells an oversized file from a full one. */
	while (n <= STATE_FILE_MAX && got != 0) {
		got = read(fd, b + n, STATE_FILE_MAX + 1 - n);
		if (got < 0 && errno != EINTR) {
			log_error("cannot read %s: %s", path, strerror(errno));
			free(b);
			return A11_ERR_IO;
		}
		n += got > 0 ? (size_t)got : 0;
	}
	if (n > STATE_FILE_MAX) {
		log_warn("%s: larger than %d bytes", path, STATE_FILE_MAX);
		free(b);
		return A11_ERR_PARSE;
	}
	*buf = b;
	*len = n;
	return A11_OK;
}

/* Why the file opened as fd is no lease to read, or NULL. */
static const char *unfit_file(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return strerror(errno);
	if (!S_ISREG(st.st_mode))
		return S_ISFIFO(st.st_mode) ? "a FIFO, not a regular file" : "not a regular file";
	return (st.st_mode & (S_IWGRP | S_IWOTH)) ? "writable by group or others" : NULL;
}

/* O_NONBLOCK: opening a FIFO (or a device) put in the lease's place must
 * not wait for a writer; fstat then refuses it. A regular file ignores
 * the flag. */
static a11_err read_lease(int dfd, const char *path, const char *file, char **buf, size_t *len)
{
	int fd = openat(dfd, file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	const char *why;
	a11_err r;

	if (fd < 0 && errno == ENOENT)
		return A11_ERR_NOT_FOUND;
	if (fd < 0) {
		log_error("cannot open %s: %s", path, errno == ELOOP ? "a symlink" : strerror(errno));
		return A11_ERR_IO;
	}
	if ((why = unfit_file(fd)) != NULL) {
		log_error("%s refused: %s", path, why);
		r = A11_ERR_IO;
	} else {
		r = read_fd(fd, path, buf, len);
	}
	close(fd);
	return r;
}

a11_err state_load(const char *dir, const char *credential, struct host_lease *out)
{
	char path[PATH_CAP], file[FILE_CAP], *buf = NULL;
	size_t len = 0;
	int dfd = -1;
	a11_err r;

	memset(out, 0, sizeof(*out));
	TRY(check_name(credential));
	TRY(make_paths(dir, credential, ".lease", path, file));
	TRY(open_dir(dir, false, &dfd));
	TRY(read_lease(dfd, path, file, &buf, &len));
	if ((r = state_decode(buf, len, credential, out)) == A11_ERR_PARSE)
		log_warn("%s: not a lease of %s", path, credential);
out:
	if (dfd >= 0)
		close(dfd);
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	if (r != A11_OK)
		host_lease_clear(out);
	return r;
}

/* ---- writing ----------------------------------------------------------------- */

/* text to a fresh temporary file in the directory, then renamed over path:
 * readers see the old file or the new one, never half of one. */
/* Root writing into a service user's state directory (nginx's master,
 * whose workers run as that user) leaves its files to that user. */
static void give_to_dir_owner(int dfd, int fd, const char *path)
{
	struct stat st;

	if (geteuid() != 0 || fstat(dfd, &st) != 0 || st.st_uid == 0)
		return;
	if (fchown(fd, st.st_uid, st.st_gid) != 0)
		log_warn("cannot give %s to the directory's owner: %s", path, strerror(errno));
}

/* A writer killed between creating its temporary and renaming it (see
 * replace_file) leaves .FILE.XXXXXXXXXXXX behind. A writer finishes in
 * milliseconds (write, fsync, rename), so one older than this is nobody's;
 * removing a file some writer still held would only make that writer's
 * rename fail (its save is lost, no file is damaged). PIDs in the names
 * would not do: they are reused, and differ across PID namespaces that
 * share the directory. */
#define STALE_TEMP_S 600
#define TEMP_RND_HEX 12

static bool is_temp_of(const char *name, const char *file)
{
	size_t n = strlen(file);

	if (name[0] != '.' || strncmp(name + 1, file, n) != 0 || name[n + 1] != '.' ||
	    strlen(name + n + 2) != TEMP_RND_HEX)
		return false;
	return strspn(name + n + 2, "0123456789abcdef") == TEMP_RND_HEX;
}

static void remove_stale_temps(int dfd, const char *file)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	time_t now = time(NULL);
	struct dirent *e;
	struct stat st;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!is_temp_of(e->d_name, file) ||
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || now - st.st_mtime < STALE_TEMP_S)
			continue;
		if (unlinkat(dfd, e->d_name, 0) == 0)
			log_warn("removed %s, left by a writer that stopped mid-write", e->d_name);
	}
	closedir(d);
}

/* text to a fresh temporary file in the directory, then renamed over the
 * lease: readers see the old file or the new one, never half of one. All
 * relative to the directory's descriptor, so a directory swapped for a
 * symlink meanwhile cannot redirect the writes. */
static a11_err replace_file(int dfd, const char *path, const char *file, const char *text)
{
	char tmp[FILE_CAP + 24];
	unsigned char rnd[TEMP_RND_HEX / 2];
	a11_err r = A11_OK;
	int fd;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return A11_ERR_CRYPTO;
	snprintf(tmp, sizeof(tmp), ".%s.%02x%02x%02x%02x%02x%02x", file, rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5]);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot create a temporary file for %s: %s", path, strerror(errno));
		return A11_ERR_IO;
	}
	give_to_dir_owner(dfd, fd, path);
	if (file_write_all(fd, text, strlen(text)) != A11_OK || fsync(fd) != 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		r = A11_ERR_IO;
	}
	if (close(fd) != 0 && r == A11_OK) {
		log_error("cannot close the new %s: %s", path, strerror(errno));
		r = A11_ERR_IO;
	}
	if (r == A11_OK && renameat(dfd, tmp, dfd, file) != 0) {
		log_error("cannot replace %s: %s", path, strerror(errno));
		r = A11_ERR_IO;
	}
	if (r != A11_OK)
		unlinkat(dfd, tmp, 0);
	/* Without this a crash can lose the new directory entry. */
	else if (fsync(dfd) != 0)
		log_warn("cannot sync the directory of %s: %s", path, strerror(errno));
	return r;
}

a11_err state_save(const char *dir, const char *credential, const struct host_lease *in)
{
	char path[PATH_CAP], file[FILE_CAP], *text = NULL;
	int dfd = -1;
	a11_err r;

	TRY(check_name(credential));
	TRY(make_paths(dir, credential, ".lease", path, file));
	TRY(open_dir(dir, true, &dfd));
	TRY((text = state_encode(credential, in)) != NULL ? A11_OK : A11_ERR_NOMEM);
	/* Never write what state_load would refuse. */
	if (strlen(text) > STATE_FILE_MAX) {
		log_error("lease of %s too large for %s", credential, path);
		r = A11_ERR_ARG;
		goto out;
	}
	r = replace_file(dfd, path, file, text);
	remove_stale_temps(dfd, file);
out:
	if (dfd >= 0)
		close(dfd);
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	return r;
}

/* ---- locking ------------------------------------------------------------------- */

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* flock locks belong to the open file description: two threads of one
 * process that each call state_lock hold separate descriptions and so
 * exclude each other, as two processes do. The lock file is never
 * removed: unlinking it would let a late opener lock a different inode. */
static a11_err wait_lock(int fd, const char *path, long timeout_ms)
{
	const struct timespec nap = { 0, LOCK_POLL_MS * 1000000L };
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return A11_OK;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_error("cannot lock %s: %s", path, strerror(errno));
			return A11_ERR_IO;
		}
		if (elapsed_ms(&t0) >= timeout_ms)
			break;
		nanosleep(&nap, NULL);
	}
	log_warn("%s still locked after %ld ms", path, timeout_ms);
	return A11_ERR_EXPIRED;
}

a11_err state_lock(const char *dir, const char *credential, long timeout_ms, int *fd)
{
	char path[PATH_CAP], file[FILE_CAP];
	int dfd = -1;
	a11_err r;

	*fd = -1;
	TRY(check_name(credential));
	TRY(make_paths(dir, credential, ".lock", path, file));
	/* The first process to attest on a host may find no directory yet. */
	TRY(open_dir(dir, true, &dfd));
	*fd = openat(dfd, file, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		r = A11_ERR_IO;
		goto out;
	}
	give_to_dir_owner(dfd, *fd, path);
	if ((r = wait_lock(*fd, path, timeout_ms)) != A11_OK) {
		close(*fd);
		*fd = -1;
	}
out:
	if (dfd >= 0)
		close(dfd);
	return r;
}

void state_unlock(int fd)
{
	if (fd < 0)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}

void host_lease_clear(struct host_lease *l)
{
	release_clear(&l->rel);
	OPENSSL_cleanse(l, sizeof(*l));
}
