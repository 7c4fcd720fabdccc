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

struct kept {
	pthread_mutex_t lock;
	size_t cap;                  /* entries at most */
	struct kept_entry *e;        /* cap entries, allocated at the first put */
	unsigned long clock;         /* last use stamp handed out */
};

#define KEPT_INIT(n) { PTHREAD_MUTEX_INITIALIZER, (n), NULL, 0 }

/* A malloc'd copy of the value kept for key (*len its length), marked as
 * just used; NULL if none (or no memory). */
uint8_t *kept_get(struct kept *k, const uint8_t key[32], size_t *len);
/* Keep a copy of val for key, replacing what key had; when full, the
 * least recently used entry goes. Nothing is kept without memory. */
void kept_put(struct kept *k, const uint8_t key[32], const uint8_t *val, size_t len);

#endif
