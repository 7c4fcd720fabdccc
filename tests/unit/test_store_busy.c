/* The SQLite store under another process's write lock and under parallel
 * writers of its own (src/broker/store_sqlite_pool.c): a write waits a
 * bounded time and fails as A11_ERR_BUSY, reads go on, the health probe
 * answers "busy" instead of waiting; writers of one store never get
 * SQLITE_BUSY from each other. SQLite only: the lock is SQLite's. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_fixture.h"

static struct store_session session(const char *id)
{
	struct store_session ss = { .expires = 1000 };

	snprintf(ss.id, sizeof(ss.id), "%s", id);
	snprintf(ss.credential, sizeof(ss.credential), "web");
	return ss;
}

/* What an operator's `sqlite3 broker.db 'BEGIN IMMEDIATE; ...'` does:
 * another connection that takes the write lock and keeps it. */
static sqlite3 *lock_db(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void unlock_db(sqlite3 *db)
{
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_foreign_lock(void **state)
{
	struct sfx *f = *state;
	struct store_session ss = session("s1");
	struct store_cred got;
	sqlite3 *db;

	sfx_put_token(f->s, "web");
	assert_int_equal(store_ping(f->s), A11_OK);
	db = lock_db(f->db);
	/* Writes are refused as busy, not failed and not parked for good. */
	assert_int_equal(store_session_put(f->s, &ss), A11_ERR_BUSY);
	assert_int_equal(store_pin_unlock(f->s, "web"), A11_ERR_BUSY);
	/* Reads go on, and the probe says what is wrong without waiting. */
	assert_int_equal(store_cred_get(f->s, "web", &got), A11_OK);
	store_cred_clear(&got);
	assert_int_equal(store_ping(f->s), A11_ERR_BUSY);
	unlock_db(db);
	/* Lock gone: served again, and healthy. */
	assert_int_equal(store_session_put(f->s, &ss), A11_OK);
	assert_int_equal(store_ping(f->s), A11_OK);
}

/* The probe finds the lock itself, before any request met it. */
static void test_ping_sees_lock(void **state)
{
	struct sfx *f = *state;
	sqlite3 *db = lock_db(f->db);

	assert_int_equal(store_ping(f->s), A11_ERR_BUSY);
	unlock_db(db);
	assert_int_equal(store_ping(f->s), A11_OK);
}

#define WRITERS 8
#define PUTS 40

struct writer {
	struct store *s;
	int n;
	a11_err r;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	struct store_session ss;
	char id[32];

	for (int i = 0; i < PUTS && w->r == A11_OK; i++) {
		snprintf(id, sizeof(id), "w%d-%d", w->n, i);
		ss = session(id);
		w->r = store_session_put(w->s, &ss);
	}
	return NULL;
}

/* Parallel writers and readers of one store: every write goes through. */
static void test_parallel_writers(void **state)
{
	struct sfx *f = *state;
	struct writer w[WRITERS];
	pthread_t t[WRITERS];
	struct store_session got;
	char id[32];

	sfx_put_token(f->s, "web");
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .s = f->s, .n = i, .r = A11_OK };
		assert_int_equal(pthread_create(&t[i], NULL, write_many, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].r, A11_OK);
	}
	for (int i = 0; i < WRITERS; i++) {
		snprintf(id, sizeof(id), "w%d-%d", i, PUTS - 1);
		assert_int_equal(store_session_take(f->s, id, 0, &got), A11_OK);
		store_session_clear(&got);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_foreign_lock),
		T(test_ping_sees_lock),
		T(test_parallel_writers),
	};

	if (sfx_pg_wanted())
		return 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
