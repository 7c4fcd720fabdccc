/* The host state directory (state.h). One JSON file per credential:
 *   {"version":1, "credential":NAME, "public":<key TPM2B_PUBLIC, if any>,
 *    "private":<TPM2B_PRIVATE>,
 *    "key_auth":{"salt","iterations","check"} (optional; check: see key_auth_check),
 *    "srk":"ecc"|"rsa" (the SRK type "private" is under; absent: "rsa", as
 *    written before ECC SRKs),
 *    "release":<release_encode() without its "key" member>,
 *    "ear_verified":true (only if the writer verified the release's EAR)}
 * The release is stored through the protocol's own encoder so the file
 * format follows the protocol without a second copy of its rules; its
 * "key" member is left out because it would carry the duplication blob,
 * which the host no longer needs once the key is imported. */
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
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../proto/json.h"
#include "../wire/hash.h"
#include "state.h"

#define TRY(x) do { if ((r = (x)) != A11_OK) goto out; } while (0)
#define STATE_VERSION 1
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

/* ---- JSON ------------------------------------------------------------------------ */

/* The release without its key (and so without the duplication blob). */
static a11_err put_release(json_t *o, const struct release *rel)
{
	struct release copy = *rel; /* shallow: shares the malloc'd members */
	json_error_t err;
	char *s;
	a11_err r;

	copy.has_key = false;
	s = release_encode(&copy);
	OPENSSL_cleanse(&copy, sizeof(copy));
	if (s == NULL)
		return A11_ERR_ARG;
	r = j_set(o, "release", json_loads(s, 0, &err));
	free(s);
	return r;
}

/* A damaged salt or iteration count would cost a dictionary-attack strike
 * at every login with the right PIN: this hash finds the damage before the
 * TPM is asked, and holds nothing derived from the PIN, so it is no
 * offline oracle (docs/threat-model.md, "The PIN parameters"). */
#define KEY_AUTH_LABEL "attest11 key_auth v1"

static a11_err key_auth_check(const char *credential, const struct host_lease *l,
			      uint8_t out[32])
{
	uint8_t buf[sizeof(KEY_AUTH_LABEL) + PROTO_NAME_MAX + 1 + PROTO_SALT_LEN + 4];
	size_t n = strlen(credential), off = 0;

	if (n > PROTO_NAME_MAX)
		return A11_ERR_ARG;
	memcpy(buf, KEY_AUTH_LABEL, sizeof(KEY_AUTH_LABEL)); /* with its NUL */
	off += sizeof(KEY_AUTH_LABEL);
	memcpy(buf + off, credential, n + 1);
	off += n + 1;
	memcpy(buf + off, l->salt, sizeof(l->salt));
	off += sizeof(l->salt);
	for (int i = 3; i >= 0; i--)
		buf[off++] = (uint8_t)(l->iterations >> (8 * i));
	return wire_hash(TPM2_ALG_SHA256, buf, off, out);
}

static a11_err put_key_auth(json_t *o, const char *credential, const struct host_lease *in)
{
	json_t *k = json_object();
	a11_err r = k ? A11_OK : A11_ERR_NOMEM;
	uint8_t check[32];

	TRY(j_put_bytes(k, "salt", in->salt, sizeof(in->salt)));
	TRY(j_set(k, "iterations", json_integer(in->iterations)));
	TRY(key_auth_check(credential, in, check));
	TRY(j_put_bytes(k, "check", check, sizeof(check)));
	r = j_set(o, "key_auth", k);
	k = NULL;
out:
	json_decref(k);
	return r;
}

static char *encode(const char *credential, const struct host_lease *in)
{
	json_t *o = json_object();
	a11_err r = o ? A11_OK : A11_ERR_NOMEM;
	char *s = NULL;

	TRY(j_set(o, "version", json_integer(STATE_VERSION)));
	TRY(j_set(o, "credential", json_string(credential)));
	if (in->rel.has_key)
		TRY(j_put_TPM2B_PUBLIC(o, "public", &in->rel.pub));
	TRY(j_put_TPM2B_PRIVATE(o, "private", &in->priv));
	TRY(j_set(o, "srk", json_string(in->srk_alg == TPM2_ALG_ECC ? "ecc" : "rsa")));
	if (in->key_auth)
		TRY(put_key_auth(o, credential, in));
	TRY(put_release(o, &in->rel));
	/* Not on the wire: whether the writer checked the EAR (ear_key). */
	if (in->rel.ear_verified)
		TRY(j_set(o, "ear_verified", json_true()));
	s = json_dumps(o, JSON_COMPACT);
out:
	if (r != A11_OK)
		log_error("cannot encode the lease of %s: %s", credential, a11_strerror(r));
	json_decref(o);
	return s;
}

static a11_err get_key_auth(json_t *o, const char *credential, struct host_lease *out)
{
	json_t *k = json_object_get(o, "key_auth");
	uint8_t check[32], want[32];
	int64_t it;
	size_t n = 0, m = 0;

	if (k == NULL)
		return A11_OK;
	if (j_bytes(k, "salt", out->salt, sizeof(out->salt), &n) != A11_OK ||
	    n != sizeof(out->salt) || j_int(k, "iterations", 1, UINT32_MAX, &it) != A11_OK)
		return A11_ERR_PARSE;
	out->iterations = (uint32_t)it;
	/* Also a file from before the check value: the login attests once
	 * and writes one that has it. */
	if (j_bytes(k, "check", check, sizeof(check), &m) != A11_OK || m != sizeof(check) ||
	    key_auth_check(credential, out, want) != A11_OK ||
	    CRYPTO_memcmp(check, want, sizeof(want)) != 0) {
		log_warn("the lease of %s: its PIN parameters (key_auth) fail their check value "
			 "(damaged); not used, so that the TPM never sees a PIN derived with them",
			 credential);
		return A11_ERR_PARSE;
	}
	out->key_auth = true;
	return A11_OK;
}

static a11_err get_srk(json_t *o, TPM2_ALG_ID *alg)
{
	char v[8];
	a11_err r = j_str(o, "srk", v, sizeof(v));

	*alg = TPM2_ALG_RSA;
	if (r == A11_ERR_NOT_FOUND)
		return A11_OK;
	if (r == A11_OK && strcmp(v, "ecc") == 0)
		*alg = TPM2_ALG_ECC;
	else if (r == A11_OK && strcmp(v, "rsa") != 0)
		r = A11_ERR_PARSE;
	return r;
}

static a11_err get_release(json_t *o, struct release *rel)
{
	json_t *v = json_object_get(o, "release");
	char *s = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
	a11_err r = s != NULL ? release_decode(s, strlen(s), rel) : A11_ERR_PARSE;

	free(s);
	return r;
}

/* The key public lives outside "release" (see the top of this file). */
static a11_err get_public(json_t *o, struct release *rel)
{
	a11_err r = j_get_TPM2B_PUBLIC(o, "public", &rel->pub);

	rel->has_key = r == A11_OK;
	/* Whatever a hand-made file put under release.key, not kept. */
	OPENSSL_cleanse(&rel->duplicate, sizeof(rel->duplicate));
	OPENSSL_cleanse(&rel->seed, sizeof(rel->seed));
	return r == A11_ERR_NOT_FOUND ? A11_OK : r;
}

static a11_err decode(const char *buf, size_t len, const char *credential,
		      struct host_lease *out)
{
	json_error_t err;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	char name[PROTO_NAME_MAX + 1];
	int64_t version;
	a11_err r = json_is_object(o) ? A11_OK : A11_ERR_PARSE;

	TRY(j_int(o, "version", STATE_VERSION, STATE_VERSION, &version));
	TRY(j_str(o, "credential", name, sizeof(name)));
	TRY(strcmp(name, credential) == 0 ? A11_OK : A11_ERR_PARSE);
	TRY(j_get_TPM2B_PRIVATE(o, "private", &out->priv));
	TRY(get_key_auth(o, credential, out));
	TRY(get_srk(o, &out->srk_alg));
	TRY(get_release(o, &out->rel));
	out->rel.ear_verified = json_is_true(json_object_get(o, "ear_verified"));
	r = get_public(o, &out->rel);
out:
	json_decref(o);
	return r == A11_OK || r == A11_ERR_NOMEM ? r : A11_ERR_PARSE;
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
	if ((r = decode(buf, len, credential, out)) == A11_ERR_PARSE)
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
	TRY((text = encode(credential, in)) != NULL ? A11_OK : A11_ERR_NOMEM);
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
