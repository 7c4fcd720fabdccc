/* Bounded LRU of digests to bytes (kept.h). A linear scan: a thousand
 * 32-byte comparisons cost about a microsecond, against the tenths of a
 * millisecond of what an entry saves, and nothing here is worth a hash
 * table's code. trylock: a busy map is a miss (the caller computes the
 * value again) and a put that does not happen, so nobody waits, and a
 * lock another thread held across fork() (the module lives in forking
 * servers) only costs the child its map. */
#include <stdlib.h>
#include <string.h>

#include "kept.h"

struct kept_entry {
	uint8_t key[32];
	uint8_t *val;
	size_t len;
	unsigned long used;          /* 0: empty */
};

static struct kept_entry *find(struct kept *k, const uint8_t key[32])
{
	for (size_t i = 0; k->e != NULL && i < k->cap; i++)
		if (k->e[i].used != 0 && memcmp(k->e[i].key, key, 32) == 0)
			return &k->e[i];
	return NULL;
}

uint8_t *kept_get(struct kept *k, const uint8_t key[32], size_t *len)
{
	struct kept_entry *e;
	uint8_t *out = NULL;

	if (pthread_mutex_trylock(&k->lock) != 0)
		return NULL;
	if ((e = find(k, key)) != NULL && (out = malloc(e->len ? e->len : 1)) != NULL) {
		memcpy(out, e->val, e->len);
		if (k->hold != NULL)
			k->hold(e->val, e->len, true);
		*len = e->len;
		e->used = ++k->clock;
	}
	pthread_mutex_unlock(&k->lock);
	return out;
}

/* The slot for key: its own, an empty one, else the least recently used. */
static struct kept_entry *slot_for(struct kept *k, const uint8_t key[32])
{
	struct kept_entry *e = find(k, key);

	if (e != NULL)
		return e;
	e = &k->e[0];
	for (size_t i = 1; i < k->cap && e->used != 0; i++)
		if (k->e[i].used < e->used)
			e = &k->e[i];
	return e;
}

bool kept_put(struct kept *k, const uint8_t key[32], const uint8_t *val, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct kept_entry *e;

	if (copy == NULL)
		return false;
	memcpy(copy, val, len);
	if (pthread_mutex_trylock(&k->lock) != 0) {
		free(copy);
		return false;
	}
	if (k->e == NULL)
		k->e = calloc(k->cap, sizeof(*k->e));
	if (k->e == NULL) {
		pthread_mutex_unlock(&k->lock);
		free(copy);
		return false;
	}
	e = slot_for(k, key);
	if (e->used != 0 && k->hold != NULL)
		k->hold(e->val, e->len, false);
	free(e->val);
	memcpy(e->key, key, 32);
	e->val = copy;
	e->len = len;
	e->used = ++k->clock;
	pthread_mutex_unlock(&k->lock);
	return true;
}
