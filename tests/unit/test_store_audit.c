/* The audit log's hash chain: the hash of a record checked against the
 * encoding recomputed here from its description in the brief (not with
 * store.c), tampering through a separate connection, and appends
 * from many threads and from two connections at once. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "store_fixture.h"

static void fill(struct store_audit *rec, int i)
{
	memset(rec, 0, sizeof(*rec));
	rec->time = 1700000000 + i;
	snprintf(rec->event, sizeof(rec->event), "%s", i % 3 ? "release" : "refusal");
	snprintf(rec->code, sizeof(rec->code), "%s", i % 3 ? "ok" : "pcr_values");
	snprintf(rec->credential, sizeof(rec->credential), "cred-%d", i % 4);
	memset(rec->ek_hash, 'a', 64);
	memset(rec->ak_name, 'b', 68);
	memset(rec->pcr_digest, 'c', 64);
	memset(rec->ar_digest, 'd', 64);
	rec->policy_version = i;
	snprintf(rec->lease, sizeof(rec->lease), "lease-%d", i);
	snprintf(rec->cert_serial, sizeof(rec->cert_serial), "%x", 0x1000 + i);
}

static void append_n(struct sfx *f, int n)
{
	struct store_audit rec;

	for (int i = 1; i <= n; i++) {
		fill(&rec, i);
		assert_int_equal(store_audit_append(f->s, &rec), A11_OK);
		assert_int_equal(rec.seq, i);
	}
}

/* ---- the reference encoding ------------------------------------------- */

struct ref {
	uint8_t b[2048];
	size_t n;
};

static void ref_i64(struct ref *r, int64_t v)
{
	for (int i = 0; i < 8; i++)
		r->b[r->n++] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static void ref_str(struct ref *r, const char *s)
{
	uint32_t len = (uint32_t)strlen(s);

	for (int i = 0; i < 4; i++)
		r->b[r->n++] = (uint8_t)(len >> (24 - 8 * i));
	memcpy(r->b + r->n, s, len);
	r->n += len;
}

/* SHA-256(prev_hash || seq, time, event, code, credential, ek_hash,
 * ak_name, pcr_digest, ar_digest, policy_version, lease, cert_serial). */
static void ref_hash(const struct store_audit *a, uint8_t out[32])
{
	struct ref r = { .n = 0 };

	memcpy(r.b, a->prev_hash, 32);
	r.n = 32;
	ref_i64(&r, a->seq);
	ref_i64(&r, a->time);
	ref_str(&r, a->event);
	ref_str(&r, a->code);
	ref_str(&r, a->credential);
	ref_str(&r, a->ek_hash);
	ref_str(&r, a->ak_name);
	ref_str(&r, a->pcr_digest);
	ref_str(&r, a->ar_digest);
	ref_i64(&r, a->policy_version);
	ref_str(&r, a->lease);
	ref_str(&r, a->cert_serial);
	assert_int_equal(EVP_Digest(r.b, r.n, out, NULL, EVP_sha256(), NULL), 1);
}

/* ---- the chain as written ----------------------------------------------- */

struct seen {
	struct store_audit v[256];
	int n;
	int stop_after;
};

static int collect(const struct store_audit *rec, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 256);
	s->v[s->n++] = *rec;
	return s->n == s->stop_after;
}

static void test_chain(void **state)
{
	struct sfx *f = *state;
	static const uint8_t zero[32];
	struct seen *s = calloc(1, sizeof(*s));
	struct store_audit want;
	uint8_t h[32];
	int64_t bad = -1;

	assert_non_null(s);
	assert_int_equal(store_audit_verify(f->s, &bad), A11_OK); /* empty is fine */
	append_n(f, 10);
	assert_int_equal(store_audit_iter(f->s, collect, s), A11_OK);
	assert_int_equal(s->n, 10);
	for (int i = 0; i < 10; i++) {
		fill(&want, i + 1);
		assert_int_equal(s->v[i].seq, i + 1);
		assert_int_equal(s->v[i].time, want.time);
		assert_string_equal(s->v[i].credential, want.credential);
		assert_string_equal(s->v[i].ak_name, want.ak_name);
		assert_string_equal(s->v[i].cert_serial, want.cert_serial);
		assert_memory_equal(s->v[i].prev_hash, i == 0 ? zero : s->v[i - 1].hash, 32);
		ref_hash(&s->v[i], h);
		assert_memory_equal(s->v[i].hash, h, 32);
	}
	assert_int_equal(store_audit_verify(f->s, &bad), A11_OK);
	assert_int_equal(bad, 0);
	/* iter stops when told. */
	s->n = 0;
	s->stop_after = 3;
	assert_int_equal(store_audit_iter(f->s, collect, s), A11_OK);
	assert_int_equal(s->n, 3);
	free(s);
}

/* Length prefixes keep field boundaries: moving a character from one
 * field to the next changes the hash. */
static void test_encoding_unambiguous(void **state)
{
	struct sfx *f = *state;
	struct store_audit a, b;
	uint8_t hb[32];

	fill(&a, 1);
	fill(&b, 1);
	snprintf(a.event, sizeof(a.event), "ab");
	snprintf(a.code, sizeof(a.code), "c");
	snprintf(b.event, sizeof(b.event), "a");
	snprintf(b.code, sizeof(b.code), "bc");
	assert_int_equal(store_audit_append(f->s, &a), A11_OK);
	memcpy(b.prev_hash, a.prev_hash, 32);
	b.seq = a.seq;
	ref_hash(&b, hb);
	assert_memory_not_equal(a.hash, hb, 32);
	ref_hash(&a, hb);
	assert_memory_equal(a.hash, hb, 32);
}

static void test_args(void **state)
{
	struct sfx *f = *state;
	struct store_audit rec;
	int64_t bad;

	fill(&rec, 1);
	memset(rec.code, 'x', sizeof(rec.code));
	assert_int_equal(store_audit_append(f->s, &rec), A11_ERR_ARG);
	fill(&rec, 1);
	rec.event[0] = '\0';
	assert_int_equal(store_audit_append(f->s, &rec), A11_ERR_ARG);
	assert_int_equal(store_audit_verify(f->s, NULL), A11_ERR_ARG);
	assert_int_equal(store_audit_iter(f->s, NULL, NULL), A11_ERR_ARG);
	assert_int_equal(store_audit_verify(f->s, &bad), A11_OK);
}

/* ---- tampering ------------------------------------------------------------ */

static void expect_broken(struct sfx *f, int64_t want_seq)
{
	int64_t bad = -1;

	assert_int_equal(store_audit_verify(f->s, &bad), A11_ERR_AUDIT);
	assert_int_equal(bad, want_seq);
}

static void drop_guards(struct sfx *f)
{
	assert_int_equal(raw_exec(f, RAW_SQL(f, "DROP TRIGGER audit_no_update;"
					    " DROP TRIGGER audit_no_delete",
					    "DROP TRIGGER audit_no_update ON audit;"
					    " DROP TRIGGER audit_no_delete ON audit")), SQLITE_OK);
}

static void test_tamper_field(void **state)
{
	struct sfx *f = *state;

	append_n(f, 10);
	/* The triggers stop a casual edit... */
	assert_int_equal(raw_exec(f, "UPDATE audit SET code = 'ok' WHERE seq = 3"), SQLITE_CONSTRAINT);
	assert_int_equal(raw_exec(f, "DELETE FROM audit WHERE seq = 3"), SQLITE_CONSTRAINT);
	/* ...the chain catches a deliberate one. */
	drop_guards(f);
	assert_int_equal(raw_exec(f, "UPDATE audit SET code = 'ok' WHERE seq = 3"), SQLITE_OK);
	expect_broken(f, 3);
	assert_int_equal(raw_exec(f, "UPDATE audit SET code = 'pcr_values', policy_version = 99"
				     " WHERE seq = 3"), SQLITE_OK);
	expect_broken(f, 3);
	assert_int_equal(raw_exec(f, "UPDATE audit SET policy_version = 3 WHERE seq = 3"), SQLITE_OK);
	assert_int_equal(store_audit_verify(f->s, &(int64_t){ 0 }), A11_OK);
	assert_int_equal(raw_exec(f, "UPDATE audit SET time = time + 1 WHERE seq = 9"), SQLITE_OK);
	expect_broken(f, 9);
}

static void test_tamper_hash(void **state)
{
	struct sfx *f = *state;

	append_n(f, 10);
	drop_guards(f);
	assert_int_equal(raw_exec(f, RAW_SQL(f, "UPDATE audit SET hash = zeroblob(32) WHERE seq = 6",
					    "UPDATE audit SET hash = decode(repeat('00', 32), 'hex')"
					    " WHERE seq = 6")), SQLITE_OK);
	expect_broken(f, 6);
}

/* Rewriting a record together with a hash that matches it still breaks
 * the link from the next record. */
static void test_tamper_rehashed(void **state)
{
	struct sfx *f = *state;
	struct seen *s = calloc(1, sizeof(*s));
	struct store_audit *r6;

	assert_non_null(s);
	append_n(f, 10);
	drop_guards(f);
	assert_int_equal(store_audit_iter(f->s, collect, s), A11_OK);
	r6 = &s->v[5];
	snprintf(r6->code, sizeof(r6->code), "ok");
	ref_hash(r6, r6->hash);
	raw_text_blob(f, RAW_SQL(f, "UPDATE audit SET code = ?1, hash = ?2 WHERE seq = 6",
				 "UPDATE audit SET code = $1, hash = $2 WHERE seq = 6"),
		      r6->code, r6->hash, 32);
	expect_broken(f, 7);
	free(s);
}

static void test_delete_middle(void **state)
{
	struct sfx *f = *state;

	append_n(f, 10);
	drop_guards(f);
	assert_int_equal(raw_exec(f, "DELETE FROM audit WHERE seq = 5"), SQLITE_OK);
	expect_broken(f, 5);
	assert_int_equal(raw_exec(f, "DELETE FROM audit WHERE seq = 1"), SQLITE_OK);
	expect_broken(f, 1);
}

/* Values this code never writes: a text too long for its field, a NUL
 * hidden in a text (C would cut it, and the hash with it), a short hash. */
static void test_malformed_rows(void **state)
{
	struct sfx *f = *state;

	append_n(f, 10);
	drop_guards(f);
	assert_int_equal(raw_exec(f, "UPDATE audit SET event = 'release-with-a-long-tail'"
				     " WHERE seq = 4"), SQLITE_OK);
	expect_broken(f, 4);
	assert_int_equal(raw_exec(f, "UPDATE audit SET event = 'release' WHERE seq = 4"), SQLITE_OK);
	assert_int_equal(store_audit_verify(f->s, &(int64_t){ 0 }), A11_OK);
	/* PostgreSQL's text cannot hold a NUL at all. */
	if (!f->pg) {
		assert_int_equal(raw_exec(f, "UPDATE audit SET code = 'ok' || char(0) || 'x'"
					     " WHERE seq = 2"), SQLITE_OK);
		expect_broken(f, 2);
		assert_int_equal(raw_exec(f, "UPDATE audit SET code = 'ok' WHERE seq = 2"), SQLITE_OK);
	}
	assert_int_equal(raw_exec(f, RAW_SQL(f, "UPDATE audit SET prev_hash = x'00' WHERE seq = 8",
					    "UPDATE audit SET prev_hash = '\\x00' WHERE seq = 8")),
			 SQLITE_OK);
	expect_broken(f, 8);
}

/* ---- concurrency ---------------------------------------------------------- */

#define THREADS 4
#define EACH 50

struct worker {
	struct store *s;
	int id;
	int64_t seqs[EACH];
	a11_err r;
};

static void *append_worker(void *arg)
{
	struct worker *w = arg;
	struct store_audit rec;

	for (int i = 0; i < EACH && w->r == A11_OK; i++) {
		fill(&rec, w->id * 1000 + i);
		w->r = store_audit_append(w->s, &rec);
		w->seqs[i] = rec.seq;
	}
	return NULL;
}

static void run_workers(struct store *const *stores, int nstores, int total)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	bool *hit = calloc((size_t)total + 1, 1);

	assert_non_null(hit);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = stores[i % nstores], .id = i, .r = A11_OK };
		assert_int_equal(pthread_create(&t[i], NULL, append_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].r, A11_OK);
		/* Each append got its own seq, increasing within a thread. */
		for (int j = 0; j < EACH; j++) {
			assert_true(w[i].seqs[j] >= 1 && w[i].seqs[j] <= total);
			assert_false(hit[w[i].seqs[j]]);
			hit[w[i].seqs[j]] = true;
			assert_true(j == 0 || w[i].seqs[j] > w[i].seqs[j - 1]);
		}
	}
	free(hit);
}

static void check_contiguous(struct sfx *f, int total)
{
	struct seen *s = calloc(1, sizeof(*s));
	int64_t bad = -1;

	assert_non_null(s);
	assert_true(total <= 256);
	assert_int_equal(store_audit_verify(f->s, &bad), A11_OK);
	assert_int_equal(store_audit_iter(f->s, collect, s), A11_OK);
	assert_int_equal(s->n, total);
	for (int i = 0; i < total; i++)
		assert_int_equal(s->v[i].seq, i + 1);
	free(s);
}

static void test_concurrent_threads(void **state)
{
	struct sfx *f = *state;

	run_workers(&f->s, 1, THREADS * EACH);
	check_contiguous(f, THREADS * EACH);
}

/* Two connections to one file, as two broker processes would have: the
 * append transaction (BEGIN IMMEDIATE) keeps them one chain. */
static void test_concurrent_connections(void **state)
{
	struct sfx *f = *state;
	struct store *two[2] = { f->s, NULL };

	assert_int_equal(store_open(f->uri, &two[1]), A11_OK);
	run_workers(two, 2, THREADS * EACH);
	store_close(two[1]);
	check_contiguous(f, THREADS * EACH);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_chain),
		T(test_encoding_unambiguous),
		T(test_args),
		T(test_tamper_field),
		T(test_tamper_hash),
		T(test_tamper_rehashed),
		T(test_delete_middle),
		T(test_malformed_rows),
		T(test_concurrent_threads),
		T(test_concurrent_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
