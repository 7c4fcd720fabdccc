/* attest11-load: K simulated TPM hosts (src/simhost) attesting to a real
 * broker over HTTPS, in closed loop, open loop or a spike; every release
 * checked as a TPM would take it, then dropped (docs/performance.md,
 * "Capacity"). Its options and their usage are the table below. */
#include <stdio.h>
#include <sys/resource.h>
#include <openssl/crypto.h>

#include "../common/cli.h"
#include "load.h"

/* A spike holds a connection per host: allow as many descriptors as the
 * hard limit lets, rather than fail at the soft limit's 1024. */
static void raise_fd_limit(void)
{
	struct rlimit l;

	if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
		l.rlim_cur = l.rlim_max;
		setrlimit(RLIMIT_NOFILE, &l);
	}
}

static int run(void *ctx, int argc, char **argv)
{
	struct load_config c;
	struct load_stats st = { 0 };
	double seconds = 0, cpu0 = -1, cpu1 = -1;
	int rc;

	(void)ctx;
	if ((rc = load_parse(argc, argv, &c)) != 0)
		return rc;
	raise_fd_limit();
	if (c.broker_pid != 0 && (cpu0 = load_cpu_ms(c.broker_pid)) < 0)
		fprintf(stderr, "--broker-pid %ld: no /proc/%ld/stat\n", c.broker_pid, c.broker_pid);
	if (load_run(&c, &st, &seconds) != 0) {
		rc = 1;
		goto out;
	}
	if (cpu0 >= 0 && (cpu1 = load_cpu_ms(c.broker_pid)) >= 0)
		cpu1 -= cpu0;
	rc = load_report(&c, &st, seconds, cpu1);
out:
	load_stats_clear(&st);
	OPENSSL_cleanse(&c, sizeof(c)); /* the PIN */
	return rc;
}

/* The only place the options and their usage are written. */
static const struct cli_cmd cmds[] = {
	{ "", "--broker URL[,URL...] --ca FILE --ek-ca-key PEM --ek-ca-cert PEM\n"
	  "--credential NAME[,NAME...] [--credential NAME...] [--pin-file F]\n"
	  "[--hosts K] [--ek p256|p384|rsa] [--mode closed|open|spike]\n"
	  "[--concurrency C] [--rate R] [--duration S] [--count N] [--renew]\n"
	  "[--new-connections [--full-handshakes]] [--broker-pid PID] [--allow-refusal CODE[,CODE...]]\n"
	  "[--timeout-ms MS] [--json]",
	  "attest K simulated TPM hosts to the broker; exit 0 only if every release\n"
	  "  checked and nothing failed or was refused (but --allow-refusal codes);\n"
	  "  a 503 (busy, store_busy) is retried, counted as retried_after_503", -1, run },
};

static const struct cli load_cli = {
	"attest11-load", "", "See attest11-load(1) and docs/performance.md, \"Capacity\".\n", cmds,
	sizeof(cmds) / sizeof(cmds[0]),
};

int main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	int rc;

	if ((cmd = cli_find(&load_cli, &argc, &argv, &rc)) == NULL)
		return rc;
	return cli_run(&load_cli, cmd, NULL, argc, argv);
}
