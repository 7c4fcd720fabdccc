/* The broker's evidence flow with event policies (src/broker/verifier.c,
 * evpolicy.c, flow.c): a simulated host whose SHA-256 PCRs hold a real
 * log's measurements is asked for its log by the challenge, released with
 * it, and refused without it, with another machine's log, or under a rule
 * its boot breaks, each refusal's problem detail naming the cause. */
#include <stdlib.h>

#include "../../src/eventlog/eventlog.h"
#include "eventlog_fixture.h"
#include "flow_fixture.h"

#define EVPCRS "\"pcr_selection\": {\"sha256\": [0,1,2,3,4,5,6,7,8,9,14]}"

struct sent_log {
	uint8_t *buf;
	size_t len;
};

/* The host's PCRs as the firmware of log left them. */
static void host_boot(struct simhost *h, const uint8_t *buf, size_t len)
{
	struct evlog log;
	struct evlog_iter it;
	struct evlog_event ev;

	assert_int_equal(evlog_open(&log, buf, len), A11_OK);
	evlog_iter_init(&it, &log);
	while (evlog_next(&it, &ev))
		if (ev.type != EV_NO_ACTION)
			assert_int_equal(simhost_pcr_extend(h, ev.pcr,
				evlog_event_digest(&ev, TPM2_ALG_SHA256)->d), A11_OK);
}

/* The evidence carries the log (borrowed: the outcome never frees it). */
static void attach(struct simhost *h, const struct challenge_resp *c, struct evidence_req *ev,
		   void *arg)
{
	const struct sent_log *l = arg;

	(void)h;
	assert_true(c->eventlog);
	ev->eventlog = l->buf;
	ev->eventlog_len = l->len;
}

static const char *exchange(struct flow_fixture *f, const char *cred, struct sent_log *l,
			    struct flow_outcome *o)
{
	const struct flow_exchange x = { .credential = cred, .hook = l ? attach : NULL, .arg = l };

	return flow_fixture_exchange(f, f->host, &x, o);
}

static void test_event_policy(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_outcome *o = calloc(1, sizeof(*o));
	struct sent_log rhel, cos;

	assert_non_null(o);
	rhel.buf = log_read("rhel8-uefi.bin", &rhel.len);
	cos.buf = log_read("cos-101-amd-sev.bin", &cos.len);
	host_boot(f->host, rhel.buf, rhel.len);
	flow_fixture_add(f, "plain", CRED_REPOSITORY, NULL, NULL);
	flow_fixture_add(f, "booted", CRED_REPOSITORY, NULL,
			 "{" EVPCRS ", \"eventlog\": {\"secure_boot\": true}}");
	flow_fixture_add(f, "strict", CRED_REPOSITORY, NULL,
			 "{" EVPCRS ", \"eventlog\": {\"kernel_cmdlines\": [\"ro\"]}}");

	/* No event rules: the challenge does not ask, a log is ignored. */
	assert_string_equal(flow_fixture_challenge(f, f->host, "plain", NULL, o), "ok");
	assert_false(o->chal.eventlog);
	assert_string_equal(exchange(f, "booted", &rhel, o), "ok");
	assert_true(o->chal.eventlog);
	assert_string_equal(exchange(f, "booted", NULL, o), "eventlog_required");
	assert_string_equal(o->detail, "no event log in the evidence");
	assert_string_equal(exchange(f, "booted", &cos, o), "eventlog_mismatch");
	assert_string_equal(o->detail, "bank sha256 PCR 0: the log does not replay to the quote");
	assert_string_equal(exchange(f, "strict", &rhel, o), "eventlog_policy");
	assert_non_null(strstr(o->detail, "PCR 8 event 78 EV_IPL: kernel command line not allowed "
					  "(rule kernel_cmdlines)"));
	rhel.len -= 1;
	assert_string_equal(exchange(f, "booted", &rhel, o), "eventlog_invalid");
	flow_outcome_clear(o);
	free(o);
	free(rhel.buf);
	free(cos.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_event_policy, flow_fixture_setup,
						flow_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
