/* fork() while a login waits for the broker (driven by
 * tests/integ/fault.sh, which stops the broker with SIGSTOP first):
 *   p11_login_fork LABEL PIN
 * starts C_Login in a thread (no lease in the state dir: it attests),
 * prints "login started", reads one line from stdin (the script's word
 * that the login is on the network), forks (the child exits at once),
 * prints "forked", waits for the login and prints "login rv=0x..", reads
 * another line (the script looks at the login's HTTPS connection
 * meanwhile), then signs and prints "sign rv=0x..". The order of "forked"
 * and "login rv" says whether fork() waited for the login.
 * With A11_CHILD_LOGIN set, the child logs in on the host's lease and
 * signs (C_Initialize afresh) and the parent prints "child status=N"
 * (0: it did): a child that got a lock copied held would hang or fail
 * (with A11_CHILD_CONF, the child's C_Initialize reads that configuration). */
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

/* In the fork child: C_Initialize afresh, log in, sign. */
static int child_login(const char *label)
{
	CK_C_INITIALIZE_ARGS os = { .flags = CKF_OS_LOCKING_OK };
	CK_SESSION_HANDLE c;
	CK_SLOT_ID slot;

	/* A11_CHILD_CONF: the child's configuration (C_Initialize reads it
	 * afresh), e.g. another TCTI than the parent's. */
	if (getenv("A11_CHILD_CONF") != NULL)
		setenv("ATTEST11_CONF", getenv("A11_CHILD_CONF"), 1);
	if (f->C_Initialize((CK_VOID_PTR)&os) != CKR_OK ||
	    (slot = find_slot(label)) == (CK_SLOT_ID)-1 ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &c) != CKR_OK ||
	    f->C_Login(c, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
		return 1;
	return sign_once(c, private_key(c)) == CKR_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	pthread_t th;
	pid_t pid;
	int status;
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
		_exit(getenv("A11_CHILD_LOGIN") ? child_login(argv[1]) : 0);
	printf("forked\n");
	fflush(stdout);
	if (pid > 0 && waitpid(pid, &status, 0) == pid && getenv("A11_CHILD_LOGIN"))
		printf("child status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	pthread_join(th, NULL);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 2;
	printf("sign rv=0x%lx\n", sign_once(h, private_key(h)));
	f->C_Logout(h);
	f->C_Finalize(NULL);
	return 0; /* no dlclose: the module's OpenSSL context lives until exit */
}
