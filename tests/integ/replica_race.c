/* Exchanges split over two brokers on one database (driven by
 * tests/integ/replica.sh), by a simulated TPM host (src/simhost) whose EK
 * certificate the EK CA in EKCA_KEY/EKCA_CERT issues:
 *   replica_race URL_A URL_B CA EKCA_KEY EKCA_CERT split CRED
 *     challenge on A, evidence on B: "released"; the same evidence again
 *     to A: "again CODE"
 *   ... twice CRED ROUNDS
 *     per round a challenge (on A, then B, ...) whose evidence goes to A
 *     and B at the same moment: "released N reused N other N"
 *   ... revoke CRED ADMIN...
 *     released on A, renewed on B ("renewal 1 released"), ADMIN... LEASE
 *     run (the revocation), renewed on B again: "renewal 2 CODE"
 *   ... once CRED PIN (URL_A only)
 *     one exchange: "released" or "refused CODE"
 * Exit 0 unless something could not be run at all. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/pem.h>

#include "../../src/attester/client.h"
#include "../../src/simhost/simhost.h"

static const char *url[2], *ca;
static struct simhost *host;

struct exchange {
	struct challenge_req req;
	struct challenge_resp chal;
	struct evidence_req ev;
	struct release rel;
	char *evidence;            /* the encoded evidence, sent as often as asked */
};

static struct exchange x;

/* POST json to broker i: 200 -> body (caller frees), else the problem
 * code in code ("transport" if none came back). */
static char *post(int i, const char *path, const char *json, char *code, size_t cap)
{
	struct client *c;
	struct client_response resp;
	char detail[256];
	char *body = NULL;

	snprintf(code, cap, "transport");
	if (client_open(url[i], ca, 5000, 30000, &c) != A11_OK)
		return NULL;
	if (client_post(c, path, json, &resp) == A11_OK) {
		if (resp.status == 200)
			body = resp.body;
		else if (problem_decode(resp.body ? resp.body : "", resp.len, code, cap, detail,
					sizeof(detail)) != A11_OK)
			snprintf(code, cap, "http_%ld", resp.status);
		if (body == NULL)
			free(resp.body);
	}
	client_close(c);
	return body;
}

/* A challenge from broker i (lease: a renewal's), its evidence encoded;
 * -1 and the refusal in code if there is none. */
static int challenge(int i, const char *cred, const char *lease, const char *pin, char *code,
		     size_t cap)
{
	const struct simhost_evidence_opts opts = { .pin = pin, .keep_key = lease != NULL };
	char *body, *json;
	int rc = -1;

	free(x.evidence);
	x.evidence = NULL;
	if (simhost_challenge_req(host, cred, lease, &x.req) != A11_OK ||
	    (json = challenge_req_encode(&x.req)) == NULL)
		return -1;
	body = post(i, "/v1/challenge", json, code, cap);
	free(json);
	if (body == NULL)
		return -1;
	snprintf(code, cap, "evidence_not_made");
	if (challenge_resp_decode(body, strlen(body), &x.chal) == A11_OK &&
	    simhost_evidence(host, &x.chal, &opts, &x.ev) == A11_OK &&
	    (x.evidence = evidence_req_encode(&x.ev)) != NULL)
		rc = 0;
	free(body);
	return rc;
}

/* The evidence to broker i: 1 released and checked, 0 refused (code). */
static int evidence(int i, char *code, size_t cap)
{
	char *body = post(i, "/v1/evidence", x.evidence, code, cap);
	int ok = 0;

	if (body == NULL)
		return 0;
	release_clear(&x.rel);
	ok = release_decode(body, strlen(body), &x.rel) == A11_OK &&
	     simhost_release_check(host, &x.chal, &x.rel) == A11_OK;
	if (!ok)
		snprintf(code, cap, "release_not_checked");
	free(body);
	return ok;
}

static void say(const char *what, int ok, const char *code)
{
	printf("%s %s\n", what, ok ? "released" : code);
}

static int split(const char *cred)
{
	char code[64];
	int ok;

	if (challenge(0, cred, NULL, NULL, code, sizeof(code)) != 0)
		return 1;
	say("split", evidence(1, code, sizeof(code)), code);
	ok = evidence(0, code, sizeof(code));
	say("again", ok, code);
	return 0;
}

struct racer {
	int i, ok;
	char code[64];
};

static void *race(void *arg)
{
	struct racer *r = arg;

	r->ok = evidence(r->i, r->code, sizeof(r->code));
	return NULL;
}

/* Both at once: two threads, each its own client. */
static int twice(const char *cred, int rounds)
{
	int released = 0, reused = 0, other = 0;
	char code[64];

	for (int n = 0; n < rounds; n++) {
		struct racer r[2] = { { .i = 0 }, { .i = 1 } };
		pthread_t t[2];

		if (challenge(n % 2, cred, NULL, NULL, code, sizeof(code)) != 0)
			return 1;
		for (int k = 0; k < 2; k++)
			pthread_create(&t[k], NULL, race, &r[k]);
		for (int k = 0; k < 2; k++) {
			pthread_join(t[k], NULL);
			released += r[k].ok;
			reused += !r[k].ok && strcmp(r[k].code, "nonce_reused") == 0;
			other += !r[k].ok && strcmp(r[k].code, "nonce_reused") != 0;
			if (!r[k].ok && strcmp(r[k].code, "nonce_reused") != 0)
				fprintf(stderr, "round %d: %s\n", n, r[k].code);
		}
	}
	printf("released %d reused %d other %d\n", released, reused, other);
	return 0;
}

static int run_admin(char **argv, const char *lease)
{
	int n = 0, st = -1;
	char **args;
	pid_t p;

	while (argv[n] != NULL)
		n++;
	if ((args = calloc((size_t)n + 2, sizeof(*args))) == NULL)
		return -1;
	memcpy(args, argv, (size_t)n * sizeof(*args));
	args[n] = (char *)lease;
	if ((p = fork()) == 0) {
		execvp(args[0], args);
		_exit(127);
	}
	free(args);
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int renew_revoked(const char *cred, char **admin)
{
	char code[64], lease[PROTO_LEASE_MAX + 1];
	int ok;

	if (challenge(0, cred, NULL, NULL, code, sizeof(code)) != 0 ||
	    !evidence(0, code, sizeof(code))) {
		printf("release %s\n", code);
		return 1;
	}
	snprintf(lease, sizeof(lease), "%s", x.rel.lease);
	ok = challenge(1, cred, lease, NULL, code, sizeof(code)) == 0 &&
	     evidence(1, code, sizeof(code));
	say("renewal 1", ok, code);
	if (run_admin(admin, lease) != 0)
		return 1;
	ok = challenge(1, cred, lease, NULL, code, sizeof(code)) == 0 &&
	     evidence(1, code, sizeof(code));
	say("renewal 2", ok, code);
	return 0;
}

static int once(const char *cred, const char *pin)
{
	char code[64];

	if (challenge(0, cred, NULL, pin, code, sizeof(code)) == 0 && evidence(0, code, sizeof(code)))
		printf("released\n");
	else
		printf("refused %s\n", code);
	return 0;
}

static int load_host(const char *key_path, const char *cert_path)
{
	FILE *k = fopen(key_path, "r"), *c = fopen(cert_path, "r");
	EVP_PKEY *key = k ? PEM_read_PrivateKey(k, NULL, NULL, NULL) : NULL;
	X509 *cert = c ? PEM_read_X509(c, NULL, NULL, NULL) : NULL;
	int rc = key && cert && simhost_new(SIMHOST_EK_P256, key, cert, &host) == A11_OK ? 0 : -1;

	if (k != NULL)
		fclose(k);
	if (c != NULL)
		fclose(c);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc < 8) {
		fprintf(stderr, "usage: see the comment at the top of replica_race.c\n");
		return 2;
	}
	url[0] = argv[1];
	url[1] = argv[2];
	ca = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (load_host(argv[4], argv[5]) != 0)
		return 1;
	if (strcmp(argv[6], "split") == 0)
		rc = split(argv[7]);
	else if (strcmp(argv[6], "twice") == 0 && argc == 9)
		rc = twice(argv[7], atoi(argv[8]));
	else if (strcmp(argv[6], "revoke") == 0 && argc > 8)
		rc = renew_revoked(argv[7], argv + 8);
	else if (strcmp(argv[6], "once") == 0 && argc == 9)
		rc = once(argv[7], argv[8]);
	free(x.evidence);
	release_clear(&x.rel);
	OPENSSL_cleanse(&x, sizeof(x));
	simhost_free(host);
	return rc;
}
