/* Secrets at rest: AES-256-GCM under the master key file (see secrets.h).
 * A random 96-bit IV per seal: the key seals a few thousand values over
 * its life, far below the 2^32 where random GCM IVs start to risk a
 * collision. The GCM associated data is the caller's aad string without
 * its terminator; the version byte is checked, not authenticated, since
 * version 1 is the only format. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../wire/aead.h"
#include "secrets.h"

#define KEY_LEN 32
#define IV_LEN 12
#define TAG_LEN 16
#define FORMAT 1
#define OVERHEAD (1 + IV_LEN + TAG_LEN)
_Static_assert(KEY_LEN == WIRE_AEAD_KEY && OVERHEAD == 1 + WIRE_AEAD_OVERHEAD,
	       "the sealed format wraps src/wire/aead.c");

struct secrets {
	uint8_t key[KEY_LEN];
};

/* ---- the key file -------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding path: without it a crash can lose the new
 * directory entry, and with it every secret sealed under the key. */
static a11_err sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	/* The directory part: "." for a bare name, "/" for a file in the root. */
	size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
	a11_err r = A11_ERR_IO;
	int fd;

	if (n >= sizeof(dir))
		return A11_ERR_ARG;
	if (n == 0) {
		strcpy(dir, ".");
	} else {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && fsync(fd) == 0)
		r = A11_OK;
	if (r != A11_OK)
		log_error("cannot sync directory %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return r;
}

a11_err secrets_create(const char *path)
{
	uint8_t key[KEY_LEN];
	a11_err r = A11_ERR_IO;
	bool made = false;
	int fd = -1, e;

	if (path == NULL)
		return A11_ERR_ARG;
	if (RAND_priv_bytes(key, sizeof(key)) != 1) {
		r = A11_ERR_CRYPTO;
		goto out;
	}
	/* O_EXCL: never overwrite a key (everything sealed under it would be
	 * lost), and never follow a symlink planted at path. */
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno;
		if (e != EEXIST) /* an existing key is the caller's call */
			log_error("cannot create master key %s: %s", path, strerror(e));
		r = e == EEXIST ? A11_ERR_EXISTS : A11_ERR_IO;
		goto out;
	}
	made = true;
	if (write_all(fd, key, sizeof(key)) != 0 || fsync(fd) != 0) {
		log_error("cannot write master key %s: %s", path, strerror(errno));
		goto out;
	}
	e = close(fd);
	fd = -1;
	if (e != 0)
		log_error("cannot close master key %s: %s", path, strerror(errno));
	else
		r = sync_dir(path);
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (fd >= 0)
		close(fd);
	/* A half-written key file would only be refused later: remove it. */
	if (r != A11_OK && made)
		unlink(path);
	return r;
}

a11_err secrets_load(const char *path, struct secrets **out)
{
	struct secrets *s = NULL;
	struct stat sb;
	a11_err r = A11_ERR_IO;
	int fd = -1;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return A11_ERR_ARG;
	if ((r = file_open_private(path, "master key", &fd, &sb)) != A11_OK)
		goto out;
	if (sb.st_size != KEY_LEN) {
		log_error("master key %s is %lld bytes, not %d", path, (long long)sb.st_size,
			  KEY_LEN);
		r = A11_ERR_IO;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		r = A11_ERR_NOMEM;
		goto out;
	}
	if (read_all(fd, s->key, sizeof(s->key)) != 0) {
		log_error("cannot read master key %s", path);
		r = A11_ERR_IO;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	secrets_free(s);
	if (fd >= 0)
		close(fd);
	return r;
}

void secrets_free(struct secrets *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->key, sizeof(s->key));
	free(s);
}

/* ---- seal and open ------------------------------------------------------- */

/* A usable aad names something: NULL or "" would let a value move. */
static bool aad_ok(const char *aad)
{
	return aad != NULL && aad[0] != '\0' && strlen(aad) <= INT_MAX;
}

/* The sealed format is the version byte followed by src/wire/aead.c's
 * iv || ct || tag: one AES-GCM implementation for the whole project. */
a11_err secrets_seal(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len)
{
	uint8_t *ct = NULL, *buf;
	size_t ct_len = 0;
	a11_err r;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (s == NULL || !aad_ok(aad) || (in == NULL && len != 0) || out == NULL ||
	    out_len == NULL || len > INT_MAX - OVERHEAD)
		return A11_ERR_ARG;
	if ((r = wire_aead_seal(s->key, aad, in, len, &ct, &ct_len)) != A11_OK)
		return r;
	if ((buf = malloc(1 + ct_len)) == NULL) {
		free(ct);
		return A11_ERR_NOMEM;
	}
	buf[0] = FORMAT;
	memcpy(buf + 1, ct, ct_len);
	free(ct);
	*out = buf;
	*out_len = 1 + ct_len;
	return A11_OK;
}

a11_err secrets_open(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len)
{
	a11_err r;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (s == NULL || !aad_ok(aad) || (in == NULL && len != 0) || out == NULL ||
	    out_len == NULL)
		return A11_ERR_ARG;
	if (len < OVERHEAD || in[0] != FORMAT || len - OVERHEAD > INT_MAX) {
		log_warn("sealed value for %s is not in sealed format %d", aad, FORMAT);
		return A11_ERR_PARSE;
	}
	/* A wrong key, a wrong aad or any changed byte fails the tag. */
	r = wire_aead_open(s->key, aad, in + 1, len - 1, out, out_len);
	if (r == A11_ERR_CRYPTO)
		log_warn("sealed value for %s fails authentication (wrong key, or tampered)", aad);
	return r;
}
