/* Verified EK certificates, kept (ekverdict.h). An EK certificate's chain
 * check (parse, signature at every level, key comparison) was the largest
 * part of an EK check, paid twice per attestation (challenge and
 * evidence) by hosts that come back with the same certificate at every
 * renewal. Only acceptances are kept: a refusal is checked again each
 * time, so a host refused while its CA was missing or its certificate not
 * yet valid is accepted as soon as that changes. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "../common/kept.h"
#include "attest.h"
#include "ekverdict.h"

struct window {
	time_t not_before, not_after;
};

static struct kept verdicts = KEPT_INIT(WIRE_EKCERT_VERDICTS);
static unsigned long hits;
static pthread_mutex_t hits_lock = PTHREAD_MUTEX_INITIALIZER;

bool ekverdict_key(const uint8_t *der, size_t len, const uint8_t ca_print[32],
		   const TPMT_PUBLIC *ek, uint8_t key[32])
{
	uint8_t pub[sizeof(TPMT_PUBLIC)], n[8];
	size_t off = 0;
	EVP_MD_CTX *h;
	bool ok;

	if (Tss2_MU_TPMT_PUBLIC_Marshal(ek, pub, sizeof(pub), &off) != TSS2_RC_SUCCESS ||
	    (h = EVP_MD_CTX_new()) == NULL)
		return false;
	/* The certificate's bytes come from the host and may carry trailing
	 * bytes a DER parser ignores: its length goes first, and the other
	 * parts are of fixed length or marshalled with their sizes, so the
	 * concatenation cannot be read two ways. */
	for (int i = 0; i < 8; i++)
		n[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	ok = EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(h, n, 8) == 1 &&
	     EVP_DigestUpdate(h, der, len) == 1 && EVP_DigestUpdate(h, ca_print, 32) == 1 &&
	     EVP_DigestUpdate(h, pub, off) == 1 && EVP_DigestFinal_ex(h, key, NULL) == 1;
	EVP_MD_CTX_free(h);
	return ok;
}

bool ekverdict_find(const uint8_t key[32], time_t now)
{
	struct window w;
	size_t len = 0;
	uint8_t *v = kept_get(&verdicts, key, &len);
	bool found = v != NULL && len == sizeof(w);

	if (found) {
		memcpy(&w, v, sizeof(w));
		found = now >= w.not_before && now <= w.not_after;
	}
	free(v);
	if (found) {
		pthread_mutex_lock(&hits_lock);
		hits++;
		pthread_mutex_unlock(&hits_lock);
	}
	return found;
}

void ekverdict_put(const uint8_t key[32], time_t not_before, time_t not_after)
{
	const struct window w = { not_before, not_after };

	kept_put(&verdicts, key, (const uint8_t *)&w, sizeof(w));
}

unsigned long wire_ekcert_kept_hits(void)
{
	unsigned long n;

	pthread_mutex_lock(&hits_lock);
	n = hits;
	pthread_mutex_unlock(&hits_lock);
	return n;
}
