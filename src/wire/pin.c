#include <openssl/evp.h>

#include "pin.h"

a11_err wire_pin_auth(const char *pin, size_t pin_len, const uint8_t *salt, size_t salt_len,
		      uint32_t iterations, TPM2B_AUTH *out)
{
	if (pin_len > 1024 || salt_len == 0 || iterations == 0 || iterations > 10000000)
		return A11_ERR_ARG;
	out->size = 32;
	if (PKCS5_PBKDF2_HMAC(pin, (int)pin_len, salt, (int)salt_len, (int)iterations,
			      EVP_sha256(), out->size, out->buffer) != 1) {
		out->size = 0;
		return A11_ERR_CRYPTO;
	}
	return A11_OK;
}
