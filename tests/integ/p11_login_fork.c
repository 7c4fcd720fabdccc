/* fork() while a login waits for the broker (driven by
 * tests/integ/fault.sh, which stops the broker with SIGSTOP first):
 *   p11_login_fork LABEL PIN
 * starts C_Login in a thread (no lease in the state dir: it attests),
 * prints "login started", reads one line from stdin (the script's word
 * that the login is on the network), forks (the child exits at once),
 * prints "forked", waits for the login and prints "login rv=0x..", reads
 * another line (the script looks at the login's HTTPS connection
 * meanwhile), then signs and prints "sign rv=0x..". The order of "forked"
 * and "login rv" says whether fork() waited for the login. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11_driver.h"

static CK_SESSION_HANDLE h;
static const char *pin;

static void *login(void *arg)
{
	CK_RV rv = f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));

	(void)arg;
	printf("login rv=0x%lx\n", rv);
	fflush(stdout);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	pid_t pid;
	char line[16];

	if (argc != 3 || p11_session(argv[1], &h) != 0) {
		fprintf(stderr, "usage: A11_MODULE=SO p11_login_fork LABEL PIN\n");
		return 2;
	}
	pin = argv[2];
	if (pthread_create(&th, NULL, login, NULL) != 0)
		return 2;
	printf("login started\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 2;
	if ((pid = fork()) == 0)
		_exit(0);
	printf("forked\n");
	fflush(stdout);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	pthread_join(th, NULL);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 2;
	printf("sign rv=0x%lx\n", sign_once(h, private_key(h)));
	f->C_Logout(h);
	f->C_Finalize(NULL);
	return 0; /* no dlclose: the module's OpenSSL context lives until exit */
}
