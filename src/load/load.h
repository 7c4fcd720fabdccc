/* attest11-load: simulated TPM hosts (src/simhost) attesting to a real
 * broker over HTTPS (src/attester/client.c), in closed loop, open loop or
 * a spike, with every release checked as a TPM would take it. Shared by
 * the files of src/load only. */
#ifndef A11_LOAD_H
#define A11_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../simhost/simhost.h"
#include "../wire/pin.h"

/* Bounds on every number the command line gives: enough for a broker on
 * a few cores, small enough that a typo cannot exhaust the machine. */
#define LOAD_MAX_CREDS 16
#define LOAD_MAX_HOSTS 10000
#define LOAD_MAX_THREADS 2000      /* workers, and a spike's hosts (a thread each) */
#define LOAD_MAX_RATE 100000.0     /* attestations/s (open loop) */
#define LOAD_MAX_SECONDS 3600.0
#define LOAD_MAX_COUNT 10000000UL
#define LOAD_MAX_CODES 32          /* distinct refusal codes counted */
#define LOAD_CODE_LEN 32
/* Tries of one exchange that the broker answers 503 (busy, store_busy):
 * each waits its Retry-After, so this bounds a host's wait to minutes. */
#define LOAD_MAX_TRIES 30

enum load_mode { LOAD_CLOSED, LOAD_OPEN, LOAD_SPIKE };

struct load_config {
	const char *broker, *ca_file, *ek_ca_key, *ek_ca_cert;
	const char *creds[LOAD_MAX_CREDS];
	size_t ncreds;
	const char *allowed[LOAD_MAX_CODES]; /* refusal codes that are no failure */
	size_t nallowed;
	enum simhost_ek ek;
	enum load_mode mode;
	unsigned hosts, concurrency;
	double rate, duration;               /* open: attestations/s; seconds (0: none) */
	unsigned long count;                 /* attestations (0: none) */
	bool renew, new_conn, json;
	bool full_handshakes;                /* new_conn without resuming TLS sessions */
	long broker_pid;                     /* 0: no CPU figure */
	long connect_ms, timeout_ms;
	bool has_pin;
	char pin[WIRE_PIN_MAX + 2];
};

/* src/load/opts.c: the command line into c (2: usage error, 1: a file
 * could not be read, 0: ready). */
int load_parse(int argc, char **argv, struct load_config *c);

struct load_lat {
	double *ms;
	size_t n, cap;
};

/* One worker's counts, merged into the run's at the end. */
struct load_stats {
	unsigned long fresh, renewed;        /* exchanges released and checked */
	unsigned long transport, other;      /* errors: network/TLS; decode, HTTP, simhost */
	unsigned long checks_failed;         /* simhost_release_check said no */
	unsigned long retried_after_503;     /* exchanges started again after a 503 */
	struct { char code[LOAD_CODE_LEN]; unsigned long n; } refusals[LOAD_MAX_CODES];
	size_t ncodes;
	struct load_lat lat;                 /* per exchange, ms */
};

void load_stats_refusal(struct load_stats *s, const char *code);
void load_stats_lat(struct load_stats *s, double ms);
void load_stats_merge(struct load_stats *into, const struct load_stats *from);
void load_stats_clear(struct load_stats *s);

/* One simulated host; a worker owns it for the whole run. */
struct load_host {
	struct simhost *h;
	unsigned index;
	unsigned long uses;
	/* Its TLS sessions, with --new-connections: each host resumes its
	 * own session, never another host's (a fleet's machines share no
	 * TLS state); NULL with --full-handshakes. */
	struct client_sessions *tls;
};

struct client;
struct client_sessions;
struct load_scratch;

/* A worker: its connection (kept unless new_conn), its buffers, counts. */
struct load_worker {
	const struct load_config *c;
	struct client *http;
	struct client_sessions *tls;         /* the host it serves now: its sessions */
	struct load_scratch *x;
	struct load_stats st;
	unsigned retry_after;                /* s, of the last 503 */
	unsigned seed;                       /* rand_r: the jitter of retries */
	char busy_code[LOAD_CODE_LEN];       /* its problem code */
};

/* src/load/exchange.c */
int load_worker_init(struct load_worker *w, const struct load_config *c);
void load_worker_fini(struct load_worker *w);
/* challenge -> evidence -> release checked (-> renewal checked), counted
 * in w->st; start: when the attestation was due (CLOCK_MONOTONIC s). */
void load_attest(struct load_worker *w, struct load_host *h, double start);
double load_now(void);

/* src/load/run.c: hosts made, the mode run; stats and wall seconds out. */
int load_run(const struct load_config *c, struct load_stats *st, double *seconds);

/* src/load/report.c: /proc/PID/stat utime + stime in ms, -1 if unknown. */
double load_cpu_ms(long pid);
/* Prints the report; the exit status (0 only if nothing failed). */
int load_report(const struct load_config *c, const struct load_stats *st, double seconds,
		double cpu_ms);

#endif
