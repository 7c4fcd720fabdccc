#include <string.h>

#include "kind.h"

static const char *const names[] = { "repository", "ca", "token" };

const char *cred_kind_name(enum cred_kind k)
{
	return (unsigned)k < 3 ? names[k] : NULL;
}

int cred_kind_parse(const char *s, enum cred_kind *k)
{
	for (unsigned i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*k = (enum cred_kind)i;
			return 0;
		}
	return -1;
}
