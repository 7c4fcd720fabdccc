/* fork() while a renewal waits for the broker (driven by
 * tests/integ/fault.sh, which stops the broker with SIGSTOP):
 *   p11_fork LABEL PIN FORK_AT RENEW_WAIT
 * logs in, sleeps until FORK_AT seconds after the login (the renewal is
 * then due and stuck in its HTTP request), forks (the child exits at
 * once), prints "fork ms N" (how long fork() took in the parent), then
 * waits up to RENEW_WAIT seconds for the lease expiry the private key
 * shows to move (the renewal, done on a reopened TPM connection once the
 * broker runs again), signs, and prints "renewed after fork" and
 * "sign rv=0x..". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p11_driver.h"


/* fork() in the parent, timed; the child leaves at once, untouched. */
static double timed_fork(void)
{
	double t = now();
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	t = now() - t;
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid > 0 ? t * 1e3 : -1;
}

int main(int argc, char **argv)
{
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE k;
	CK_ULONG before;
	double t0 = now(), until;

	if (argc != 5 || p11_session(argv[1], &h) != 0 ||
	    f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2])) != CKR_OK ||
	    (k = private_key(h)) == CK_INVALID_HANDLE) {
		fprintf(stderr, "usage: A11_MODULE=SO p11_fork LABEL PIN FORK_AT RENEW_WAIT "
				"(or the login failed)\n");
		return 2;
	}
	before = lease_expires(h, k);
	printf("logged in\n");
	fflush(stdout);
	while (now() - t0 < atof(argv[3]))
		usleep(10000);
	printf("fork ms %.0f\n", timed_fork());
	fflush(stdout);
	for (until = now() + atof(argv[4]); now() < until && lease_expires(h, k) == before;)
		usleep(100000);
	if (lease_expires(h, k) != before)
		printf("renewed after fork\n");
	printf("sign rv=0x%lx\n", sign_once(h, k));
	f->C_Logout(h);
	f->C_Finalize(NULL);
	return 0; /* no dlclose: the module's OpenSSL context lives until exit */
}
