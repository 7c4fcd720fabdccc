/* The module's lock order (src/p11/locks.h) is checked, not only written
 * down: each case runs in a forked child; a broken rule must end it with
 * SIGABRT, the right order must let it exit 0. */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "../../src/p11/locks.h"
#include "../../src/p11/p11.h"
#include "../../src/p11/token_tpm.h"

static struct p11_token *tok(size_t i)
{
	return &mod.tokens[i];
}

/* How fn ended in a child: the signal that killed it, or 0 for exit 0. */
static int run(void (*fn)(void))
{
	int status;
	pid_t p = fork();

	assert_true(p >= 0);
	if (p == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(p, &status, 0), p);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Every rank, in the order of locks.h; released in any order. */
static void right_order(void)
{
	lock_renew(tok(0));
	lock_note(LOCK_FLOCK);
	lock_tpm(tok(0));
	lock_note(LOCK_RTHREAD);
	lock_mod();
	lock_assert(LOCK_TPM);
	unlock_tpm(tok(0));
	unlock_mod();
	unlock_note(LOCK_RTHREAD);
	unlock_note(LOCK_FLOCK);
	unlock_renew(tok(0));
	/* A later rank after letting go of an earlier one. */
	lock_mod();
	unlock_mod();
	lock_tpm(tok(1));
	unlock_tpm(tok(1));
}

static void renew_after_tpm(void)
{
	lock_tpm(tok(0));
	lock_renew(tok(0));
}

/* What a login did before: waiting for another process's flock while
 * holding tpm_lock, which fork() needs. */
static void flock_after_tpm(void)
{
	lock_tpm(tok(0));
	lock_note(LOCK_FLOCK);
}

static void tpm_after_mod(void)
{
	lock_mod();
	lock_tpm(tok(0));
}

static void rthread_after_mod(void)
{
	lock_mod();
	lock_note(LOCK_RTHREAD);
}

/* Two tokens' tpm_lock at once: only fork's lock_tpm_all may. */
static void two_tpm_locks(void)
{
	lock_tpm(tok(0));
	lock_tpm(tok(1));
}

static void unlock_not_held(void)
{
	unlock_tpm(tok(0));
}

/* An _intpm function entered without tpm_lock. */
static void intpm_without_tpm(void)
{
	token_tpm_drop_intpm(tok(0), false);
}

static void inlock_without_mod(void)
{
	lock_tpm(tok(0));
	lock_assert(LOCK_MOD);
}

static void test_right_order(void **state)
{
	(void)state;
	assert_int_equal(run(right_order), 0);
}

static void test_wrong_order_aborts(void **state)
{
	void (*const cases[])(void) = { renew_after_tpm, flock_after_tpm, tpm_after_mod,
					 rthread_after_mod, two_tpm_locks };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (run(cases[i]) != SIGABRT)
			fail_msg("case %zu: out of order, and not aborted", i);
}

static void test_missing_lock_aborts(void **state)
{
	(void)state;
	assert_int_equal(run(unlock_not_held), SIGABRT);
	assert_int_equal(run(intpm_without_tpm), SIGABRT);
	assert_int_equal(run(inlock_without_mod), SIGABRT);
}

static int setup(void **state)
{
	(void)state;
	p11_mutex_use(NULL);
	p11_mutex_init(&mod.lock);
	mod.n_tokens = 2;
	for (size_t i = 0; i < mod.n_tokens; i++) {
		p11_mutex_init(&tok(i)->renew_lock);
		p11_mutex_init(&tok(i)->tpm_lock);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < mod.n_tokens; i++) {
		p11_mutex_destroy(&tok(i)->renew_lock);
		p11_mutex_destroy(&tok(i)->tpm_lock);
	}
	p11_mutex_destroy(&mod.lock);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_right_order),
		cmocka_unit_test(test_wrong_order_aborts),
		cmocka_unit_test(test_missing_lock_aborts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
