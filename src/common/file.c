#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "file.h"
#include "log.h"

a11_err file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	/* One buffer of the largest size: growing it would leave copies of a
	 * secret in freed memory. */
	char *buf = f != NULL && max < SIZE_MAX ? malloc(max + 1) : NULL;
	size_t n = buf != NULL ? fread(buf, 1, max + 1, f) : 0;
	int err = f != NULL && ferror(f);

	*out = NULL;
	*len = 0;
	if (f == NULL)
		log_error("cannot open %s: %s", path, strerror(errno));
	else
		fclose(f);
	if (buf == NULL || err || n == 0 || n > max) {
		if (f != NULL)
			log_error("cannot read %s (%s)", path, buf == NULL ? "no memory" :
				  err ? "read error" : n == 0 ? "empty" : "too large");
		if (buf != NULL)
			OPENSSL_cleanse(buf, n > max ? max + 1 : n);
		free(buf);
		return buf == NULL && f != NULL ? A11_ERR_NOMEM : A11_ERR_IO;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return A11_OK;
}

a11_err file_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;   /* the caller reports errno */
			return A11_ERR_IO;
		}
		p += w;
		n -= (size_t)w;
	}
	return A11_OK;
}

a11_err file_create(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	int saved = 0;

	if (fd < 0 && errno == EEXIST)
		return A11_ERR_EXISTS; /* the caller says whether that is wrong */
	if (fd < 0) {
		log_error("cannot create %s: %s", path, strerror(errno));
		return A11_ERR_IO;
	}
	/* The umask may have narrowed the mode; the public key must stay
	 * readable by relying parties. */
	if (fchmod(fd, mode) != 0 || file_write_all(fd, text, strlen(text)) != A11_OK || fsync(fd) != 0)
		saved = errno != 0 ? errno : EIO;
	if (close(fd) != 0 && saved == 0)
		saved = errno != 0 ? errno : EIO;
	if (saved == 0)
		return A11_OK;
	log_error("cannot write %s: %s", path, strerror(saved));
	unlink(path);
	return A11_ERR_IO;
}

a11_err file_open_private(const char *path, const char *what, int *fd, struct stat *st)
{
	*fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0) {
		log_error("cannot open %s %s: %s", what, path, strerror(errno));
		return A11_ERR_IO;
	}
	if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode))
		log_error("%s %s is not a regular file", what, path);
	else if ((st->st_mode & 077) != 0)
		log_error("%s %s has mode %04o: group or others can access it (chmod 600)", what,
			  path, (unsigned)(st->st_mode & 07777));
	else
		return A11_OK;
	close(*fd);
	*fd = -1;
	return A11_ERR_IO;
}
