#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"

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
