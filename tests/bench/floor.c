/* make bench: the crypto floor of one attestation, per EK kind — what the
 * broker cannot avoid computing for a host it has never seen, measured as
 * CPU time in this process with the broker's own code and keys:
 *   make_credential  the AK's Name and MakeCredential to the EK (challenge)
 *   ek_chain         the EK certificate parsed, its chain checked against
 *                    a parsed CA store, its key compared with the EK
 *   quote_certify    the quote and the storage parent's certification
 *   wrap             the credential's P-256 key wrapped to the storage
 *                    parent (duplication blob), with its lease policy
 *   approval, ear    the approver's and the EAR signer's signatures
 *   tls_handshake    one full TLS handshake, server side only (GnuTLS,
 *                    the broker's priorities, certificate and key): a
 *                    host's first connection
 *   tls_resumed      one resumed handshake, server side only (the
 *                    broker's session tickets, src/broker/http_tls.c):
 *                    a host that reconnects with its last session
 *   floor BROKER_DIR EK_CA_KEY EK_CA_CERT CRED_KEY [ITERATIONS]
 * The approver, EAR and TLS keys are the broker's, read from BROKER_DIR;
 * CRED_KEY is the credential's key in PEM. Each figure is the median of 5
 * rounds' mean over ITERATIONS (default 100), in ms. Prints one line per
 * EK kind, "FLOOR ek=p256 make_credential=... crypto=... tls_handshake=...",
 * crypto being the sum without the handshakes; tests/bench/capacity.sh
 * divides the broker's CPU per attestation by it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

#include "../../src/broker/approver.h"
#include "../../src/broker/ear.h"
#include "../../src/broker/http.h"
#include "../../src/simhost/simhost.h"
#include "../../src/wire/attest.h"
#include "../../src/wire/key.h"
#include "../../src/wire/policy.h"
#include "../../src/wire/wrap.h"

#define ROUNDS 5

struct fx {
	struct simhost *h;
	X509_STORE *ca;
	EVP_PKEY *cred;
	struct approver *approver;
	struct ear_signer *ear;
	gnutls_certificate_credentials_t tls;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key;
	gnutls_datum_t session;      /* the client's last session, to resume */
	TPM2B_DATA nonce;
	TPML_PCR_SELECTION sel;
	TPM2B_NAME ak_qn;
	struct proto_attest quote, certify;
	struct a11_pcr_values pcrs;
};

static void need(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "floor: %s failed\n", what);
		exit(1);
	}
}

static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void op_make_credential(struct fx *f)
{
	TPM2B_DIGEST secret = { .size = 32 };
	TPM2B_NAME name;
	TPM2B_ID_OBJECT cred;
	TPM2B_ENCRYPTED_SECRET enc;

	need(RAND_bytes(secret.buffer, 32) == 1 &&
	     wire_name(&simhost_ak(f->h)->publicArea, &name) == A11_OK &&
	     wire_make_credential(&simhost_public(f->h, SIMHOST_EK)->publicArea, &name, &secret,
				  &cred, &enc) == A11_OK, "MakeCredential");
}

static void op_ek_chain(struct fx *f)
{
	size_t len;
	const unsigned char *der = simhost_ek_cert(f->h, &len), *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();

	need(x && ctx && X509_STORE_CTX_init(ctx, f->ca, x, NULL) == 1 &&
	     X509_verify_cert(ctx) == 1 &&
	     wire_cert_has_key(x, &simhost_public(f->h, SIMHOST_EK)->publicArea), "EK chain");
	X509_STORE_CTX_free(ctx);
	X509_free(x);
}

static void op_quote_certify(struct fx *f)
{
	struct wire_quote_expect exp = { &f->nonce, &f->sel, &f->pcrs, &f->ak_qn };
	const TPMT_PUBLIC *ak = &simhost_ak(f->h)->publicArea;

	need(wire_quote_verify(ak, f->quote.data, f->quote.len, &f->quote.sig, &exp, NULL) ==
	     A11_OK && wire_certify_verify(ak, f->certify.data, f->certify.len,
					   &f->certify.sig, &f->nonce, &f->ak_qn,
					   &simhost_public(f->h, SIMHOST_SRK)->publicArea,
					   NULL) == A11_OK, "quote and certify");
}

static void op_wrap(struct fx *f)
{
	uint8_t ref[32] = { 0 };
	TPM2B_DIGEST pd;
	TPM2B_AUTH auth = { .size = 32 };
	struct wire_dup_opts o = { .name_alg = TPM2_ALG_SHA256, .auth_policy = &pd,
				   .auth_value = &auth };
	struct wire_dup d;

	need(wire_key_policy(&approver_public(f->approver)->publicArea, ref, sizeof(ref), &pd) ==
	     A11_OK && wire_dup_key(f->cred, &simhost_public(f->h, SIMHOST_SRK)->publicArea, &o,
				    &d) == A11_OK, "wrap");
	wire_dup_clear(&d);
}

static void op_approval(struct fx *f)
{
	TPM2B_DIGEST digest = { .size = 32 };
	TPMT_SIGNATURE sig;

	need(RAND_bytes(digest.buffer, 32) == 1 &&
	     approver_sign(f->approver, &digest, &sig) == A11_OK, "approval");
}

static void op_ear(struct fx *f)
{
	struct ear e = { .iat = time(NULL), .nonce_len = 32,
			 .policy_id = "attest11:load:1" };
	char *jws = NULL;

	e.tv[AR_INSTANCE_IDENTITY] = e.tv[AR_HARDWARE] = AR_AFFIRMING;
	need(ear_sign(f->ear, &e, &jws) == A11_OK, "EAR");
	free(jws);
}

/* The server's side of one handshake, on a thread of its own: its CPU. */
struct tls_side {
	struct fx *f;
	int fd;
	double ms;
};

static void *tls_server(void *arg)
{
	struct tls_side *s = arg;
	gnutls_session_t ss = NULL;
	double t0 = thread_cpu_ms();
	int r;

	need(gnutls_init(&ss, GNUTLS_SERVER) == 0 && gnutls_priority_set(ss, s->f->prio) == 0 &&
	     gnutls_credentials_set(ss, GNUTLS_CRD_CERTIFICATE, s->f->tls) == 0 &&
	     gnutls_session_ticket_enable_server(ss, &s->f->ticket_key) == 0, "TLS server");
	gnutls_transport_set_int(ss, s->fd);
	do
		r = gnutls_handshake(ss);
	while (r < 0 && !gnutls_error_is_fatal(r));
	/* A byte of data, behind which TLS 1.3's ticket reaches the client. */
	need(r == 0 && gnutls_record_send(ss, "x", 1) == 1, "TLS server handshake");
	gnutls_deinit(ss);
	s->ms = thread_cpu_ms() - t0;
	return NULL;
}

/* One handshake, full or resuming f->session; the client keeps the
 * session it gets, as a reconnecting client would. */
static double tls_handshake(struct fx *f, bool resume)
{
	char byte;
	int sv[2], r;
	gnutls_session_t c = NULL;
	gnutls_certificate_credentials_t none = NULL;
	struct tls_side s = { .f = f };
	pthread_t t;

	need(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	s.fd = sv[0];
	need(pthread_create(&t, NULL, tls_server, &s) == 0, "thread");
	need(gnutls_certificate_allocate_credentials(&none) == 0 &&
	     gnutls_init(&c, GNUTLS_CLIENT) == 0 && gnutls_set_default_priority(c) == 0 &&
	     gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, none) == 0 &&
	     (!resume || gnutls_session_set_data(c, f->session.data, f->session.size) == 0),
	     "TLS client");
	gnutls_transport_set_int(c, sv[1]);
	do
		r = gnutls_handshake(c);
	while (r < 0 && !gnutls_error_is_fatal(r));
	need(r == 0, "TLS client handshake");
	/* GnuTLS answers E_AGAIN after taking the ticket, even blocking. */
	do
		r = (int)gnutls_record_recv(c, &byte, 1);
	while (r < 0 && !gnutls_error_is_fatal(r));
	need(r == 1, "TLS data");
	need(gnutls_session_is_resumed(c) == resume, "TLS resumption");
	gnutls_free(f->session.data);
	need(gnutls_session_get_data2(c, &f->session) == 0, "TLS session");
	pthread_join(t, NULL);
	gnutls_deinit(c);
	gnutls_certificate_free_credentials(none);
	close(sv[0]);
	close(sv[1]);
	return s.ms;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median over ROUNDS of the mean CPU ms of one op (or of the handshake,
 * timed on its server thread, when op is NULL: full, or resumed). */
static double measure(void (*op)(struct fx *), struct fx *f, int iterations, bool resume)
{
	double round[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		double sum = 0, t0 = thread_cpu_ms();

		for (int i = 0; i < iterations; i++)
			if (op != NULL)
				op(f);
			else
				sum += tls_handshake(f, resume);
		round[r] = (op != NULL ? thread_cpu_ms() - t0 : sum) / iterations;
	}
	qsort(round, ROUNDS, sizeof(round[0]), cmp);
	return round[ROUNDS / 2];
}

/* What one exchange's host sends: a quote over sha256:0-7 and the storage
 * parent's certification, for one nonce. */
static void evidence_of(struct fx *f)
{
	TPM2B_NAME ak_name, eh;

	f->nonce.size = 32;
	need(RAND_bytes(f->nonce.buffer, 32) == 1, "nonce");
	f->sel.count = 1;
	f->sel.pcrSelections[0] = (TPMS_PCR_SELECTION){ TPM2_ALG_SHA256, 3, { 0xff, 0, 0 } };
	wire_hierarchy_qn(TPM2_RH_ENDORSEMENT, &eh);
	need(wire_name(&simhost_ak(f->h)->publicArea, &ak_name) == A11_OK &&
	     wire_qualified_name(&eh, &ak_name, &f->ak_qn) == A11_OK &&
	     simhost_quote(f->h, &f->nonce, &f->sel, &f->quote, &f->pcrs) == A11_OK &&
	     simhost_certify(f->h, SIMHOST_SRK, &f->nonce, &f->certify) == A11_OK, "evidence");
}

static void *pem_read(const char *path, bool key)
{
	FILE *fp = fopen(path, "r");
	void *o = NULL;

	if (fp != NULL)
		o = key ? (void *)PEM_read_PrivateKey(fp, NULL, NULL, NULL)
			: (void *)PEM_read_X509(fp, NULL, NULL, NULL);
	need(o != NULL, path);
	fclose(fp);
	return o;
}

static void keys_of(struct fx *f, const char *bdir)
{
	char a[4096], b[4096];

	snprintf(a, sizeof(a), "%s/approver.pem", bdir);
	need(approver_load(a, &f->approver) == A11_OK, "approver key");
	snprintf(a, sizeof(a), "%s/verifier.jwk", bdir);
	need(ear_signer_load(a, &f->ear) == A11_OK, "EAR key");
	snprintf(a, sizeof(a), "%s/tls.crt", bdir);
	snprintf(b, sizeof(b), "%s/tls.key", bdir);
	need(gnutls_certificate_allocate_credentials(&f->tls) == 0 &&
	     gnutls_certificate_set_x509_key_file(f->tls, a, b, GNUTLS_X509_FMT_PEM) == 0 &&
	     gnutls_priority_init(&f->prio, HTTP_TLS_PRIORITIES, NULL) == 0, "TLS key");
}

int main(int argc, char **argv)
{
	static const struct { const char *name; enum simhost_ek kind; } eks[] = {
		{ "p256", SIMHOST_EK_P256 }, { "p384", SIMHOST_EK_P384 },
		{ "rsa2048", SIMHOST_EK_RSA2048 },
	};
	struct fx f = { 0 };
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	int n = argc > 5 ? atoi(argv[5]) : 100;

	if (argc < 5 || n <= 0 || n > 100000) {
		fprintf(stderr, "usage: floor BROKER_DIR EK_CA_KEY EK_CA_CERT CRED_KEY [ITERATIONS]\n");
		return 2;
	}
	keys_of(&f, argv[1]);
	ca_key = pem_read(argv[2], true);
	ca_cert = pem_read(argv[3], false);
	f.cred = pem_read(argv[4], true);
	need((f.ca = X509_STORE_new()) != NULL && X509_STORE_add_cert(f.ca, ca_cert) == 1, "store");
	need(gnutls_session_ticket_key_generate(&f.ticket_key) == 0, "ticket key");
	double hs = measure(NULL, &f, n, false);
	double resumed = measure(NULL, &f, n, true);
	for (size_t i = 0; i < sizeof(eks) / sizeof(eks[0]); i++) {
		double mc, chain, qc, wrap, appr, ear;

		need(simhost_new(eks[i].kind, ca_key, ca_cert, &f.h) == A11_OK, "host");
		evidence_of(&f);
		mc = measure(op_make_credential, &f, n, false);
		chain = measure(op_ek_chain, &f, n, false);
		qc = measure(op_quote_certify, &f, n, false);
		wrap = measure(op_wrap, &f, n, false);
		appr = measure(op_approval, &f, n, false);
		ear = measure(op_ear, &f, n, false);
		printf("FLOOR ek=%s make_credential=%.3f ek_chain=%.3f quote_certify=%.3f wrap=%.3f "
		       "approval=%.3f ear=%.3f crypto=%.3f tls_handshake=%.3f tls_resumed=%.3f\n",
		       eks[i].name, mc, chain, qc, wrap, appr, ear, mc + chain + qc + wrap + appr + ear,
		       hs, resumed);
		simhost_free(f.h);
	}
	gnutls_free(f.session.data);
	gnutls_memset(f.ticket_key.data, 0, f.ticket_key.size);
	gnutls_free(f.ticket_key.data);
	gnutls_priority_deinit(f.prio);
	gnutls_certificate_free_credentials(f.tls);
	approver_free(f.approver);
	ear_signer_free(f.ear);
	X509_STORE_free(f.ca);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(f.cred);
	return 0;
}
