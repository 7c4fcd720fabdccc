#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "testlib.h"

size_t t_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	assert_true(n % 2 == 0 && n / 2 <= cap);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n / 2;
}

EVP_PKEY *t_keygen(const char *kind)
{
	EVP_PKEY *k = NULL;

	if (strcmp(kind, "rsa2048") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(kind, "rsa3072") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else if (strcmp(kind, "p256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(kind, "p384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(k);
	return k;
}

const char *t_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("%s is not set: run integration tests through tests/run.sh", name);
	return v;
}
