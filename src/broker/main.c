/* attest11-broker: the Credential Broker (RATS Relying Party with a
 * built-in Verifier). `serve` runs it; the other commands administer it. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/cli.h"
#include "../common/log.h"
#include "../proto/proto.h"
#include "admin.h"
#include "admit.h"
#include "api.h"
#include "approver.h"
#include "config.h"
#include "ear.h"
#include "http.h"
#include "privkey.h"
#include "secrets.h"
#include "store.h"

/* A key is created when missing and kept when present, so that running
 * init again completes a directory made by an older version (one without
 * the approver key, say) and never replaces a key someone relies on. */
static int keep_or_make(a11_err r, const char *what, const char *path)
{
	if (r == A11_OK || r == A11_ERR_EXISTS) {
		printf("  %-13s %s%s\n", what, path, r == A11_OK ? "" : " (kept)");
		return 0;
	}
	fprintf(stderr, "init: cannot create the %s %s: %s\n", what, path, a11_strerror(r));
	return -1;
}

static int cmd_init(void *ctx, int argc, char **argv)
{
	const struct broker_config *c = ctx;
	struct store *s = NULL;

	(void)argc, (void)argv;

	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "cannot create %s: %s\n", c->dir, strerror(errno));
		return 1;
	}
	printf("initialized %s\n", c->dir);
	if (keep_or_make(secrets_create(c->master_key), "master key", c->master_key) ||
	    keep_or_make(ear_keygen(c->verifier_key, c->verifier_pub), "verifier key",
			 c->verifier_key) ||
	    keep_or_make(approver_keygen(c->approver_key, c->approver_pub), "approver key",
			 c->approver_key) ||
	    keep_or_make(store_open(c->database, &s), "database", c->database))
		return 1;
	store_close(s);
	printf("public keys: %s (attestation results), %s (lease approvals)\n"
	       "put the TLS certificate and key at %s and %s\n", c->verifier_pub, c->approver_pub,
	       c->tls_cert, c->tls_key);
	return 0;
}

static int write_port(const char *file, uint16_t port)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (file == NULL)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%u\n", port);
	/* Readers poll for the file: rename makes it appear complete. */
	return fclose(f) == 0 && rename(tmp, file) == 0 ? 0 : -1;
}

/* Run until SIGTERM or SIGINT; prune expired sessions once a minute. */
static void wait_for_signal(struct store *s)
{
	const struct timespec minute = { 60, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &minute);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("signal %d: shutting down", sig);
			return;
		}
		store_session_prune(s, (int64_t)time(NULL) - 60);
	}
}

/* Leases from before schema 5 were made under the one approver key there
 * was, which is the current one until the first rotation (the rolling
 * procedure starts only once every replica runs this version). */
static a11_err bind_old_leases(struct broker *b)
{
	uint8_t name[APPROVER_NAME_LEN];
	size_t n = 0;
	a11_err r;

	approver_name(b->approver, name);
	if ((r = store_lease_bind_approver(b->store, name, &n)) != A11_OK)
		fprintf(stderr, "cannot bind the leases to the approver key: %s\n",
			a11_strerror(r));
	else if (n > 0)
		log_info("%zu lease(s) from before schema 5 bound to the current approver key", n);
	return r;
}

static int serve(const struct broker_config *c, const char *port_file)
{
	struct broker b = { .nonce_ttl = c->nonce_ttl };
	const struct http_config hc = { c->listen, c->port, c->tls_cert, c->tls_key, c->threads,
					PROTO_MAX_BODY, "/v1/evidence", PROTO_EVIDENCE_MAX_BODY,
					c->timeout };
	struct http_server *srv = NULL;
	sigset_t set;
	int rc = 1;

	/* Block the shutdown signals before any thread starts, so only
	 * sigtimedwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (admit_new(c->max_pending, c->nonce_ttl, &b.admit) != A11_OK ||
	    store_open(c->database, &b.store) != A11_OK ||
	    config_master_keys(c, &b.secrets) != A11_OK ||
	    ear_signer_load(c->verifier_key, &b.ear) != A11_OK ||
	    config_approvers(c, &b.approver) != A11_OK) {
		fprintf(stderr, "cannot load the broker's keys or database in %s (run init?)\n",
			c->dir);
		goto out;
	}
	if (bind_old_leases(&b) != A11_OK)
		goto out;
	if (http_start(&hc, api_handle, api_observe, &b, &srv) != A11_OK) {
		fprintf(stderr, "cannot listen on %s:%u with %s\n", c->listen, c->port, c->tls_cert);
		goto out;
	}
	log_info("listening on %s:%u", c->listen, http_port(srv));
	if (write_port(port_file, http_port(srv)) != 0) {
		fprintf(stderr, "cannot write %s\n", port_file);
		goto out;
	}
	wait_for_signal(b.store);
	rc = 0;
out:
	http_stop(srv);
	ear_signer_free(b.ear);
	approver_free(b.approver);
	secrets_free(b.secrets);
	store_close(b.store);
	admit_free(b.admit);
	return rc;
}

static int cmd_serve(void *ctx, int argc, char **argv)
{
	struct broker_config *c = ctx;
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port_file = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'p')
			c->port = (uint16_t)strtoul(optarg, NULL, 10);
		else if (o == 'f')
			port_file = optarg;
		else
			return 2;
	}
	return optind == argc ? serve(c, port_file) : 2;
}

/* The only place the commands and their usage are written. */
static const struct cli_cmd cmds[] = {
	{ "init", "", "create the keys and the database in DIR (keeps what exists)", 0, cmd_init },
	{ "serve", "[--port N] [--port-file F]", "serve the protocol over HTTPS until SIGTERM",
	  -1, cmd_serve },
	{ "credential add", "NAME --kind repository|ca|token --policy FILE\n"
	  "[--key PEM] [--chain PEM] [--token FILE] [--pin-file FILE]",
	  "store a credential, or replace the one of that name", -1, admin_cred_add },
	{ "credential list", "", "one line per credential", 0, admin_cred_list },
	{ "credential remove", "NAME", "delete a credential with its sessions and leases", 1,
	  admin_cred_remove },
	{ "credential policy", "NAME FILE", "make FILE the credential's policy", 2,
	  admin_cred_policy },
	{ "credential pin", "NAME --pin-file FILE | --none", "set or remove the PIN", -1,
	  admin_cred_pin },
	{ "credential unlock", "NAME", "clear the PIN failure count and lock", 1,
	  admin_cred_unlock },
	{ "policy from-eventlog", "LOG",
	  "print the event rules a known-good host's boot log satisfies, to review", 1,
	  admin_policy_from_eventlog },
	{ "lease list", "", "every lease", 0, admin_lease_list },
	{ "lease revoke", "ID | --credential NAME | --ek EK-HASH",
	  "revoke a lease, or every lease of a credential or of a TPM", -1, admin_lease_revoke },
	{ "audit verify", "", "recompute the audit hash chain", 0, admin_audit_verify },
	{ "audit export", "", "print the audit log, one JSON object per record", 0,
	  admin_audit_export },
	{ "master-key new", "FILE", "create a master key file and print its id", 1,
	  admin_master_key_new },
	{ "master-key rekey", "",
	  "re-seal every credential under the current master key (replicas may serve)", 0,
	  admin_master_key_rekey },
	{ "master-key rotate", "NEW-KEY-FILE",
	  "re-seal every credential under a new master key (one broker, stopped)", 1,
	  admin_master_key_rotate },
};

static const struct cli broker_cli = {
	"attest11-broker", "[-d DIR] ",
	"DIR defaults to $ATTEST11_BROKER_DIR, else /var/lib/attest11-broker.\n",
	cmds, sizeof(cmds) / sizeof(cmds[0]),
};

int main(int argc, char **argv)
{
	struct broker_config c;
	const char *dir = getenv("ATTEST11_BROKER_DIR");
	const struct cli_cmd *cmd;
	int rc;

	/* Before any allocation by OpenSSL, jansson or cjose (privkey.h). */
	if (privkey_wipe_heap() != 0) {
		fputs("attest11-broker: cannot install the wiping allocator\n", stderr);
		return 1;
	}
	if (argc > 2 && strcmp(argv[1], "-d") == 0) {
		dir = argv[2];
		argv[2] = argv[0];
		argc -= 2;
		argv += 2;
	}
	if ((cmd = cli_find(&broker_cli, &argc, &argv, &rc)) == NULL)
		return rc;
	if (config_load(dir ? dir : "/var/lib/attest11-broker", &c) != A11_OK) {
		fprintf(stderr, "bad configuration in %s\n", dir);
		return 1;
	}
	return cli_run(&broker_cli, cmd, &c, argc, argv);
}
