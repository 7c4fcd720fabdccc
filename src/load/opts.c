/* attest11-load's options (usage in main.c's table). Every number is
 * parsed whole and bounded: a typo is a usage error, never a run of ten
 * million hosts. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "load.h"

/* A whole decimal number in [min, max]. */
static int num(const char *opt, const char *s, double min, double max, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
		fprintf(stderr, "--%s: a number from %g to %g\n", opt, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int whole(const char *opt, const char *s, double min, double max, unsigned long *out)
{
	double v;

	if (num(opt, s, min, max, &v) != 0)
		return -1;
	if (v != floor(v)) {
		fprintf(stderr, "--%s: a whole number\n", opt);
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}

/* NAME or NAME,NAME,... (argv's own storage, split in place). */
static int names(const char *opt, char *s, const char **list, size_t *n, size_t max)
{
	char *save = NULL;

	for (char *t = strtok_r(s, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (*n == max || strlen(t) > LOAD_CODE_LEN * 4) {
			fprintf(stderr, "--%s: at most %zu names\n", opt, max);
			return -1;
		}
		list[(*n)++] = t;
	}
	return 0;
}

static int pick(const char *opt, const char *s, const char *const *words, size_t n, int *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, words[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	fprintf(stderr, "--%s: not one of the choices in --help\n", opt);
	return -1;
}

static const char *const ek_words[] = { [SIMHOST_EK_RSA2048] = "rsa",
					[SIMHOST_EK_P256] = "p256", [SIMHOST_EK_P384] = "p384" };
static const char *const mode_words[] = { [LOAD_CLOSED] = "closed", [LOAD_OPEN] = "open",
					  [LOAD_SPIKE] = "spike" };

/* --ek or --mode: three words each. */
static int choice(bool ek, const char *s, struct load_config *c)
{
	int v;

	if (pick(ek ? "ek" : "mode", s, ek ? ek_words : mode_words, 3, &v) != 0)
		return -1;
	if (ek)
		c->ek = (enum simhost_ek)v;
	else
		c->mode = (enum load_mode)v;
	return 0;
}

static int read_pin(const char *path, struct load_config *c)
{
	FILE *f = fopen(path, "r");
	int ok = f != NULL && fgets(c->pin, sizeof(c->pin), f) != NULL;

	if (f != NULL)
		fclose(f);
	if (!ok) {
		fprintf(stderr, "--pin-file: cannot read %s\n", path);
		return 1;
	}
	c->pin[strcspn(c->pin, "\r\n")] = '\0';
	c->has_pin = true;
	return 0;
}

enum { O_BROKER = 256, O_CA, O_EKKEY, O_EKCERT, O_CRED, O_HOSTS, O_EK, O_MODE, O_CONC, O_RATE,
       O_DUR, O_COUNT, O_RENEW, O_NEWCONN, O_FULL, O_PID, O_PIN, O_JSON, O_ALLOW, O_TIMEOUT };

static const struct option opts[] = {
	{ "broker", required_argument, NULL, O_BROKER }, { "ca", required_argument, NULL, O_CA },
	{ "ek-ca-key", required_argument, NULL, O_EKKEY },
	{ "ek-ca-cert", required_argument, NULL, O_EKCERT },
	{ "credential", required_argument, NULL, O_CRED },
	{ "hosts", required_argument, NULL, O_HOSTS }, { "ek", required_argument, NULL, O_EK },
	{ "mode", required_argument, NULL, O_MODE },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "rate", required_argument, NULL, O_RATE },
	{ "duration", required_argument, NULL, O_DUR },
	{ "count", required_argument, NULL, O_COUNT }, { "renew", no_argument, NULL, O_RENEW },
	{ "new-connections", no_argument, NULL, O_NEWCONN },
	{ "full-handshakes", no_argument, NULL, O_FULL },
	{ "broker-pid", required_argument, NULL, O_PID },
	{ "pin-file", required_argument, NULL, O_PIN }, { "json", no_argument, NULL, O_JSON },
	{ "allow-refusal", required_argument, NULL, O_ALLOW },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ NULL, 0, NULL, 0 },
};

/* The options with a number. */
static int numeric(int o, const char *arg, struct load_config *c)
{
	unsigned long v = 0;
	int r;

	switch (o) {
	case O_HOSTS: r = whole("hosts", arg, 1, LOAD_MAX_HOSTS, &v); c->hosts = (unsigned)v; break;
	case O_CONC:
		r = whole("concurrency", arg, 1, LOAD_MAX_THREADS, &v);
		c->concurrency = (unsigned)v;
		break;
	case O_RATE: return num("rate", arg, 0.1, LOAD_MAX_RATE, &c->rate);
	case O_DUR: return num("duration", arg, 0.1, LOAD_MAX_SECONDS, &c->duration);
	case O_COUNT: return whole("count", arg, 1, LOAD_MAX_COUNT, &c->count);
	case O_PID: r = whole("broker-pid", arg, 1, 4194304, &v); c->broker_pid = (long)v; break;
	default:
		r = whole("timeout-ms", arg, 100, 600000, &v);
		c->timeout_ms = (long)v;
		c->connect_ms = c->timeout_ms < 5000 ? c->timeout_ms : 5000;
		break;
	}
	return r;
}

static int option(int o, char *arg, struct load_config *c)
{
	switch (o) {
	case O_BROKER: c->broker = arg; return 0;
	case O_CA: c->ca_file = arg; return 0;
	case O_EKKEY: c->ek_ca_key = arg; return 0;
	case O_EKCERT: c->ek_ca_cert = arg; return 0;
	case O_CRED: return names("credential", arg, c->creds, &c->ncreds, LOAD_MAX_CREDS);
	case O_ALLOW: return names("allow-refusal", arg, c->allowed, &c->nallowed, LOAD_MAX_CODES);
	case O_EK: return choice(true, arg, c);
	case O_MODE: return choice(false, arg, c);
	case O_RENEW: c->renew = true; return 0;
	case O_NEWCONN: c->new_conn = true; return 0;
	case O_FULL: c->full_handshakes = true; return 0;
	case O_JSON: c->json = true; return 0;
	case O_PIN: return 0; /* read after the others: a usage error first */
	case '?': return -1;
	default: return numeric(o, arg, c);
	}
}

/* What the options mean together: a spike is one attestation per host,
 * a thread each; the loops need hosts for every worker to own one. */
static int coherent(struct load_config *c)
{
	if (c->broker == NULL || c->ca_file == NULL || c->ek_ca_key == NULL ||
	    c->ek_ca_cert == NULL || c->ncreds == 0) {
		fprintf(stderr, "--broker, --ca, --ek-ca-key, --ek-ca-cert and --credential are needed\n");
		return -1;
	}
	if (c->mode == LOAD_SPIKE && c->hosts > LOAD_MAX_THREADS) {
		fprintf(stderr, "--mode spike: at most %d hosts (a thread each)\n", LOAD_MAX_THREADS);
		return -1;
	}
	if (c->full_handshakes && !c->new_conn) {
		fprintf(stderr, "--full-handshakes is a mode of --new-connections\n");
		return -1;
	}
	if (c->mode == LOAD_OPEN && c->rate == 0) {
		fprintf(stderr, "--mode open needs --rate\n");
		return -1;
	}
	if (c->concurrency > c->hosts)
		c->concurrency = c->hosts; /* a host attests once at a time */
	if (c->duration == 0 && c->count == 0 && c->mode != LOAD_SPIKE)
		c->count = c->hosts;
	return 0;
}

int load_parse(int argc, char **argv, struct load_config *c)
{
	const char *pin_file = NULL;
	int o;

	*c = (struct load_config){ .ek = SIMHOST_EK_P256, .mode = LOAD_CLOSED, .hosts = 10,
				   .concurrency = 1, .connect_ms = 5000, .timeout_ms = 15000 };
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == O_PIN)
			pin_file = optarg;
		if (option(o, optarg, c) != 0)
			return 2;
	}
	if (optind != argc || coherent(c) != 0)
		return 2;
	return pin_file != NULL ? read_pin(pin_file, c) : 0;
}
