/* The broker's Relying Party (src/broker/flow.c, evidence.c, grant.c)
 * driven by simulated hosts (flow_fixture.h): every kind is released, and
 * the simulated host's own checks accept what it got; every refusal that
 * synthetic evidence can reach comes with its exact code, one audit record
 * and no lease. */
#include <stdlib.h>

#include "../../src/broker/verifier.h"
#include "../../src/wire/policy.h"
#include "flow_fixture.h"

static struct flow_outcome *outcome_new(void)
{
	struct flow_outcome *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	return o;
}

static void outcome_free(struct flow_outcome *o)
{
	flow_outcome_clear(o);
	free(o);
}

/* A fresh lease then its renewal, each release checked by the host. */
static void release_and_renew(struct flow_fixture *f, struct simhost *h, const char *cred,
			      const char *pin)
{
	struct flow_exchange x = { .credential = cred, .opts.pin = pin };
	struct flow_outcome *o = outcome_new();
	struct flow_marks m = flow_fixture_marks(f), n;
	char lease[PROTO_LEASE_MAX + 1];

	assert_string_equal(flow_fixture_exchange(f, h, &x, o), "ok");
	assert_int_equal(simhost_release_check(h, &o->chal, &o->rel), A11_OK);
	n = flow_fixture_marks(f);
	assert_int_equal(n.leases, m.leases + 1);
	assert_string_equal(n.last.event, "release");
	snprintf(lease, sizeof(lease), "%s", o->rel.lease);
	x.lease = lease;
	assert_string_equal(flow_fixture_exchange(f, h, &x, o), "ok");
	assert_string_equal(o->rel.lease, lease);
	assert_int_equal(simhost_release_check(h, &o->chal, &o->rel), A11_OK);
	n = flow_fixture_marks(f);
	assert_int_equal(n.leases, m.leases + 1);
	assert_string_equal(n.last.event, "renewal");
	outcome_free(o);
}

static void test_release_each_kind(void **state)
{
	struct flow_fixture *f = *state;
	struct simhost *hosts[] = { host_new(SIMHOST_EK_RSA2048, &f->ekca), f->host,
				    host_new(SIMHOST_EK_P384, &f->ekca) };

	flow_fixture_add(f, "repo", CRED_REPOSITORY, "1234", "{\"bind_pcrs\": true}");
	flow_fixture_add(f, "ca", CRED_CA, NULL, NULL);
	flow_fixture_add(f, "token", CRED_TOKEN, "1234", NULL);
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		release_and_renew(f, hosts[i], "repo", "1234");
		release_and_renew(f, hosts[i], "ca", NULL);
		release_and_renew(f, hosts[i], "token", "1234");
	}
	simhost_free(hosts[0]);
	simhost_free(hosts[2]);
}

/* Wrapped to the EK (no storage parent); a doctored release fails the
 * host's check. */
static void test_release_to_ek_and_check(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo", .opts.wrap_to_ek = true };
	struct flow_outcome *o = outcome_new();

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	assert_false(o->ev.has_parent);
	assert_int_equal(simhost_release_check(f->host, &o->chal, &o->rel), A11_OK);
	o->rel.approval.signature.signature.ecdsa.signatureS.buffer[3] ^= 1;
	assert_int_equal(simhost_release_check(f->host, &o->chal, &o->rel), A11_ERR_SIGNATURE);
	o->rel.approval.signature.signature.ecdsa.signatureS.buffer[3] ^= 1;
	o->rel.approval.clock_end++;
	assert_int_equal(simhost_release_check(f->host, &o->chal, &o->rel), A11_ERR_TPM_POLICY);
	o->rel.approval.clock_end--;
	o->rel.duplicate.buffer[o->rel.duplicate.size - 1] ^= 1;
	assert_int_equal(simhost_release_check(f->host, &o->chal, &o->rel), A11_ERR_TPM_INTEGRITY);
	o->rel.duplicate.buffer[o->rel.duplicate.size - 1] ^= 1;
	/* The leaf's key point changed: refused, though the same leaf with
	 * this key was accepted (and that acceptance kept) just before. */
	{
		const TPM2B_ECC_PARAMETER *kx = &o->rel.pub.publicArea.unique.ecc.x;
		uint8_t *at = NULL;

		for (size_t i = 0; at == NULL && i + kx->size <= o->rel.cert_len[0]; i++)
			if (memcmp(o->rel.certs[0] + i, kx->buffer, kx->size) == 0)
				at = o->rel.certs[0] + i;
		assert_non_null(at);
		at[kx->size - 1] ^= 1;
		assert_int_equal(simhost_release_check(f->host, &o->chal, &o->rel), A11_ERR_NAME);
		at[kx->size - 1] ^= 1;
		assert_int_equal(simhost_release_check(f->host, &o->chal, &o->rel), A11_OK);
	}
	outcome_free(o);
}

/* A CA release names the key the host made: another host (another key)
 * refuses it, though the same certificate was accepted, and that
 * acceptance kept, for its own host just before. */
static void test_ca_leaf_names_the_host_key(void **state)
{
	struct flow_fixture *f = *state;
	struct simhost *b = host_new(SIMHOST_EK_P256, &f->ekca);
	struct flow_exchange x = { .credential = "ca" };
	struct flow_outcome *oa = outcome_new(), *ob = outcome_new();

	flow_fixture_add(f, "ca", CRED_CA, NULL, NULL);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, oa), "ok");
	assert_int_equal(simhost_release_check(f->host, &oa->chal, &oa->rel), A11_OK);
	assert_string_equal(flow_fixture_exchange(f, b, &x, ob), "ok");
	assert_int_equal(simhost_release_check(b, &ob->chal, &ob->rel), A11_OK);
	assert_int_equal(simhost_release_check(b, &oa->chal, &oa->rel), A11_ERR_NAME);
	outcome_free(oa);
	outcome_free(ob);
	simhost_free(b);
}

/* Exchange for "repo" (x->hook and opts as given) and expect a refusal. */
static void refused(struct flow_fixture *f, struct simhost *h, const struct flow_exchange *x,
		    const char *code)
{
	struct flow_marks m = flow_fixture_marks(f);
	struct flow_outcome *o = outcome_new();

	flow_fixture_refused(f, &m, flow_fixture_exchange(f, h, x, o), code);
	outcome_free(o);
}

static void hook_session(struct simhost *h, const struct challenge_resp *c,
			 struct evidence_req *ev, void *arg)
{
	(void)h, (void)c, (void)arg;
	memset(ev->session, 'f', PROTO_SESSION_LEN);
}

/* An unknown session is the one refusal without an audit record: it
 * names no credential (evidence.c, flow_evidence). */
static void test_session_unknown(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo", .hook = hook_session };
	struct flow_outcome *o = outcome_new();
	struct flow_marks m, n;

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	m = flow_fixture_marks(f);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "session_unknown");
	n = flow_fixture_marks(f);
	assert_int_equal(n.audits, m.audits);
	assert_int_equal(n.leases, m.leases);
	outcome_free(o);
}

static void test_nonce_reused_expired(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo" };
	struct flow_outcome *o = outcome_new(), *again = outcome_new();
	struct flow_marks m;

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	m = flow_fixture_marks(f);
	flow_fixture_refused(f, &m, flow_fixture_send(f, &o->ev, again), "nonce_reused");
	/* A session past its expiry. */
	assert_string_equal(flow_fixture_challenge(f, f->host, "repo", NULL, o), "ok");
	assert_int_equal(simhost_evidence(f->host, &o->chal, NULL, &o->ev), A11_OK);
	flow_fixture_sql(f, "UPDATE sessions SET expires = 0");
	m = flow_fixture_marks(f);
	flow_fixture_refused(f, &m, flow_fixture_send(f, &o->ev, o), "nonce_expired");
	outcome_free(o);
	outcome_free(again);
}

static void hook_activation(struct simhost *h, const struct challenge_resp *c,
			    struct evidence_req *ev, void *arg)
{
	(void)h, (void)c, (void)arg;
	ev->activated.buffer[0] ^= 1;
}

static void hook_quote_byte(struct simhost *h, const struct challenge_resp *c,
			    struct evidence_req *ev, void *arg)
{
	(void)h, (void)c, (void)arg;
	ev->quote.data[ev->quote.len - 1] ^= 1;
}

/* A good quote, over another nonce. */
static void hook_quote_nonce(struct simhost *h, const struct challenge_resp *c,
			     struct evidence_req *ev, void *arg)
{
	TPM2B_DATA other = { .size = 32 };

	(void)arg;
	memset(other.buffer, 0xee, 32);
	assert_int_equal(simhost_quote(h, &other, &c->pcr_selection, &ev->quote, &ev->pcrs), A11_OK);
}

static void hook_pcr_value(struct simhost *h, const struct challenge_resp *c,
			   struct evidence_req *ev, void *arg)
{
	(void)h, (void)c, (void)arg;
	ev->pcrs.v[0].buffer[0] ^= 1;
}

/* {"pcr_reference": [{"sha256": {"0": hex(v0), "7": hex(v7)}}]} */
static char *reference(const uint8_t v0[32], const uint8_t v7[32])
{
	char h0[65], h7[65], *text;
	json_t *j;

	for (int i = 0; i < 32; i++) {
		snprintf(h0 + 2 * i, 3, "%02x", v0[i]);
		snprintf(h7 + 2 * i, 3, "%02x", v7[i]);
	}
	j = json_pack("{s:[{s:{s:s,s:s}}]}", "pcr_reference", "sha256", "0", h0, "7", h7);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(text);
	return text;
}

static void test_pcr_policy(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo" };
	struct flow_outcome *o = outcome_new();
	uint8_t v0[32], v7[32];
	char *ref;

	memset(v0, 0x11, sizeof(v0));
	memset(v7, 0x77, sizeof(v7));
	assert_int_equal(simhost_pcr_set(f->host, 0, v0), A11_OK);
	assert_int_equal(simhost_pcr_set(f->host, 7, v7), A11_OK);
	ref = reference(v0, v0);
	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, ref);
	free(ref);
	refused(f, f->host, &x, "pcr_values");
	/* A bank the host does not have. */
	flow_fixture_set_policy(f, "repo", "{\"pcr_selection\": {\"sha1\": [0]}}");
	refused(f, f->host, &x, "pcr_selection");
	ref = reference(v0, v7);
	flow_fixture_set_policy(f, "repo", ref);
	free(ref);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	/* The platform changes: PCR 7 is extended. */
	assert_int_equal(simhost_pcr_extend(f->host, 7, v0), A11_OK);
	refused(f, f->host, &x, "pcr_values");
	outcome_free(o);
}

/* Executables must affirm, but without reference values nobody says so. */
static void test_trust_tier(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo" };

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL,
			 "{\"ar4si\": {\"executables\": \"affirming\"}}");
	refused(f, f->host, &x, "trust_tier");
}

static void test_counters_backwards(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo" };
	struct flow_outcome *o = outcome_new();
	TPMS_CLOCK_INFO *ck = simhost_clock(f->host);

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	ck->clock = 50000;
	ck->resetCount = 5;
	ck->restartCount = 2;
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	ck->resetCount = 4;
	refused(f, f->host, &x, "tpm_reboot_replay");
	ck->resetCount = 5;
	ck->restartCount = 1;
	refused(f, f->host, &x, "tpm_reboot_replay");
	ck->restartCount = 2;
	ck->clock = 49999;
	refused(f, f->host, &x, "tpm_reboot_replay");
	/* A reboot is fine: resetCount up, clock anywhere. */
	ck->resetCount = 6;
	ck->clock = 10;
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	outcome_free(o);
}

/* Two exchanges of one TPM in flight: the later quote is appraised first.
 * Neither is a replay: each is held to what was seen at its challenge. */
static void test_quotes_out_of_order(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_outcome *a = outcome_new(), *b = outcome_new();
	const struct simhost_evidence_opts opts = { 0 };
	TPMS_CLOCK_INFO *ck = simhost_clock(f->host);

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	ck->clock = 1000;
	assert_string_equal(flow_fixture_challenge(f, f->host, "repo", NULL, a), "ok");
	assert_string_equal(flow_fixture_challenge(f, f->host, "repo", NULL, b), "ok");
	assert_int_equal(simhost_evidence(f->host, &a->chal, &opts, &a->ev), A11_OK);
	ck->clock = 1200;
	assert_int_equal(simhost_evidence(f->host, &b->chal, &opts, &b->ev), A11_OK);
	assert_string_equal(flow_fixture_send(f, &b->ev, b), "ok");
	assert_string_equal(flow_fixture_send(f, &a->ev, a), "ok");
	/* A challenge issued after the 1200 quote was seen takes nothing older. */
	ck->clock = 1100;
	refused(f, f->host, &(struct flow_exchange){ .credential = "repo" }, "tpm_reboot_replay");
	outcome_free(a);
	outcome_free(b);
}

/* The allow-list in force when the evidence arrives decides. */
static void test_allow_list_tightened_mid_exchange(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_outcome *o = outcome_new();
	const struct simhost_evidence_opts opts = { 0 };
	struct flow_marks before;

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	assert_string_equal(flow_fixture_challenge(f, f->host, "repo", NULL, o), "ok");
	flow_fixture_set_policy(f, "repo", "{\"ek_allow\": [\""
				"0000000000000000000000000000000000000000000000000000000000000000\"]}");
	assert_int_equal(simhost_evidence(f->host, &o->chal, &opts, &o->ev), A11_OK);
	before = flow_fixture_marks(f);
	flow_fixture_refused(f, &before, flow_fixture_send(f, &o->ev, o), "ek_not_allowed");
	outcome_free(o);
}

static void hook_parent_sig(struct simhost *h, const struct challenge_resp *c,
			    struct evidence_req *ev, void *arg)
{
	(void)h, (void)c, (void)arg;
	ev->parent_certify.sig.signature.ecdsa.signatureR.buffer[1] ^= 1;
}

/* A certified object that is no storage parent: a signing key. */
static void hook_parent_signer(struct simhost *h, const struct challenge_resp *c,
			       struct evidence_req *ev, void *arg)
{
	TPM2B_DATA nonce = { .size = c->nonce.size };

	(void)arg;
	memcpy(nonce.buffer, c->nonce.buffer, c->nonce.size);
	assert_int_equal(simhost_born_key(h, NULL), A11_OK);
	assert_int_equal(simhost_certify(h, SIMHOST_BORN, &nonce, &ev->parent_certify), A11_OK);
	ev->parent = *simhost_public(h, SIMHOST_BORN);
}

/* Evidence changed one way at a time, each with its refusal. */
static void test_tampered_evidence(void **state)
{
	static const struct { flow_hook hook; const char *code; } cases[] = {
		{ hook_activation, "ak_not_activated" }, { hook_quote_byte, "quote_invalid" },
		{ hook_quote_nonce, "quote_invalid" }, { hook_pcr_value, "pcr_digest" },
		{ hook_parent_sig, "parent_invalid" }, { hook_parent_signer, "parent_invalid" },
	};
	struct flow_fixture *f = *state;

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct flow_exchange x = { .credential = "repo", .hook = cases[i].hook };

		refused(f, f->host, &x, cases[i].code);
	}
}

static void hook_no_key(struct simhost *h, const struct challenge_resp *c,
			struct evidence_req *ev, void *arg)
{
	(void)h, (void)c, (void)arg;
	ev->has_key = false;
}

static void test_key_invalid(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "ca", .hook = hook_no_key };
	TPM2B_DIGEST other = { .size = 32 };

	flow_fixture_add(f, "ca", CRED_CA, NULL, NULL);
	refused(f, f->host, &x, "key_invalid");
	/* Certified, but under another policy, or under none (userWithAuth). */
	x.hook = NULL;
	x.opts.keep_key = true;
	memset(other.buffer, 0x99, 32);
	assert_int_equal(simhost_born_key(f->host, &other), A11_OK);
	refused(f, f->host, &x, "key_invalid");
	assert_int_equal(simhost_born_key(f->host, NULL), A11_OK);
	refused(f, f->host, &x, "key_invalid");
}

static void test_pin(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo" };

	flow_fixture_add(f, "repo", CRED_REPOSITORY, "1234", "{\"pin_max_failures\": 2}");
	refused(f, f->host, &x, "pin_required");
	x.opts.pin = "4321";
	refused(f, f->host, &x, "pin_incorrect");
	refused(f, f->host, &x, "pin_locked");
	x.opts.pin = "1234";
	refused(f, f->host, &x, "pin_locked");
}

static void test_leases(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo",
				   .lease = "0123456789abcdef0123456789abcdef" };
	struct flow_outcome *o = outcome_new();
	char lease[PROTO_LEASE_MAX + 1];

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL, NULL);
	flow_fixture_add(f, "other", CRED_TOKEN, NULL, NULL);
	refused(f, f->host, &x, "lease_unknown");
	x.lease = NULL;
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	snprintf(lease, sizeof(lease), "%s", o->rel.lease);
	/* Another credential's lease names nothing. */
	x.credential = "other";
	x.lease = lease;
	refused(f, f->host, &x, "lease_unknown");
	/* Revoked before the challenge, then between challenge and evidence. */
	x.credential = "repo";
	assert_string_equal(flow_fixture_challenge(f, f->host, "repo", lease, o), "ok");
	assert_int_equal(simhost_evidence(f->host, &o->chal, NULL, &o->ev), A11_OK);
	assert_int_equal(store_lease_revoke(f->b.store, lease), A11_OK);
	refused(f, f->host, &x, "lease_revoked");
	{
		struct flow_marks m = flow_fixture_marks(f);

		flow_fixture_refused(f, &m, flow_fixture_send(f, &o->ev, o), "lease_revoked");
	}
	outcome_free(o);
}

static void test_identity(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo" };
	struct flow_outcome *o = outcome_new();
	struct keycert other;
	struct simhost *stranger;
	uint8_t ek[32];
	char hex[65], extra[128];

	flow_fixture_add(f, "repo", CRED_REPOSITORY, NULL,
			 "{\"ek_allow\": [\"" "0000000000000000000000000000000000000000000000000000000000000000" "\"]}");
	refused(f, f->host, &x, "ek_not_allowed");
	assert_int_equal(verifier_ek_hash(&simhost_public(f->host, SIMHOST_EK)->publicArea, ek), A11_OK);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", ek[i]);
	snprintf(extra, sizeof(extra), "{\"ek_allow\": [\"%s\"]}", hex);
	flow_fixture_set_policy(f, "repo", extra);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	/* An EK whose certificate another CA issued. */
	keycert_ca(&other, "some other EK CA");
	stranger = host_new(SIMHOST_EK_P256, &other);
	refused(f, stranger, &x, "ekcert_untrusted");
	x.credential = "nothing";
	refused(f, f->host, &x, "unknown_credential");
	simhost_free(stranger);
	keycert_free(&other);
	outcome_free(o);
}

/* A ca renewal certifies the key of the lease, not any key made under the
 * lease's policy (which the renewal's challenge names). */
static void test_ca_renewal_other_key(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "ca" };
	struct flow_outcome *o;
	char lease[PROTO_LEASE_MAX + 1];
	TPM2B_DIGEST pd;

	o = outcome_new();
	flow_fixture_add(f, "ca", CRED_CA, NULL, NULL);
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	snprintf(lease, sizeof(lease), "%s", o->rel.lease);
	/* A second key with the same authPolicy, certified at renewal. */
	assert_int_equal(wire_key_policy(&o->chal.anchor.approver.publicArea,
					 o->chal.anchor.policy_ref, PROTO_POLICY_REF_LEN, &pd), A11_OK);
	assert_int_equal(simhost_born_key(f->host, &pd), A11_OK);
	x.lease = lease;
	refused(f, f->host, &x, "key_invalid");
	outcome_free(o);
}

/* A renewal needs no PIN, but a credential locked after its lease began
 * renews nothing. */
static void test_pin_renewal_locked(void **state)
{
	struct flow_fixture *f = *state;
	struct flow_exchange x = { .credential = "repo", .opts.pin = "1234" };
	struct flow_outcome *o;
	char lease[PROTO_LEASE_MAX + 1];

	o = outcome_new();
	flow_fixture_add(f, "repo", CRED_REPOSITORY, "1234", "{\"pin_max_failures\": 1}");
	assert_string_equal(flow_fixture_exchange(f, f->host, &x, o), "ok");
	snprintf(lease, sizeof(lease), "%s", o->rel.lease);
	x.opts.pin = "0000";
	refused(f, f->host, &x, "pin_locked");
	x.lease = lease;
	refused(f, f->host, &x, "pin_locked");
	outcome_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_release_each_kind, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_release_to_ek_and_check, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ca_leaf_names_the_host_key, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_session_unknown, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_nonce_reused_expired, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_evidence, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_pcr_policy, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_trust_tier, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_counters_backwards, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_quotes_out_of_order, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_allow_list_tightened_mid_exchange, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_key_invalid, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_pin, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_leases, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_identity, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ca_renewal_other_key, flow_fixture_setup, flow_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_pin_renewal_locked, flow_fixture_setup, flow_fixture_teardown),
	};

	setenv("TSS2_LOG", "all+none", 0);
	setenv("ATTEST11_LOG", "error", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
