/* Small file helpers shared by the binaries. */
#ifndef A11_FILE_H
#define A11_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* write(2) until done, retrying EINTR; A11_ERR_IO with errno set. */
a11_err file_write_all(int fd, const char *p, size_t n);
/* The whole of path (a pipe too), NUL-terminated, *len without the NUL:
 * A11_ERR_IO, logged, if it is missing, unreadable, empty or over max
 * bytes. It may hold a secret: the caller cleanses it before free. */
a11_err file_read_all(const char *path, size_t max, char **out, size_t *len);
/* Create path with exactly mode (O_EXCL: never replace a file someone
 * already relies on, e.g. a key), write text, fsync. A11_ERR_EXISTS if it
 * exists; on any other failure nothing is left behind. */
a11_err file_create(const char *path, mode_t mode, const char *text);

/* Open a key file for reading: a regular file (not a symlink) that only
 * its owner can access, checked on the open descriptor so the file checked
 * is the file read; what names it in the log ("master key"). */
struct stat;
a11_err file_open_private(const char *path, const char *what, int *fd, struct stat *st);

#endif
