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
 *   ... front TLS_CERT TLS_KEY PORT_FILE (URL_A only; the host is unused)
 *     a broker that dies after using the session: an HTTPS front on a
 *     free loopback port (written to PORT_FILE) that forwards every POST
 *     to URL_A and passes the answer on, except that of /v1/evidence,
 *     which it drops for a 502; until SIGTERM
 * Exit 0 unless something could not be run at all. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <microhttpd.h>
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

/* The front's request: its body so far. */
struct upload {
	char *body;
	size_t len;
};

static enum MHD_Result front_answer(void *cls, struct MHD_Connection *conn, const char *path,
				    const char *method, const char *version, const char *data,
				    size_t *size, void **con_cls)
{
	struct upload *u = *con_cls;
	struct MHD_Response *m;
	char code[64], empty[] = "{}", *body;
	enum MHD_Result ret;
	int status = 502;

	(void)cls, (void)method, (void)version;
	if (u == NULL) {
		*con_cls = calloc(1, sizeof(*u));
		return *con_cls != NULL ? MHD_YES : MHD_NO;
	}
	if (*size != 0) {
		char *b = u->len + *size < 65536 ? realloc(u->body, u->len + *size + 1) : NULL;

		if (b == NULL)
			return MHD_NO;
		memcpy(b + u->len, data, *size);
		u->len += *size;
		b[u->len] = '\0';
		u->body = b;
		*size = 0;
		return MHD_YES;
	}
	body = post(0, path, u->body ? u->body : "", code, sizeof(code));
	if (body != NULL && strcmp(path, "/v1/evidence") != 0)
		status = 200;
	else
		fprintf(stderr, "front: %s answered %s, passed on as 502\n", path,
			body ? "200" : code);
	m = MHD_create_response_from_buffer(status == 200 ? strlen(body) : 2,
					    status == 200 ? body : empty, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(m, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, (unsigned)status, m);
	MHD_destroy_response(m);
	free(body);
	return ret;
}

static void front_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		       enum MHD_RequestTerminationCode why)
{
	struct upload *u = *con_cls;

	(void)cls, (void)conn, (void)why;
	if (u != NULL)
		free(u->body);
	free(u);
	*con_cls = NULL;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *b = f ? calloc(1, 16384) : NULL;

	if (b != NULL && fread(b, 1, 16383, f) == 0) {
		free(b);
		b = NULL;
	}
	if (f != NULL)
		fclose(f);
	return b;
}

static int front(const char *cert_path, const char *key_path, const char *port_file)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char *cert = slurp(cert_path), *key = slurp(key_path);
	struct MHD_Daemon *d = NULL;
	sigset_t term;
	FILE *f;
	int sig, rc = 1;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL); /* MHD's thread inherits it */
	if (cert != NULL && key != NULL)
		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL,
				     front_answer, NULL, MHD_OPTION_HTTPS_MEM_CERT, cert,
				     MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_SOCK_ADDR, &lo,
				     MHD_OPTION_NOTIFY_COMPLETED, front_done, NULL, MHD_OPTION_END);
	if (d != NULL && (f = fopen(port_file, "w")) != NULL) {
		fprintf(f, "%u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
		fclose(f);
		sigwait(&term, &sig);
		rc = 0;
	}
	if (d != NULL)
		MHD_stop_daemon(d);
	free(cert);
	free(key);
	return rc;
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
	if (strcmp(argv[6], "front") == 0)
		return argc == 10 ? front(argv[7], argv[8], argv[9]) : 2;
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
