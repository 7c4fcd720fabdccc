/* The broker list (attest11.conf's `broker`, `--broker URL,URL`): parsed
 * here, without libcurl, so the module checks its configuration without
 * loading attest11-net.so. */
#ifndef A11_ATTESTER_BROKERS_H
#define A11_ATTESTER_BROKERS_H

#include <stddef.h>

#include "../common/err.h"

/* At most this many https URLs, each at most CLIENT_URL_MAX characters. */
#define CLIENT_MAX_BROKERS 8
#define CLIENT_URL_MAX 255

/* list (cut in place at the commas) into url[CLIENT_MAX_BROKERS]: 1 to
 * CLIENT_MAX_BROKERS https URLs, else A11_ERR_ARG with a log line naming
 * shown, the list as given. */
a11_err brokers_split(char *list, const char *shown, const char **url, size_t *n);
/* The same check alone, for a configuration file. */
a11_err client_brokers_check(const char *brokers);

#endif
