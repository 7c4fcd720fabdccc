/* The host's firmware event log, read for the evidence when the
 * broker's challenge asks for it. */
#ifndef ATTEST11_ATTESTER_EVLOG_H
#define ATTEST11_ATTESTER_EVLOG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* The event log at path, malloc'd into *out:
 * A11_ERR_NOT_FOUND if there is none; A11_ERR_IO (not a regular file,
 * unreadable) or A11_ERR_PARSE (empty, over PROTO_EVENTLOG_MAX), logged. */
a11_err attester_read_eventlog(const char *path, uint8_t **out, size_t *len);

#endif
