/* The module's side of a lease that a hostile broker shaped
 * (src/p11/token_lease.c): the renewal time stays inside the lease whatever the
 * numbers, and nothing that fails validation reaches the state directory,
 * where the host's other processes would trust it without the network. */
#include <stdint.h>
#include <sys/stat.h>

#include "cert_fixture.h"
#include "proto_fixture.h"
#include "tmpdir_fixture.h"
#include "../../src/p11/locks.h"
#include "../../src/p11/token_lease.h"

static struct p11_token_conf tconf = { .label = "web", .credential = "web" };

static int64_t due(int64_t approved, int64_t expires, long percent)
{
	struct p11_token t;

	memset(&t, 0, sizeof(t));
	t.conf = &tconf;
	t.cred.rel.lease_approved = approved;
	t.cred.rel.lease_expires = expires;
	mod.conf.renew_at_percent = percent;
	return lease_renew_due(&t.cred.rel);
}

/* No overflow (UBSan aborts on one) and the time within the lease. */
static void test_renew_due_bounded(void **state)
{
	static const int64_t ends[][2] = {
		{ 0, INT64_MAX }, { 1795400000, INT64_MAX }, { INT64_MAX - 1, INT64_MAX },
		{ 0, PROTO_TIME_MAX }, { -5, INT64_MAX }, { INT64_MIN, 10 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		for (long pct = 10; pct <= 95; pct += 85) {
			int64_t d = due(ends[i][0], ends[i][1], pct);

			if (d != 0 && (d < ends[i][0] || d > ends[i][1]))
				fail_msg("lease %lld..%lld at %ld%%: renewal at %lld",
					 (long long)ends[i][0], (long long)ends[i][1], pct,
					 (long long)d);
		}
	assert_int_equal(due(1795400000, 1795403600, 67), 1795400000 + 2412);
	assert_int_equal(due(1795400000, 1795400000, 67), 0);
	assert_int_equal(due(1795400000, 1795399999, 67), 0);
}

/* A login's or renewal's release, in t->cred as the attester left it. */
static void released(struct p11_token *t, EVP_PKEY *cert_key, EVP_PKEY *key)
{
	memset(t, 0, sizeof(*t));
	t->conf = &tconf;
	fx_rel(&t->cred.rel, 0, false);
	fx_key_pub(key, &t->cred.rel.pub);
	t->cred.key.pub = t->cred.rel.pub;
	t->cred.rel.certs[0] = fx_cert_for(cert_key, &t->cred.rel.cert_len[0]);
	t->cred.rel.cert_count = 1;
	t->cred.priv.size = 100;
	fx_fill(t->cred.priv.buffer, 100, 9);
	t->cred.srk_alg = TPM2_ALG_ECC;
}

static bool shared(const struct tmpdir *d)
{
	char path[PATH_MAX];
	struct stat st;

	tmpdir_file(d, "web.lease", path);
	return stat(path, &st) == 0;
}

/* Validate before sharing: a release whose certificate does not parse,
 * or is for another key, never reaches the state directory, so the
 * host's other processes (and this one's next login) attest afresh
 * instead of failing on it until the lease ends. */
static void test_share_only_valid(void **state)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	struct p11_token t;
	struct tmpdir d;

	(void)state;
	assert_non_null(key);
	assert_non_null(other);
	tmpdir_make(&d);
	snprintf(mod.conf.state_dir, sizeof(mod.conf.state_dir), "%s", d.path);
	/* What a login holds when it shares (src/p11/locks.h); one thread. */
	lock_note(LOCK_FLOCK);
	lock_note(LOCK_TPM);
	released(&t, key, key);
	t.cred.rel.certs[0][0] = 0x31; /* garbage DER */
	assert_int_not_equal(lease_share_intpm(&t), A11_OK);
	assert_false(shared(&d));
	release_clear(&t.cred.rel);
	released(&t, other, key);      /* a certificate for another key */
	assert_int_not_equal(lease_share_intpm(&t), A11_OK);
	assert_false(shared(&d));
	release_clear(&t.cred.rel);
	released(&t, key, key);
	assert_int_equal(lease_share_intpm(&t), A11_OK);
	assert_true(shared(&d));
	release_clear(&t.cred.rel);
	unlock_note(LOCK_TPM);
	unlock_note(LOCK_FLOCK);
	tmpdir_remove(&d);
	mod.conf.state_dir[0] = '\0';
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_renew_due_bounded),
		cmocka_unit_test(test_share_only_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
