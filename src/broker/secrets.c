/* Secrets at rest: AES-256-GCM under the master keys (see secrets.h).
 * A random 96-bit IV per seal: a key seals a few thousand values over
 * its life, far below the 2^32 where random GCM IVs start to risk a
 * collision. The GCM associated data is the caller's aad string without
 * its terminator. The version byte and key id are not authenticated, and
 * need not be: another version parses the rest differently and another
 * id picks another key, and either way the tag fails. */
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
#include <openssl/sha.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../wire/aead.h"
#include "secrets.h"

#define KEY_LEN 32
#define IV_LEN 12
#define TAG_LEN 16
#define FORMAT_V1 1 /* no key id: from before key rings, tried with every key */
#define FORMAT 2
_Static_assert(KEY_LEN == WIRE_AEAD_KEY && SECRETS_OVERHEAD_V1 == 1 + WIRE_AEAD_OVERHEAD &&
	       SECRETS_OVERHEAD == SECRETS_OVERHEAD_V1 + SECRETS_ID_LEN,
	       "the sealed format wraps src/wire/aead.c");

struct master_key {
	uint8_t key[KEY_LEN];
	uint32_t id;
};

/* keys[0] seals; every key opens. */
struct secrets {
	struct master_key keys[SECRETS_KEYS_MAX];
	size_t n;
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

/* The id names a key without revealing it: the first 4 bytes of a hash
 * of the key under a label of its own. */
static uint32_t key_id(const uint8_t key[KEY_LEN])
{
	static const char label[] = "attest11 master key id";
	uint8_t buf[sizeof(label) + KEY_LEN], md[SHA256_DIGEST_LENGTH];
	uint32_t id;

	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), key, KEY_LEN);
	SHA256(buf, sizeof(buf), md);
	OPENSSL_cleanse(buf, sizeof(buf));
	id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	return id;
}

static a11_err read_key(const char *path, struct master_key *k)
{
	struct stat sb;
	a11_err r;
	int fd = -1;

	if ((r = file_open_private(path, "master key", &fd, &sb)) != A11_OK)
		return r;
	if (sb.st_size != KEY_LEN) {
		log_error("master key %s is %lld bytes, not %d", path, (long long)sb.st_size,
			  KEY_LEN);
		r = A11_ERR_IO;
	} else if (read_all(fd, k->key, sizeof(k->key)) != 0) {
		log_error("cannot read master key %s", path);
		r = A11_ERR_IO;
	} else {
		k->id = key_id(k->key);
	}
	close(fd);
	return r;
}

a11_err secrets_load(const char *path, struct secrets **out)
{
	struct secrets *s;
	a11_err r;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return A11_ERR_ARG;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return A11_ERR_NOMEM;
	if ((r = read_key(path, &s->keys[0])) != A11_OK) {
		secrets_free(s);
		return r;
	}
	s->n = 1;
	log_info("master key %s: id %08x (seals)", path, s->keys[0].id);
	*out = s;
	return A11_OK;
}

static const struct master_key *find(const struct secrets *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->keys[i].id == id)
			return &s->keys[i];
	return NULL;
}

a11_err secrets_add(struct secrets *s, const char *path)
{
	struct master_key k;
	a11_err r;

	if (s == NULL || path == NULL)
		return A11_ERR_ARG;
	if (s->n == SECRETS_KEYS_MAX) {
		log_error("master key %s: at most %d master keys", path, SECRETS_KEYS_MAX);
		return A11_ERR_ARG;
	}
	if ((r = read_key(path, &k)) != A11_OK)
		return r;
	/* One id, one key: a second file with the same id is a copy, or
	 * (one chance in 2^32) another key that ids could not tell apart. */
	if (find(s, k.id) != NULL) {
		log_error("master key %s: id %08x is already loaded", path, k.id);
		r = A11_ERR_EXISTS;
	} else {
		log_info("master key %s: id %08x (opens only)", path, k.id);
		s->keys[s->n++] = k;
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return r;
}

uint32_t secrets_current_id(const struct secrets *s)
{
	return s->keys[0].id;
}

a11_err secrets_sealed_id(const uint8_t *in, size_t len, uint32_t *id)
{
	if (in == NULL || len < SECRETS_OVERHEAD || in[0] != FORMAT)
		return len >= SECRETS_OVERHEAD_V1 && in != NULL && in[0] == FORMAT_V1
			       ? A11_ERR_NOT_FOUND : A11_ERR_PARSE;
	*id = (uint32_t)in[1] << 24 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 8 | in[4];
	return A11_OK;
}

void secrets_free(struct secrets *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s->keys, sizeof(s->keys));
	free(s);
}

/* ---- seal and open ------------------------------------------------------- */

/* A usable aad names something: NULL or "" would let a value move. */
static bool aad_ok(const char *aad)
{
	return aad != NULL && aad[0] != '\0' && strlen(aad) <= INT_MAX;
}

/* The sealed format is the version byte and the key id followed by
 * src/wire/aead.c's iv || ct || tag: one AES-GCM implementation for the
 * whole project. */
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
	    out_len == NULL || len > INT_MAX - SECRETS_OVERHEAD)
		return A11_ERR_ARG;
	if ((r = wire_aead_seal(s->keys[0].key, aad, in, len, &ct, &ct_len)) != A11_OK)
		return r;
	if ((buf = malloc(1 + SECRETS_ID_LEN + ct_len)) == NULL) {
		free(ct);
		return A11_ERR_NOMEM;
	}
	buf[0] = FORMAT;
	buf[1] = (uint8_t)(s->keys[0].id >> 24);
	buf[2] = (uint8_t)(s->keys[0].id >> 16);
	buf[3] = (uint8_t)(s->keys[0].id >> 8);
	buf[4] = (uint8_t)s->keys[0].id;
	memcpy(buf + 1 + SECRETS_ID_LEN, ct, ct_len);
	free(ct);
	*out = buf;
	*out_len = 1 + SECRETS_ID_LEN + ct_len;
	return A11_OK;
}

/* A version 1 value names no key: the one whose tag verifies is it. */
static a11_err open_v1(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		       uint8_t **out, size_t *out_len)
{
	a11_err r = A11_ERR_CRYPTO;

	for (size_t i = 0; i < s->n && r == A11_ERR_CRYPTO; i++)
		r = wire_aead_open(s->keys[i].key, aad, in + 1, len - 1, out, out_len);
	return r;
}

a11_err secrets_open(struct secrets *s, const char *aad, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len)
{
	const struct master_key *k;
	uint32_t id;
	a11_err r;

	if (out != NULL)
		*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (s == NULL || !aad_ok(aad) || (in == NULL && len != 0) || out == NULL ||
	    out_len == NULL)
		return A11_ERR_ARG;
	if (len > INT_MAX)
		return A11_ERR_ARG;
	if (len >= SECRETS_OVERHEAD_V1 && in[0] == FORMAT_V1) {
		r = open_v1(s, aad, in, len, out, out_len);
	} else if (secrets_sealed_id(in, len, &id) != A11_OK) {
		log_warn("sealed value for %s is not in sealed format %d or %d", aad, FORMAT_V1,
			 FORMAT);
		return A11_ERR_PARSE;
	} else if ((k = find(s, id)) == NULL) {
		/* Another replica sealed it under a key this one was not given:
		 * a named refusal, never an attempt with the wrong key. */
		log_error("sealed value for %s is under master key %08x, which this broker does "
			  "not hold (master_key, master_keys_old)", aad, id);
		return A11_ERR_NOT_FOUND;
	} else {
		/* A wrong aad or any changed byte fails the tag. */
		r = wire_aead_open(k->key, aad, in + 1 + SECRETS_ID_LEN,
				   len - 1 - SECRETS_ID_LEN, out, out_len);
	}
	if (r == A11_ERR_CRYPTO)
		log_warn("sealed value for %s fails authentication (wrong key, or tampered)", aad);
	return r;
}
