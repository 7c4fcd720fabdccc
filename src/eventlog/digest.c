#include <string.h>
#include <tss2/tss2_tpm2_types.h>

#include "digest.h"

#define EV_EFI_VARIABLE_BOOT2 0x8000000Cu

/* The static EVP_MD objects, as src/wire uses them: src/eventlog may not
 * link src/wire, and the broker that runs this registers no ENGINE. */
const EVP_MD *evlog_md(uint16_t alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1: return EVP_sha1();
	case TPM2_ALG_SHA256: return EVP_sha256();
	case TPM2_ALG_SHA384: return EVP_sha384();
	case TPM2_ALG_SHA512: return EVP_sha512();
	default: return NULL;
	}
}

bool evlog_digest_is_of_data(uint32_t type)
{
	switch (type) {
	case EV_SEPARATOR:
	case EV_ACTION:
	case EV_EFI_ACTION:
	case EV_S_CRTM_VERSION:
	case EV_EFI_VARIABLE_DRIVER_CONFIG:
	case EV_EFI_VARIABLE_AUTHORITY:
	case EV_EFI_GPT_EVENT:
	case EV_EFI_VARIABLE_BOOT2:
		return true;
	default:
		return false;
	}
}

a11_err evlog_digest_check(const struct evlog_event *ev, const uint8_t *msg, size_t len)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned hl;
	uint32_t checked = 0;

	for (uint32_t j = 0; j < ev->ndig && j < EVLOG_MAX_ALGS; j++) {
		const struct evlog_digest *d = &ev->dig[j];
		const EVP_MD *md = evlog_md(d->alg);

		if (md == NULL)
			continue;
		if (EVP_Digest(msg, len, h, &hl, md, NULL) != 1)
			return A11_ERR_CRYPTO;
		if (hl != d->size || memcmp(h, d->d, hl) != 0)
			return A11_ERR_EVENTLOG_MISMATCH;
		checked++;
	}
	return checked ? A11_OK : A11_ERR_UNSUPPORTED;
}

a11_err evlog_event_data_bound(const struct evlog_event *ev)
{
	if (!evlog_digest_is_of_data(ev->type))
		return A11_ERR_UNSUPPORTED;
	return evlog_digest_check(ev, ev->data, ev->data_len);
}
