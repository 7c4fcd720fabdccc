/* Verified EK certificates, kept (ekverdict.h). An EK certificate's chain
 * check (parse, signature at every level, key comparison) was the largest
 * part of an EK check, paid twice per attestation (challenge and
 * evidence) by hosts that come back with the same certificate at every
 * renewal. Only acceptances are kept: a refusal is checked again each
 * time, so a host refused while its CA was missing or its certificate not
 * yet valid is accepted as soon as that changes. */
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "ekverdict.h"

struct verdict {
	uint8_t key[32];
	time_t not_before, not_after;
	unsigned long used;   /* 0: empty slot */
};

static struct verdict kept[WIRE_EKCERT_VERDICTS];
static unsigned long clock_of_use, hits;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool ekverdict_key(const uint8_t *der, size_t len, const uint8_t ca_print[32],
		   const TPMT_PUBLIC *ek, uint8_t key[32])
{
	uint8_t pub[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	EVP_MD_CTX *h;
	bool ok;

	if (Tss2_MU_TPMT_PUBLIC_Marshal(ek, pub, sizeof(pub), &off) != TSS2_RC_SUCCESS ||
	    (h = EVP_MD_CTX_new()) == NULL)
		return false;
	/* Each part is of a fixed length or its own length-prefixed DER: the
	 * concatenation cannot be read two ways. */
	ok = EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(h, der, len) == 1 && EVP_DigestUpdate(h, ca_print, 32) == 1 &&
	     EVP_DigestUpdate(h, pub, off) == 1 && EVP_DigestFinal_ex(h, key, NULL) == 1;
	EVP_MD_CTX_free(h);
	return ok;
}

static struct verdict *slot_of(const uint8_t key[32])
{
	for (size_t i = 0; i < WIRE_EKCERT_VERDICTS; i++)
		if (kept[i].used != 0 && memcmp(kept[i].key, key, 32) == 0)
			return &kept[i];
	return NULL;
}

bool ekverdict_find(const uint8_t key[32], time_t now)
{
	struct verdict *v;
	bool found;

	pthread_mutex_lock(&lock);
	v = slot_of(key);
	found = v != NULL && now >= v->not_before && now <= v->not_after;
	if (found) {
		v->used = ++clock_of_use;
		hits++;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void ekverdict_put(const uint8_t key[32], time_t not_before, time_t not_after)
{
	struct verdict *v;

	pthread_mutex_lock(&lock);
	if ((v = slot_of(key)) == NULL) {
		v = &kept[0];
		for (size_t i = 1; i < WIRE_EKCERT_VERDICTS && v->used != 0; i++)
			if (kept[i].used < v->used)
				v = &kept[i];
	}
	memcpy(v->key, key, 32);
	v->not_before = not_before;
	v->not_after = not_after;
	v->used = ++clock_of_use;
	pthread_mutex_unlock(&lock);
}

unsigned long wire_ekcert_kept_hits(void)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = hits;
	pthread_mutex_unlock(&lock);
	return n;
}
