/* A whole broker Relying Party without HTTP: a struct broker over a
 * SQLite store, master key, EAR signer and approver in a private temporary
 * directory, an EK CA, credentials of each kind, and simulated hosts
 * (src/simhost) that run challenge -> evidence through flow_challenge and
 * flow_evidence with the protocol's JSON. For any suite that needs a
 * broker's decisions (test_flow.c, and later load and renewal suites).
 * Header-only (static inline) because each unit test is its own binary. */
#ifndef A11_TEST_FLOW_FIXTURE_H
#define A11_TEST_FLOW_FIXTURE_H

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "../../src/broker/approver.h"
#include "../../src/broker/flow.h"
#include "../../src/broker/grant.h"
#include "../../src/broker/pin.h"
#include "simhost_fixture.h"
#include "tmpdir_fixture.h"

#define FLOW_PIN_ITERATIONS 1000   /* the policy minimum: tests need speed, not cost */

struct flow_fixture {
	struct tmpdir dir;
	char db[PATH_MAX], ek_ca[PATH_MAX];
	struct broker b;
	struct keycert ekca;           /* issues every simulated host's EK certificate */
	struct simhost *host;          /* a P-256 EK host */
};

/* What one exchange came to. ev is what was sent (for replays). */
struct flow_outcome {
	char code[32];                 /* "ok", or the refusal's code */
	char detail[128];
	int status;                    /* HTTP status */
	struct challenge_resp chal;
	struct evidence_req ev;
	struct release rel;            /* decoded when code is "ok" after evidence */
};

/* Changes the evidence before it is sent: the host and its challenge are
 * there to build a replacement part. */
typedef void (*flow_hook)(struct simhost *h, const struct challenge_resp *c,
			  struct evidence_req *ev, void *arg);

struct flow_exchange {
	const char *credential;
	const char *lease;             /* NULL: a fresh lease */
	struct simhost_evidence_opts opts;
	flow_hook hook;
	void *arg;
};

static inline void flow_path(struct flow_fixture *f, const char *name, char *out)
{
	tmpdir_file(&f->dir, name, out);
}

static inline void flow_fixture_init(struct flow_fixture *f)
{
	char key[PATH_MAX], pub[PATH_MAX], uri[PATH_MAX + 8];

	memset(f, 0, sizeof(*f));
	tmpdir_make(&f->dir);
	flow_path(f, "master.key", key);
	assert_int_equal(secrets_create(key), A11_OK);
	assert_int_equal(secrets_load(key, &f->b.secrets), A11_OK);
	flow_path(f, "ear.jwk", key);
	flow_path(f, "ear-pub.jwk", pub);
	assert_int_equal(ear_keygen(key, pub), A11_OK);
	assert_int_equal(ear_signer_load(key, &f->b.ear), A11_OK);
	flow_path(f, "approver.pem", key);
	flow_path(f, "approver-pub.pem", pub);
	assert_int_equal(approver_keygen(key, pub), A11_OK);
	assert_int_equal(approver_load(key, &f->b.approver), A11_OK);
	flow_path(f, "broker.db", f->db);
	snprintf(uri, sizeof(uri), "sqlite:%s", f->db);
	assert_int_equal(store_open(uri, &f->b.store), A11_OK);
	f->b.nonce_ttl = 60;
	keycert_ca(&f->ekca, "flow test EK CA");
	flow_path(f, "ekca.pem", f->ek_ca);
	cert_write(f->ekca.cert, f->ek_ca);
	f->host = host_new(SIMHOST_EK_P256, &f->ekca);
}

static inline void flow_fixture_fini(struct flow_fixture *f)
{
	simhost_free(f->host);
	keycert_free(&f->ekca);
	store_close(f->b.store);
	approver_free(f->b.approver);
	ear_signer_free(f->b.ear);
	secrets_free(f->b.secrets);
	tmpdir_remove(&f->dir);
}

/* cmocka setup/teardown: a fixture per test. */
static inline int flow_fixture_setup(void **state)
{
	struct flow_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	flow_fixture_init(f);
	*state = f;
	return 0;
}

static inline int flow_fixture_teardown(void **state)
{
	flow_fixture_fini(*state);
	free(*state);
	return 0;
}

/* A policy: this fixture's EK CA, sha256 {0, 7}, a 10-minute lease, the
 * cheapest PIN derivation, a workload id; extra (JSON object text, or
 * NULL) adds or replaces members. malloc'd. */
static inline char *flow_fixture_policy(const struct flow_fixture *f, const char *extra)
{
	json_t *p = json_pack("{s:s, s:{s:[i,i]}, s:i, s:i, s:s}", "ek_ca", f->ek_ca,
			      "pcr_selection", "sha256", 0, 7, "lease_ttl", 600, "pin_iterations",
			      FLOW_PIN_ITERATIONS, "workload_id", "spiffe://example.org/flow");
	json_t *x = extra ? json_loads(extra, 0, NULL) : json_object();
	char *text;

	assert_true(p != NULL && x != NULL);
	assert_int_equal(json_object_update(p, x), 0);
	text = json_dumps(p, JSON_COMPACT);
	assert_non_null(text);
	json_decref(p);
	json_decref(x);
	return text;
}

static inline void flow_fixture_set_policy(struct flow_fixture *f, const char *name,
					   const char *extra)
{
	char *p = flow_fixture_policy(f, extra);

	assert_int_equal(store_cred_set_policy(f->b.store, name, p), A11_OK);
	free(p);
}

/* The secret and chain of each kind: a repository key with its
 * self-signed certificate, a ca kind's issuer, or a token's bytes. */
static inline void flow_secret(enum cred_kind kind, char **secret, size_t *len, char **chain)
{
	struct keycert kc = { 0 };

	*chain = NULL;
	if (kind == CRED_TOKEN) {
		*secret = strdup("flow-test-bearer-token");
		assert_non_null(*secret);
		*len = strlen(*secret);
		return;
	}
	if (kind == CRED_CA) {
		keycert_ca(&kc, "flow test issuing CA");
	} else {
		kc.key = t_keygen("p256");
		kc.cert = cert_issue(kc.key, "repository.example.org", NULL, false);
	}
	*secret = pem_of(NULL, kc.key);
	*len = strlen(*secret);
	*chain = pem_of(kc.cert, NULL);
	keycert_free(&kc);
}

/* A PIN record as `credential add --pin-file` makes it. */
static inline void flow_pin(struct flow_fixture *f, struct store_cred *c, const char *pin)
{
	assert_int_equal(RAND_bytes(c->pin_salt, sizeof(c->pin_salt)), 1);
	assert_int_equal(pin_record_new(f->b.secrets, c->name, pin, strlen(pin), c->pin_salt,
					sizeof(c->pin_salt), FLOW_PIN_ITERATIONS, &c->pin_verifier),
			 A11_OK);
}

/* A credential of kind, with a PIN unless pin is NULL, under
 * flow_fixture_policy(extra). */
static inline void flow_fixture_add(struct flow_fixture *f, const char *name, enum cred_kind kind,
				    const char *pin, const char *extra)
{
	struct store_cred c = { .kind = kind };
	char aad[STORE_NAME_MAX + 16], *secret = NULL;
	size_t len = 0;

	snprintf(c.name, sizeof(c.name), "%s", name);
	c.policy_json = flow_fixture_policy(f, extra);
	flow_secret(kind, &secret, &len, &c.chain_pem);
	if (pin != NULL)
		flow_pin(f, &c, pin);
	grant_secret_aad(name, aad, sizeof(aad));
	assert_int_equal(secrets_seal(f->b.secrets, aad, (const uint8_t *)secret, len,
				      &c.sealed_secret, &c.sealed_secret_len), A11_OK);
	assert_int_equal(store_cred_put(f->b.store, &c), A11_OK);
	OPENSSL_cleanse(secret, len);
	free(secret);
	store_cred_clear(&c);
}

typedef void (*flow_handler)(struct broker *b, const struct http_request *req,
			     struct http_response *resp);

/* POST json (freed here) to handler; the code ("ok" on 200) into out,
 * and the 200 body (caller frees) or NULL. */
static inline char *flow_post(struct flow_fixture *f, flow_handler fn, const char *path,
			      char *json, struct flow_outcome *out)
{
	const struct http_request req = { "POST", path, "application/json", (const uint8_t *)json,
					  json ? strlen(json) : 0 };
	struct http_response resp = { 0 };

	assert_non_null(json);
	fn(&f->b, &req, &resp);
	OPENSSL_cleanse(json, strlen(json)); /* evidence carries the PIN's proof */
	free(json);
	out->status = resp.status;
	assert_non_null(resp.body);
	if (resp.status == 200) {
		snprintf(out->code, sizeof(out->code), "ok");
		return resp.body;
	}
	assert_int_equal(problem_decode(resp.body, resp.body_len, out->code, sizeof(out->code),
					out->detail, sizeof(out->detail)), A11_OK);
	free(resp.body);
	return NULL;
}

static inline void flow_outcome_clear(struct flow_outcome *o)
{
	release_clear(&o->rel);
	OPENSSL_cleanse(o, sizeof(*o));
}

/* The challenge alone: "ok" and out->chal, or the refusal's code. */
static inline const char *flow_fixture_challenge(struct flow_fixture *f, struct simhost *h,
						 const char *credential, const char *lease,
						 struct flow_outcome *out)
{
	struct challenge_req *m = calloc(1, sizeof(*m));
	char *body;

	flow_outcome_clear(out);
	assert_non_null(m);
	assert_int_equal(simhost_challenge_req(h, credential, lease, m), A11_OK);
	body = flow_post(f, flow_challenge, "/v1/challenge", challenge_req_encode(m), out);
	free(m);
	if (body != NULL)
		assert_int_equal(challenge_resp_decode(body, strlen(body), &out->chal), A11_OK);
	free(body);
	return out->code;
}

/* Evidence alone (kept in out->ev): "ok" and out->rel, or the refusal. */
static inline const char *flow_fixture_send(struct flow_fixture *f, const struct evidence_req *ev,
					    struct flow_outcome *out)
{
	char *body;

	release_clear(&out->rel);
	if (&out->ev != ev)
		out->ev = *ev;
	body = flow_post(f, flow_evidence, "/v1/evidence", evidence_req_encode(ev), out);
	if (body != NULL)
		assert_int_equal(release_decode(body, strlen(body), &out->rel), A11_OK);
	free(body);
	return out->code;
}

/* challenge -> evidence (changed by x->hook) -> release or refusal. */
static inline const char *flow_fixture_exchange(struct flow_fixture *f, struct simhost *h,
						const struct flow_exchange *x,
						struct flow_outcome *out)
{
	if (strcmp(flow_fixture_challenge(f, h, x->credential, x->lease, out), "ok") != 0)
		return out->code;
	assert_int_equal(simhost_evidence(h, &out->chal, &x->opts, &out->ev), A11_OK);
	if (x->hook != NULL)
		x->hook(h, &out->chal, &out->ev, x->arg);
	return flow_fixture_send(f, &out->ev, out);
}

/* The audit log's length and last record, and the number of leases. */
struct flow_marks {
	size_t audits, leases;
	struct store_audit last;
};

static inline int flow_audit_cb(const struct store_audit *a, void *arg)
{
	struct flow_marks *m = arg;

	m->audits++;
	m->last = *a;
	return 0;
}

static inline void flow_lease_cb(const struct store_lease *l, void *arg)
{
	(void)l;
	((struct flow_marks *)arg)->leases++;
}

static inline struct flow_marks flow_fixture_marks(struct flow_fixture *f)
{
	struct flow_marks m = { 0 };

	assert_int_equal(store_audit_iter(f->b.store, flow_audit_cb, &m), A11_OK);
	assert_int_equal(store_lease_list(f->b.store, flow_lease_cb, &m), A11_OK);
	return m;
}

/* A refusal with this code, one audit record saying so, and no lease. */
static inline void flow_fixture_refused(struct flow_fixture *f, const struct flow_marks *before,
					const char *got, const char *code)
{
	struct flow_marks now = flow_fixture_marks(f);

	assert_string_equal(got, code);
	assert_int_equal(now.audits, before->audits + 1);
	assert_string_equal(now.last.event, "refusal");
	assert_string_equal(now.last.code, code);
	assert_int_equal(now.leases, before->leases);
}

/* Constant SQL on a second connection, for what the store API must not
 * offer (ageing a session). */
static inline void flow_fixture_sql(const struct flow_fixture *f, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_busy_timeout(db, 5000), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

#endif
