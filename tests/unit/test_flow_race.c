/* The PIN lockout race through the Relying Party itself: with two failures
 * counted of three, three wrong PINs and the right one reach
 * flow_evidence at once, from four threads. The right one may be released
 * only if its release commits before the verdict that locks: in the audit
 * chain the release comes first. */
#include <pthread.h>
#include <stdlib.h>

#include "flow_fixture.h"

#define ROUNDS 30
#define RACERS 4                /* racer 0 has the right PIN */

struct racer {
	struct flow_fixture *f;
	char *body;             /* the evidence, JSON */
	pthread_barrier_t *go;
};

/* No cmocka assertion here: it may not jump out of another thread. */
static void *race(void *arg)
{
	struct racer *r = arg;
	const struct http_request req = { "POST", "/v1/evidence", "application/json",
					  (const uint8_t *)r->body, strlen(r->body) };
	struct http_response resp = { 0 };

	pthread_barrier_wait(r->go);
	flow_evidence(&r->f->b, &req, &resp);
	free(resp.body);
	return NULL;
}

static char *evidence_for(struct flow_fixture *f, const char *pin, struct flow_outcome *o)
{
	const struct simhost_evidence_opts opts = { .pin = pin };

	assert_string_equal(flow_fixture_challenge(f, f->host, "repo", NULL, o), "ok");
	assert_int_equal(simhost_evidence(f->host, &o->chal, &opts, &o->ev), A11_OK);
	return evidence_req_encode(&o->ev);
}

/* The seq of this round's release and of the verdict that locked. */
struct round {
	int64_t from, release, lock;
};

static int scan(const struct store_audit *a, void *arg)
{
	struct round *rd = arg;

	if (a->seq <= rd->from || strcmp(a->credential, "repo") != 0)
		return 0;
	if (strcmp(a->event, "release") == 0 && strcmp(a->code, "ok") == 0)
		rd->release = a->seq;
	if (strcmp(a->code, "pin_locked") == 0 && rd->lock == 0)
		rd->lock = a->seq;
	return 0;
}

static void race_round(struct flow_fixture *f, struct flow_outcome *o)
{
	const struct flow_exchange wrong = { .credential = "repo", .opts.pin = "4321" };
	struct round rd = { .from = flow_fixture_marks(f).last.seq };
	struct racer r[RACERS];
	pthread_t t[RACERS];
	pthread_barrier_t go;

	assert_int_equal(store_pin_unlock(f->b.store, "repo"), A11_OK);
	assert_string_equal(flow_fixture_exchange(f, f->host, &wrong, o), "pin_incorrect");
	assert_string_equal(flow_fixture_exchange(f, f->host, &wrong, o), "pin_incorrect");
	assert_int_equal(pthread_barrier_init(&go, NULL, RACERS), 0);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ .f = f, .go = &go };
		r[i].body = evidence_for(f, i == 0 ? "1234" : "4321", o);
		assert_non_null(r[i].body);
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		OPENSSL_cleanse(r[i].body, strlen(r[i].body));
		free(r[i].body);
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(store_audit_iter(f->b.store, scan, &rd), A11_OK);
	assert_true(rd.lock > 0);   /* three wrong PINs lock, in any order */
	if (rd.release > 0)
		assert_true(rd.release < rd.lock);
}

static void test_lockout_race(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_outcome *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	flow_fixture_add(f, "repo", CRED_REPOSITORY, "1234", "{\"pin_max_failures\": 3}");
	for (int i = 0; i < ROUNDS; i++)
		race_round(f, o);
	flow_outcome_clear(o);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lockout_race, flow_fixture_setup, flow_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
