/* The firmware's event log, as the evidence carries it when the broker's
 * challenge asks for it (docs/protocol.md, "eventlog"). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../proto/proto.h"
#include "evlog.h"

/* securityfs reports a size of 0 for binary_bios_measurements: read to
 * the end, at most PROTO_EVENTLOG_MAX bytes and one more to notice a
 * longer file. O_NONBLOCK: a FIFO planted at the path cannot hang the
 * login; O_NOFOLLOW and S_ISREG: only a file, not a link or a device. */
static a11_err read_bounded(int fd, uint8_t *buf, size_t *len)
{
	size_t n = 0;

	while (n <= PROTO_EVENTLOG_MAX) {
		ssize_t k = read(fd, buf + n, PROTO_EVENTLOG_MAX + 1 - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return A11_ERR_IO;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	*len = n;
	return n == 0 || n > PROTO_EVENTLOG_MAX ? A11_ERR_PARSE : A11_OK;
}

a11_err attester_read_eventlog(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	const char *why = NULL;
	a11_err r = A11_ERR_IO;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

	*out = NULL;
	*len = 0;
	if (fd < 0 && errno == ENOENT)
		return A11_ERR_NOT_FOUND;
	if (fd < 0 || fstat(fd, &st) != 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((buf = malloc(PROTO_EVENTLOG_MAX + 1)) == NULL)
		r = A11_ERR_NOMEM;
	else if ((r = read_bounded(fd, buf, len)) == A11_OK) {
		*out = buf;
		buf = NULL;
	} else
		why = r == A11_ERR_IO ? strerror(errno) : "empty or over 1 MiB";
	if (why != NULL)
		log_error("event log %s: %s", path, why);
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}
