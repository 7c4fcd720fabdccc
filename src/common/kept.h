/* A bounded, thread-safe map from a 32-byte digest to a copy of some
 * bytes, least recently used out first: what the broker keeps between
 * requests because it does not change (verified EK certificates, EK
 * hashes, credentials' chains as DER). A value is looked up by the digest
 * of everything it depends on, so a change of any of it is a miss, never
 * a stale hit. Never for secrets: entries are not cleansed. */
#ifndef A11_COMMON_KEPT_H
#define A11_COMMON_KEPT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kept_entry;

/* For values that are references to shared objects: called under the
 * lock with the kept bytes, take true when kept_get hands a copy out (take
 * a reference), false when the entry goes (drop the map's reference). */
typedef void (*kept_hold)(const uint8_t *val, size_t len, bool take);

struct kept {
	pthread_mutex_t lock;
	size_t cap;                  /* entries at most */
	kept_hold hold;              /* NULL for plain bytes */
	struct kept_entry *e;        /* cap entries, allocated at the first put */
	unsigned long clock;         /* last use stamp handed out */
};

#define KEPT_INIT(n) { PTHREAD_MUTEX_INITIALIZER, (n), NULL, NULL, 0 }
#define KEPT_INIT_HOLD(n, hold) { PTHREAD_MUTEX_INITIALIZER, (n), (hold), NULL, 0 }

/* A malloc'd copy of the value kept for key (*len its length), marked as
 * just used; NULL if none (or no memory). */
uint8_t *kept_get(struct kept *k, const uint8_t key[32], size_t *len);
/* Keep a copy of val for key, replacing what key had; when full, the
 * least recently used entry goes. False if nothing was kept (no memory,
 * or the map was busy): a held reference is then still the caller's. */
bool kept_put(struct kept *k, const uint8_t key[32], const uint8_t *val, size_t len);

#endif
