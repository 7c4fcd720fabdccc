/* SQLite backend: the pool of connections, the write lock, and waiting
 * for another process's lock without parking the broker.
 *
 * Threading: each transaction takes a connection of its own from the
 * pool (at most SQ_POOL_MAX, opened on demand), so readers run in
 * parallel (WAL: a reader never waits for a writer). SQLite admits one
 * writer at a time whatever the number of connections, so writers of
 * this process queue on an in-process mutex (pool->write) held from
 * BEGIN IMMEDIATE to COMMIT and never collide with each other as
 * SQLITE_BUSY. The only SQLITE_BUSY left comes from another process (an
 * admin tool, a backup, an operator's sqlite3 shell), and the busy handler
 * (sq_on_busy) bounds it: it waits while that process makes progress (its
 * WAL changes), at most BUSY_MAX_MS in all, and gives up after
 * BUSY_IDLE_MS without progress: a lock held by an idle process is not
 * worth parking a worker for. The request is then refused as store_busy
 * (503, Retry-After) and, for FOREIGN_HOLD_MS after, other writers give up
 * at once instead of queueing behind the same lock.
 *
 * An in-memory database (":memory:", the tests) is private to its
 * connection: its pool holds one. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "store_sqlite.h"

#define BUSY_MAX_MS 5000
#define BUSY_IDLE_MS 200
#define FOREIGN_HOLD_MS 1000
/* How long a transaction waits for a free connection or for the in-process
 * write lock: the same bound as for another process's lock. */
#define WAIT_MAX_MS BUSY_MAX_MS

struct sq_pool {
	char *path, *wal_path;
	bool mem;
	pthread_mutex_t lock;           /* idle, nopen */
	pthread_cond_t freed;
	struct sq *idle[SQ_POOL_MAX];
	size_t nidle, nopen, max;
	pthread_mutex_t write;          /* this process's one writer */
	/* /healthz's own connection, which never waits (sq_pool_ping). */
	pthread_mutex_t probe_lock;
	struct sq *probe;
	_Atomic a11_err probe_last;
	/* When a writer last gave up on another process's lock (monotonic
	 * ms), 0 once a write went through again. */
	_Atomic int64_t foreign_ms;
};

/* The transaction this thread has open, if any: a store call from a list
 * callback would otherwise wait for a connection or lock it holds. */
static _Thread_local const struct sq_pool *tl_open;

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct timespec deadline(clockid_t clock, int64_t ms)
{
	struct timespec t;

	clock_gettime(clock, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

const char *sq_pool_path(const struct sq_pool *p)
{
	return p->path;
}

bool sq_pool_mem(const struct sq_pool *p)
{
	return p->mem;
}

static bool foreign_recent(struct sq_pool *p, int64_t now)
{
	int64_t t = atomic_load(&p->foreign_ms);

	return t != 0 && now - t < FOREIGN_HOLD_MS;
}

/* ---- the busy handler ----------------------------------------------------- */

/* What changes while the lock's holder works: its WAL file. */
static struct sq_wal wal_now(const struct sq_pool *p)
{
	struct sq_wal w = { -1, -1 };
	struct stat sb;

	if (p->wal_path != NULL && stat(p->wal_path, &sb) == 0) {
		w.size = (long long)sb.st_size;
		w.mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
	}
	return w;
}

int sq_on_busy(void *arg, int n)
{
	struct sq *q = arg;
	struct sq_wal w = wal_now(q->pool);
	int64_t now = now_ms();
	struct timespec nap = { 0, 0 };

	if (n == 0)
		q->busy_start_ms = now;
	if (n == 0 || w.size != q->busy_wal.size || w.mtime_ns != q->busy_wal.mtime_ns) {
		q->busy_seen_ms = now;
		q->busy_wal = w;
	}
	if (now - q->busy_start_ms >= BUSY_MAX_MS || now - q->busy_seen_ms >= BUSY_IDLE_MS ||
	    (n == 0 && foreign_recent(q->pool, now))) {
		atomic_store(&q->pool->foreign_ms, now);
		return 0;
	}
	/* 1, 2, 4, 8 ms, then 10: short transactions of another broker pass
	 * quickly, a long hold costs little CPU. */
	nap.tv_nsec = (n < 4 ? 1L << n : 10) * 1000000L;
	nanosleep(&nap, NULL);
	return 1;
}

/* ---- connections and the write lock --------------------------------------- */

static a11_err checkout(struct sq_pool *p, struct sq **out)
{
	struct timespec until = deadline(CLOCK_MONOTONIC, WAIT_MAX_MS);
	a11_err r = A11_OK;
	int e = 0;

	pthread_mutex_lock(&p->lock);
	while (p->nidle == 0 && p->nopen == p->max && e == 0)
		e = pthread_cond_timedwait(&p->freed, &p->lock, &until);
	if (p->nidle > 0) {
		*out = p->idle[--p->nidle];
	} else if (p->nopen < p->max) {
		p->nopen++;
		pthread_mutex_unlock(&p->lock);
		r = sq_conn_open(p, true, out);
		pthread_mutex_lock(&p->lock);
		if (r != A11_OK) {
			p->nopen--;
			pthread_cond_signal(&p->freed);
		}
	} else {
		log_warn("no free database connection after %d ms", WAIT_MAX_MS);
		r = A11_ERR_BUSY;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void checkin(struct sq *q)
{
	struct sq_pool *p = q->pool;

	pthread_mutex_lock(&p->lock);
	p->idle[p->nidle++] = q;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

/* While another process is known to hold the lock, a writer gives up at
 * once rather than queue behind the writer already waiting for it. */
static a11_err write_lock(struct sq_pool *p)
{
	/* timedlock knows only the wall clock: a jump moves this bound. */
	struct timespec until = deadline(CLOCK_REALTIME, WAIT_MAX_MS);
	int e = foreign_recent(p, now_ms()) ? pthread_mutex_trylock(&p->write)
					    : pthread_mutex_timedlock(&p->write, &until);

	if (e == 0)
		return A11_OK;
	if (e == EBUSY || e == ETIMEDOUT) {
		log_warn("database write lock busy: another process holds it");
		return A11_ERR_BUSY;
	}
	log_error("store write lock: error %d", e);
	return A11_ERR_STORE;
}

static a11_err begin(void *impl, bool write, bool lazy, struct sq **out)
{
	struct sq_pool *p = impl;
	struct sq *q = NULL;
	a11_err r;

	if (tl_open == p) {
		log_error("store used from inside one of its own callbacks");
		return A11_ERR_ARG;
	}
	if (write && (r = write_lock(p)) != A11_OK)
		return r;
	r = checkout(p, &q);
	if (r == A11_OK) {
		r = sq_tx_begin(q, write, lazy);
		if (r != A11_OK)
			checkin(q);
	}
	if (r != A11_OK && write)
		pthread_mutex_unlock(&p->write);
	if (r == A11_OK && write)
		atomic_store(&p->foreign_ms, 0);
	if (r == A11_OK) {
		q->writer = write;
		tl_open = p;
		*out = q;
	}
	return r;
}

a11_err sq_begin(void *impl, bool write, struct sq **q)
{
	return begin(impl, write, false, q);
}

a11_err sq_begin_lazy(void *impl, struct sq **q)
{
	return begin(impl, true, true, q);
}

a11_err sq_end(struct sq *q, a11_err r)
{
	struct sq_pool *p = q->pool;
	bool writer = q->writer;

	r = sq_tx_end(q, r);
	q->writer = false;
	checkin(q);
	if (writer)
		pthread_mutex_unlock(&p->write);
	tl_open = NULL;
	return r;
}

/* ---- health ----------------------------------------------------------------- */

/* A read on the probe connection, which has no busy handler: in WAL mode
 * a read does not wait for a writer, and whatever would wait fails. */
static a11_err probe_read(struct sq *q)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = SQLITE_OK;
	(void)sqlite3_finalize(st);
	return rc == SQLITE_OK ? A11_OK : sq_fail(q, "health probe", rc);
}

/* Can a write begin now? With a writer of ours at work, what it last
 * met; else a BEGIN IMMEDIATE that fails at once if another process holds
 * the lock, and is rolled back at once otherwise. */
static a11_err probe_write(struct sq_pool *p, struct sq *q)
{
	int rc;

	if (pthread_mutex_trylock(&p->write) != 0)
		return foreign_recent(p, now_ms()) ? A11_ERR_BUSY : A11_OK;
	rc = sqlite3_step(q->begin_write);
	(void)sqlite3_reset(q->begin_write);
	if (rc == SQLITE_DONE)
		atomic_store(&p->foreign_ms, 0);
	if (rc == SQLITE_DONE) {
		rc = sqlite3_step(q->rollback);
		(void)sqlite3_reset(q->rollback);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	pthread_mutex_unlock(&p->write);
	/* Not remembered for the writers: one look may catch another
	 * process's write of a millisecond, which is no reason to give up. */
	if ((rc & 0xff) == SQLITE_BUSY)
		return A11_ERR_BUSY;
	return rc == SQLITE_OK ? A11_OK : sq_fail(q, "health probe", rc);
}

/* Never waits behind the store: A11_OK, A11_ERR_BUSY (readable, but
 * another process holds the write lock: degraded), or another error. A
 * probe already running answers for a concurrent one. */
a11_err sq_pool_ping(void *impl)
{
	struct sq_pool *p = impl;
	struct sq *q = NULL;
	a11_err r;

	if (p->mem) {
		r = sq_begin(impl, false, &q);
		return r == A11_OK ? sq_end(q, probe_read(q)) : r;
	}
	if (pthread_mutex_trylock(&p->probe_lock) != 0)
		return atomic_load(&p->probe_last);
	r = p->probe != NULL ? A11_OK : sq_conn_open(p, false, &p->probe);
	if (r == A11_OK)
		r = probe_read(p->probe);
	if (r == A11_OK)
		r = probe_write(p, p->probe);
	atomic_store(&p->probe_last, r);
	pthread_mutex_unlock(&p->probe_lock);
	return r;
}

/* ---- open and close --------------------------------------------------------- */

static a11_err init_sync(struct sq_pool *p)
{
	pthread_condattr_t a;
	int e = pthread_condattr_init(&a);

	if (e == 0) {
		e = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		if (e == 0)
			e = pthread_cond_init(&p->freed, &a);
		pthread_condattr_destroy(&a);
	}
	if (e != 0)
		return A11_ERR_NOMEM;
	if (pthread_mutex_init(&p->lock, NULL) == 0) {
		if (pthread_mutex_init(&p->write, NULL) == 0) {
			if (pthread_mutex_init(&p->probe_lock, NULL) == 0)
				return A11_OK;
			pthread_mutex_destroy(&p->write);
		}
		pthread_mutex_destroy(&p->lock);
	}
	pthread_cond_destroy(&p->freed);
	return A11_ERR_NOMEM;
}

void sq_pool_close(void *impl)
{
	struct sq_pool *p = impl;

	if (p == NULL)
		return;
	if (p->nidle != p->nopen)
		log_error("closing the store with %zu transaction(s) open", p->nopen - p->nidle);
	while (p->nidle > 0)
		sq_conn_close(p->idle[--p->nidle]);
	sq_conn_close(p->probe);
	pthread_mutex_destroy(&p->probe_lock);
	pthread_mutex_destroy(&p->write);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p->wal_path);
	free(p->path);
	free(p);
}

static a11_err pool_new(const char *path, struct sq_pool **out)
{
	struct sq_pool *p = calloc(1, sizeof(*p));
	size_t n = strlen(path);

	if (p == NULL)
		return A11_ERR_NOMEM;
	p->mem = strcmp(path, ":memory:") == 0;
	p->max = p->mem ? 1 : SQ_POOL_MAX;
	p->path = strdup(path);
	p->wal_path = p->mem ? NULL : malloc(n + 5);
	if (p->wal_path != NULL)
		memcpy(p->wal_path, path, n), memcpy(p->wal_path + n, "-wal", 5);
	if (p->path == NULL || (!p->mem && p->wal_path == NULL) || init_sync(p) != A11_OK) {
		free(p->wal_path);
		free(p->path);
		free(p);
		return A11_ERR_NOMEM;
	}
	*out = p;
	return A11_OK;
}

/* The first connection migrates the schema and stays in the pool. */
a11_err sq_pool_open(const char *path, void **impl)
{
	struct sq_pool *p = NULL;
	struct sq *q = NULL;
	a11_err r;

	if (!sqlite3_threadsafe()) {
		log_error("SQLite was built without thread support");
		return A11_ERR_UNSUPPORTED;
	}
	if ((r = pool_new(path, &p)) != A11_OK)
		return r;
	r = p->mem ? A11_OK : sq_precreate(path);
	if (r == A11_OK)
		r = sq_conn_open(p, true, &q);
	if (r == A11_OK)
		r = sq_migrate(q);
	if (q != NULL) {
		p->idle[p->nidle++] = q;
		p->nopen++;
	}
	if (r != A11_OK) {
		sq_pool_close(p);
		return r;
	}
	*impl = p;
	return A11_OK;
}
