/* The PostgreSQL backend's SQL layer (src/broker/store_pg_sql.c). pg_one
 * runs its one statement outside a transaction block, and refuses a
 * second. Prepared statements:
 * a statement is prepared once per connection and run by name after; the
 * same literal with other parameter types is a statement of its own; a
 * literal whose text changed runs unprepared (never the old statement);
 * a statement the server lost (a transaction-pooling proxy) makes the
 * connection stop preparing and the transaction run again. PostgreSQL
 * only (A11_TEST_STORE=pg, tests/run.sh's PG_SUITES); skipped otherwise. */
#include "store_fixture.h"
#include "../../src/broker/store_pg.h"

static struct pg *pg_open_test(struct sfx *f)
{
	void *impl = NULL;

	if (f == NULL)
		skip();
	assert_int_equal(store_pg_ops.open(strchr(f->uri, ':') + 1, &impl), A11_OK);
	return impl;
}

static int setup(void **state)
{
	*state = NULL;
	return sfx_pg_wanted() ? sfx_setup(state) : 0;
}

static int teardown(void **state)
{
	return sfx_pg_wanted() ? sfx_teardown(state) : 0;
}

/* One bigint from sql, with the parameter v (or NULL if null). */
static int64_t one(struct pg_conn *pc, const char *sql, const int64_t *v)
{
	struct pg_cur c;
	int rows = 0;
	int64_t out = -1;

	pg_start(&c, pc);
	if (v != NULL)
		pg_bind_i64(&c, *v);
	else if (strchr(sql, '$') != NULL)
		pg_bind_null(&c);
	if (pg_exec(&c, sql, "test", &rows) == A11_OK && rows == 1)
		pg_get_i64(&c, &out);
	pg_clear(&c);
	return out;
}

static int64_t prepared_count(struct pg_conn *pc)
{
	return one(pc, "SELECT count(*)::bigint FROM pg_prepared_statements", NULL);
}

static const char sql_add[] = "SELECT coalesce($1::bigint, 40) + 1";

static a11_err reused_tx(struct pg_conn *pc, void *arg)
{
	int64_t seven = 7, before;

	(void)arg;
	before = prepared_count(pc);
	assert_int_equal(one(pc, sql_add, &seven), 8);
	assert_int_equal(prepared_count(pc), before + 1);
	seven = 9;
	assert_int_equal(one(pc, sql_add, &seven), 10);
	assert_int_equal(prepared_count(pc), before + 1);  /* run by name */
	assert_int_equal(one(pc, sql_add, NULL), 41);      /* type 0: another */
	assert_int_equal(prepared_count(pc), before + 2);
	return A11_OK;
}

static void test_reused(void **state)
{
	struct pg *p = pg_open_test(*state);

	assert_int_equal(pg_tx(p, true, reused_tx, NULL), A11_OK);
	store_pg_ops.close(p);
}

static a11_err changed_tx(struct pg_conn *pc, void *arg)
{
	char sql[] = "SELECT 1::bigint";
	int64_t before;

	(void)arg;
	assert_int_equal(one(pc, sql, NULL), 1);
	before = prepared_count(pc);
	sql[7] = '2';
	assert_int_equal(one(pc, sql, NULL), 2);
	assert_int_equal(prepared_count(pc), before);
	return A11_OK;
}

static void test_text_changed(void **state)
{
	struct pg *p = pg_open_test(*state);

	assert_int_equal(pg_tx(p, true, changed_tx, NULL), A11_OK);
	store_pg_ops.close(p);
}

static a11_err lost_tx(struct pg_conn *pc, void *arg)
{
	int *runs = arg;
	int64_t three = 3;
	struct pg_cur c;
	int rows;

	if (++*runs == 1) {
		assert_int_equal(one(pc, sql_add, &three), 4);
		pg_start(&c, pc);
		assert_int_equal(pg_exec(&c, "DEALLOCATE ALL", "test", &rows), A11_OK);
		pg_clear(&c);
	}
	return one(pc, sql_add, &three) == 4 ? A11_OK : A11_ERR_STORE;
}

static void test_lost(void **state)
{
	struct pg *p = pg_open_test(*state);
	int runs = 0;

	assert_int_equal(pg_tx(p, true, lost_tx, &runs), A11_OK);
	assert_int_equal(runs, 2);
	runs = 2; /* and the connection carries on, unprepared */
	assert_int_equal(pg_tx(p, true, lost_tx, &runs), A11_OK);
	store_pg_ops.close(p);
}

/* Whether fn's body starts in a transaction block (after a BEGIN). */
static a11_err block_tx(struct pg_conn *pc, void *arg)
{
	*(PGTransactionStatusType *)arg = PQtransactionStatus(pc->db);
	return one(pc, "SELECT 1::bigint", NULL) == 1 ? A11_OK : A11_ERR_STORE;
}

static a11_err two_tx(struct pg_conn *pc, void *arg)
{
	int64_t v = 1;

	(void)arg;
	if (one(pc, sql_add, &v) != 2)
		return A11_ERR_STORE;
	return one(pc, sql_add, &v) == 2 ? A11_OK : A11_ERR_STORE;
}

static void test_one(void **state)
{
	struct pg *p = pg_open_test(*state);
	PGTransactionStatusType st = PQTRANS_UNKNOWN;

	assert_int_equal(pg_one(p, block_tx, &st), A11_OK);
	assert_int_equal(st, PQTRANS_IDLE);
	assert_int_equal(pg_tx(p, false, block_tx, &st), A11_OK);
	assert_int_equal(st, PQTRANS_INTRANS); /* the control */
	assert_int_equal(pg_tx(p, true, two_tx, NULL), A11_OK);
	assert_int_equal(pg_one(p, two_tx, NULL), A11_ERR_STORE);
	store_pg_ops.close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
