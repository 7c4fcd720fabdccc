#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "brokers.h"

a11_err brokers_split(char *list, const char *shown, const char **url, size_t *n)
{
	char *save = NULL;

	*n = 0;
	for (char *u = strtok_r(list, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save)) {
		if (*n == CLIENT_MAX_BROKERS || strncmp(u, "https://", 8) != 0 || u[8] == '\0' ||
		    strlen(u) > CLIENT_URL_MAX) {
			log_error("broker list \"%.80s\": 1 to %d https URLs of at most %d "
				  "characters, separated by commas", shown, CLIENT_MAX_BROKERS,
				  CLIENT_URL_MAX);
			return A11_ERR_ARG;
		}
		url[(*n)++] = u;
	}
	if (*n == 0)
		log_error("the broker list is empty");
	return *n == 0 ? A11_ERR_ARG : A11_OK;
}

a11_err client_brokers_check(const char *brokers)
{
	const char *url[CLIENT_MAX_BROKERS];
	char *list = strdup(brokers);
	size_t n;
	a11_err r = list != NULL ? brokers_split(list, brokers, url, &n) : A11_ERR_NOMEM;

	free(list);
	return r;
}
