/* The three ways to load the broker. Each worker owns its hosts (worker
 * w: hosts w, w + C, w + 2C, ...), so a host never runs two exchanges at
 * once, as a TPM behind one attester would not:
 *   closed: C workers, each starting its next attestation when the last
 *           ends, until --count attestations or --duration seconds;
 *   open:   attestation i is due at start + i / rate whatever the broker's
 *           speed; C workers take them in order, and latency counts from
 *           when one was due, so a slow broker shows as latency, not as a
 *           lower rate the generator quietly agreed to;
 *   spike:  every host on its own thread, released at once by a barrier,
 *           one attestation each.
 * Hosts (key generation, EK certificates) are made before the clock
 * starts. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/pem.h>

#include "../attester/client.h"
#include "../common/log.h"
#include "load.h"

/* A thread per spike host needs little stack: messages are on the heap. */
#define THREAD_STACK (512 * 1024)
#define MAKERS_MAX 8

struct run {
	const struct load_config *c;
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	struct load_host *hosts;
	unsigned nthreads;
	atomic_ulong next;                   /* the next attestation's number */
	atomic_uint made;                    /* hosts made so far (host making) */
	atomic_bool failed;
	double start, end;                   /* end: the deadline, 0 for none */
	pthread_barrier_t go;
};

struct thread {
	struct run *run;
	unsigned id;
	struct load_worker w;
};

static int load_ca(const struct load_config *c, struct run *r)
{
	FILE *k = fopen(c->ek_ca_key, "r"), *x = fopen(c->ek_ca_cert, "r");

	if (k != NULL)
		r->ca_key = PEM_read_PrivateKey(k, NULL, NULL, NULL);
	if (x != NULL)
		r->ca_cert = PEM_read_X509(x, NULL, NULL, NULL);
	if (k != NULL)
		fclose(k);
	if (x != NULL)
		fclose(x);
	if (r->ca_key == NULL || r->ca_cert == NULL) {
		fprintf(stderr, "cannot read the EK CA from %s and %s\n", c->ek_ca_key, c->ek_ca_cert);
		return -1;
	}
	return 0;
}

/* Host making: RSA-2048 EKs take tens of ms each, so several threads. */
static void *make_hosts(void *arg)
{
	struct run *r = arg;
	unsigned i;

	while (!atomic_load(&r->failed) && (i = atomic_fetch_add(&r->made, 1)) < r->c->hosts) {
		r->hosts[i].index = i;
		if (simhost_new(r->c->ek, r->ca_key, r->ca_cert, &r->hosts[i].h) != A11_OK ||
		    (r->c->new_conn && !r->c->full_handshakes &&
		     client_sessions_new(&r->hosts[i].tls) != A11_OK))
			atomic_store(&r->failed, true);
	}
	return NULL;
}

static int start_threads(pthread_t *t, unsigned n, void *(*fn)(void *), void *args,
			 size_t arg_size)
{
	pthread_attr_t a;
	unsigned i;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, THREAD_STACK);
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], &a, fn, (char *)args + i * arg_size) != 0)
			break;
	pthread_attr_destroy(&a);
	return (int)i;
}

static int hosts_make(struct run *r)
{
	pthread_t t[MAKERS_MAX];
	int n;

	if ((r->hosts = calloc(r->c->hosts, sizeof(*r->hosts))) == NULL)
		return -1;
	n = start_threads(t, MAKERS_MAX, make_hosts, r, 0);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	if (n == 0 || atomic_load(&r->failed)) {
		fprintf(stderr, "cannot make the simulated hosts\n");
		return -1;
	}
	return 0;
}

/* The next attestation's number, or false when the run is over. */
static bool next_ticket(struct run *r, unsigned long *i)
{
	*i = atomic_fetch_add(&r->next, 1);
	if (r->c->count != 0 && *i >= r->c->count)
		return false;
	return r->end == 0 || load_now() < r->end;
}

/* When attestation i is due in open loop; false past the deadline. */
static bool due(struct run *r, unsigned long i, double *when)
{
	struct timespec ts;
	double wait;

	*when = r->start + (double)i / r->c->rate;
	if (r->end != 0 && *when >= r->end)
		return false;
	if ((wait = *when - load_now()) > 0) {
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
	return true;
}

static void *worker(void *arg)
{
	struct thread *t = arg;
	struct run *r = t->run;
	unsigned long i, turn = 0;
	unsigned owned = (r->c->hosts - t->id + r->nthreads - 1) / r->nthreads;
	double when;

	pthread_barrier_wait(&r->go);
	while (next_ticket(r, &i)) {
		struct load_host *h = &r->hosts[t->id + (turn++ % owned) * r->nthreads];

		if (r->c->mode == LOAD_OPEN && !due(r, i, &when))
			break;
		load_attest(&t->w, h, r->c->mode == LOAD_OPEN ? when : load_now());
		if (r->c->mode == LOAD_SPIKE)
			break;
	}
	return NULL;
}

/* Threads made and waiting at the barrier; the clock starts when the last
 * one is there, so that a spike is all its hosts at once. */
static int workers_run(struct run *r, struct thread *th, struct load_stats *st)
{
	pthread_t *t = calloc(r->nthreads, sizeof(*t));
	int n = -1;

	if (t == NULL || pthread_barrier_init(&r->go, NULL, r->nthreads + 1) != 0)
		goto out;
	if ((n = start_threads(t, r->nthreads, worker, th, sizeof(*th))) != (int)r->nthreads) {
		fprintf(stderr, "cannot start %u threads (started %d)\n", r->nthreads, n);
		exit(1); /* the started ones wait at the barrier forever */
	}
	r->start = load_now();
	r->end = r->c->mode != LOAD_SPIKE && r->c->duration > 0 ? r->start + r->c->duration : 0;
	pthread_barrier_wait(&r->go);
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		load_stats_merge(st, &th[i].w.st);
	}
	pthread_barrier_destroy(&r->go);
out:
	free(t);
	return n < 0 ? -1 : 0;
}

static void run_free(struct run *r, struct thread *th)
{
	for (unsigned i = 0; th != NULL && i < r->nthreads; i++)
		load_worker_fini(&th[i].w);
	free(th);
	for (unsigned i = 0; r->hosts != NULL && i < r->c->hosts; i++) {
		simhost_free(r->hosts[i].h);
		client_sessions_free(r->hosts[i].tls);
	}
	free(r->hosts);
	EVP_PKEY_free(r->ca_key);
	X509_free(r->ca_cert);
}

int load_run(const struct load_config *c, struct load_stats *st, double *seconds)
{
	struct run r = { .c = c };
	struct thread *th = NULL;
	int rc = -1;

	r.nthreads = c->mode == LOAD_SPIKE ? c->hosts : c->concurrency;
	if (load_ca(c, &r) != 0 || hosts_make(&r) != 0 ||
	    (th = calloc(r.nthreads, sizeof(*th))) == NULL)
		goto out;
	for (unsigned i = 0; i < r.nthreads; i++) {
		th[i].run = &r;
		th[i].id = i;
		if (load_worker_init(&th[i].w, c) != 0)
			goto out;
	}
	if ((rc = workers_run(&r, th, st)) == 0)
		*seconds = load_now() - r.start;
out:
	run_free(&r, th);
	return rc;
}
