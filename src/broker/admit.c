/* Admission control (admit.h). Challenges are issued in time order with
 * one ttl, so their expiries are too: the attestations in progress are a
 * FIFO ring of expiry times. Evidence does not say which entry is its own
 * (that would need the session id here); it ends the oldest, which errs
 * towards admitting: an entry outlives its evidence by at most its ttl.
 *
 * Retry-After: refused hosts are booked into the seconds ahead, each
 * second taking as many as the broker completed in the last one (at least
 * max_pending), so a spike comes back spread over the time the broker
 * needs to take it rather than all at once a second later. */
#include <pthread.h>
#include <stdlib.h>

#include "admit.h"

struct admit {
	pthread_mutex_t lock;
	int64_t *expiry;              /* ring of max entries, ms */
	size_t head, n, max;
	int64_t ttl_ms;
	int64_t done_s, done_now, done_last; /* evidence in second done_s, in the one before */
	int64_t book_s;               /* the second refused hosts are now sent to */
	unsigned book_n;              /* how many are sent there so far */
};

a11_err admit_new(unsigned max_pending, uint32_t ttl_s, struct admit **out)
{
	struct admit *a;

	if (max_pending == 0 || ttl_s == 0)
		return A11_ERR_ARG;
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->expiry = calloc(max_pending, sizeof(*a->expiry))) == NULL ||
	    pthread_mutex_init(&a->lock, NULL) != 0) {
		if (a != NULL)
			free(a->expiry);
		free(a);
		return A11_ERR_NOMEM;
	}
	a->max = max_pending;
	a->ttl_ms = (int64_t)ttl_s * 1000;
	*out = a;
	return A11_OK;
}

void admit_free(struct admit *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->expiry);
	free(a);
}

static void expire(struct admit *a, int64_t now_ms)
{
	while (a->n > 0 && a->expiry[a->head] <= now_ms) {
		a->head = (a->head + 1) % a->max;
		a->n--;
	}
}

/* Evidence per second, for the booking: the last whole second's count. */
static void tick(struct admit *a, int64_t now_ms)
{
	int64_t s = now_ms / 1000;

	if (s == a->done_s)
		return;
	a->done_last = s == a->done_s + 1 ? a->done_now : 0;
	a->done_now = 0;
	a->done_s = s;
}

static unsigned book(struct admit *a, int64_t now_ms)
{
	int64_t s = now_ms / 1000;
	int64_t per_s = a->done_last > (int64_t)a->max ? a->done_last : (int64_t)a->max;
	int64_t wait;

	if (a->book_s <= s) {
		a->book_s = s + 1;
		a->book_n = 0;
	}
	if (a->book_n >= per_s) {
		a->book_s++;
		a->book_n = 0;
	}
	a->book_n++;
	wait = a->book_s - s;
	return wait > ADMIT_RETRY_MAX_S ? ADMIT_RETRY_MAX_S : (unsigned)wait;
}

bool admit_challenge(struct admit *a, int64_t now_ms, unsigned *retry_after)
{
	bool ok;

	pthread_mutex_lock(&a->lock);
	expire(a, now_ms);
	tick(a, now_ms);
	ok = a->n < a->max;
	if (ok) {
		a->expiry[(a->head + a->n) % a->max] = now_ms + a->ttl_ms;
		a->n++;
	} else {
		*retry_after = book(a, now_ms);
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

void admit_cancel(struct admit *a)
{
	pthread_mutex_lock(&a->lock);
	if (a->n > 0)
		a->n--;
	pthread_mutex_unlock(&a->lock);
}

void admit_evidence(struct admit *a, int64_t now_ms)
{
	pthread_mutex_lock(&a->lock);
	expire(a, now_ms);
	tick(a, now_ms);
	a->done_now++;
	if (a->n > 0) {
		a->head = (a->head + 1) % a->max;
		a->n--;
	}
	pthread_mutex_unlock(&a->lock);
}

unsigned admit_pending(struct admit *a, int64_t now_ms)
{
	unsigned n;

	pthread_mutex_lock(&a->lock);
	expire(a, now_ms);
	n = (unsigned)a->n;
	pthread_mutex_unlock(&a->lock);
	return n;
}
