/* attest11: the attester from the command line, for operators and tests.
 * Its commands and their usage are the table above main (cmds[]).
 * attest runs the protocol, imports the credential into the TPM, prints
 * what it got; renew renews the lease kept in DIR by an earlier attest
 * (or by the module). --check-sign proves the key signs inside the TPM;
 * --save-key writes PREFIX.pub / PREFIX.priv (TPM2B_PUBLIC / TPM2B_PRIVATE
 * under the parent, as tpm2_load reads them), PREFIX.parent, PREFIX.crt
 * (the chain) and
 * the lease's approval (PREFIX.approver, .sig, .approved, .ref, .terms)
 * so that other TPM tools can use the key under its lease (it stays
 * useless outside this TPM); --state-dir keeps the lease as the module
 * does (docs/operations.md, "State directory"); show prints (and saves)
 * the lease a host keeps there, without TPM or network; cert (cert.c)
 * keeps a file equal to the certificate of the host's lease for a token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "../attester/attester.h"
#include "../attester/state.h"
#include "../common/cli.h"
#include "../common/log.h"
#include "../wire/attest.h"
#include "../wire/key.h"
#include "../wire/pin.h"
#include "cert.h"

struct args {
	struct attester_config c;
	const char *tcti, *pin_file, *save, *state_dir;
	int check_sign;
	char pin[WIRE_PIN_MAX + 2];
};

static int read_pin(struct args *a)
{
	FILE *f = fopen(a->pin_file, "r");
	int ok = f != NULL && fgets(a->pin, sizeof(a->pin), f) != NULL;

	if (f != NULL)
		fclose(f);
	if (!ok)
		return -1;
	a->pin[strcspn(a->pin, "\r\n")] = '\0';
	a->c.pin = a->pin;
	return 0;
}

static int ek_kind(const char *s, enum tpm_ek_kind *out)
{
	static const char *const names[] = { [TPM_EK_RSA2048] = "rsa", [TPM_EK_ECC_P256] = "p256",
					     [TPM_EK_ECC_P384] = "p384", [TPM_EK_AUTO] = "auto" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum tpm_ek_kind)i;
			return 0;
		}
	fprintf(stderr, "--ek: auto, rsa, p256 or p384\n");
	return -1;
}

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' }, { "broker", required_argument, NULL, 'b' },
		{ "ca", required_argument, NULL, 'c' }, { "credential", required_argument, NULL, 'n' },
		{ "pin-file", required_argument, NULL, 'p' }, { "ek", required_argument, NULL, 'e' },
		{ "wrap-to-ek", no_argument, NULL, 'w' },
		{ "check-sign", no_argument, NULL, 's' }, { "timeout-ms", required_argument, NULL, 'T' },
		{ "save-key", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "eventlog", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': a->tcti = optarg; break;
		case 'b': a->c.broker_url = optarg; break;
		case 'c': a->c.ca_file = optarg; break;
		case 'n': a->c.credential = optarg; break;
		case 'p': a->pin_file = optarg; break;
		case 'e': if (ek_kind(optarg, &a->c.ek) != 0) return -1; break;
		case 'w': a->c.wrap_to_ek = true; break;
		case 's': a->check_sign = 1; break;
		case 'S': a->save = optarg; break;
		case 'D': a->state_dir = optarg; break;
		case 'E': a->c.eventlog = optarg; break;
		case 'T': a->c.timeout_ms = a->c.connect_timeout_ms = strtol(optarg, NULL, 10); break;
		default: return -1;
		}
	}
	if (a->pin_file != NULL && read_pin(a) != 0)
		return -1;
	return a->tcti && a->c.broker_url && a->c.ca_file && a->c.credential && optind == argc ? 0
												     : -1;
}

/* Sign a digest in the TPM and verify it with the leaf certificate's key. */
static int check_sign(struct tpm *t, struct attester_result *res)
{
	const uint8_t *p = res->rel.certs[0];
	X509 *x = res->rel.cert_count ? d2i_X509(NULL, &p, (long)res->rel.cert_len[0]) : NULL;
	TPM2B_DIGEST dg = { .size = 32 };
	TPMT_SIGNATURE sig;
	TPM2_ALG_ID scheme = res->key.pub.publicArea.type == TPM2_ALG_RSA ? TPM2_ALG_RSAPSS
									  : TPM2_ALG_ECDSA;
	int ok;

	EVP_Digest("attest11 check-sign", 19, dg.buffer, NULL, EVP_sha256(), NULL);
	ok = x != NULL &&
	     tpm_sign(t, &res->key, scheme, TPM2_ALG_SHA256, &dg, &sig) == A11_OK &&
	     wire_sig_verify(&res->key.pub.publicArea, (const uint8_t *)"attest11 check-sign", 19,
			     &sig) == A11_OK;
	/* The certificate must carry the key that just signed. */
	ok = ok && wire_cert_has_key(x, &res->key.pub.publicArea);
	X509_free(x);
	printf("check-sign: %s\n", ok ? "signed in the TPM, verified with the certificate key"
				      : "FAILED");
	return ok ? 0 : 1;
}

static int save_blob(const char *prefix, const char *ext, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s.%s", prefix, ext);
	f = fopen(path, "wb");
	ok = f != NULL && fwrite(buf, 1, len, f) == len;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* The certificate chain as PEM, leaf first. */
static int save_chain(const char *prefix, const struct attester_result *r)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s.crt", prefix);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = 1;
	for (size_t i = 0; ok && i < r->rel.cert_count; i++) {
		const uint8_t *p = r->rel.certs[i];
		X509 *x = d2i_X509(NULL, &p, (long)r->rel.cert_len[i]);
		ok = x != NULL && PEM_write_X509(f, x) == 1;
		X509_free(x);
	}
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* What TPM2_VerifySignature and TPM2_PolicyAuthorize take, as files. */
static int save_approval(const char *prefix, const struct approval *a)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC)], sig[sizeof(TPMT_SIGNATURE)];
	size_t pl = 0, sl = 0;
	char terms[64];

	snprintf(terms, sizeof(terms), "%llu %u\n", (unsigned long long)a->clock_end,
		 a->reset_count);
	return Tss2_MU_TPM2B_PUBLIC_Marshal(&a->anchor.approver, pub, sizeof(pub), &pl) ||
	       Tss2_MU_TPMT_SIGNATURE_Marshal(&a->signature, sig, sizeof(sig), &sl) ||
	       save_blob(prefix, "approver", pub, pl) || save_blob(prefix, "sig", sig, sl) ||
	       save_blob(prefix, "approved", a->approved.buffer, a->approved.size) ||
	       save_blob(prefix, "ref", a->anchor.policy_ref, sizeof(a->anchor.policy_ref)) ||
	       save_blob(prefix, "terms", (const uint8_t *)terms, strlen(terms)) ? -1 : 0;
}

/* How the authValue derives from the PIN (docs/protocol.md): PREFIX.salt
 * (hex) and PREFIX.iter, for `openssl kdf ... PBKDF2`. */
static int save_key_auth(const char *prefix, const struct attester_result *r)
{
	char salt[2 * sizeof(r->salt) + 2], iter[16];

	for (size_t i = 0; i < sizeof(r->salt); i++)
		snprintf(salt + 2 * i, 3, "%02x", r->salt[i]);
	snprintf(iter, sizeof(iter), "%u", r->iterations);
	return save_blob(prefix, "salt", (const uint8_t *)salt, strlen(salt)) ||
	       save_blob(prefix, "iter", (const uint8_t *)iter, strlen(iter)) ? -1 : 0;
}

/* PREFIX.parent: what PREFIX.priv is under, "ek", "srk-ecc" or "srk-rsa"
 * (the TCG SRKs, persistent at 0x81000002 / 0x81000001 or created from
 * their templates; attest11(1)). */
static int save_key(const char *prefix, const struct attester_result *r, bool to_ek)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC)], priv[sizeof(TPM2B_PRIVATE)];
	const char *parent = to_ek ? "ek\n" : r->srk_alg == TPM2_ALG_ECC ? "srk-ecc\n" : "srk-rsa\n";
	size_t pl = 0, vl = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&r->key.pub, pub, sizeof(pub), &pl) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&r->priv, priv, sizeof(priv), &vl) != TSS2_RC_SUCCESS ||
	    save_blob(prefix, "pub", pub, pl) != 0 || save_blob(prefix, "priv", priv, vl) != 0 ||
	    save_blob(prefix, "parent", (const uint8_t *)parent, strlen(parent)) != 0 ||
	    save_chain(prefix, r) != 0 || save_approval(prefix, &r->rel.approval) != 0 ||
	    (r->key_auth && save_key_auth(prefix, r) != 0)) {
		fprintf(stderr, "cannot save the key to %s.*\n", prefix);
		return 1;
	}
	return 0;
}

/* The EAR's verdict for people: status and AR4SI vector of the "tpm"
 * submodule. Decoding only: the module trusts the broker over TLS, and
 * the signature is for auditors holding the verifier's public key. */
static void print_verdict(const char *jws)
{
	const char *p = jws ? strchr(jws, '.') : NULL, *e = p ? strchr(p + 1, '.') : NULL;
	unsigned char buf[8192];
	char b64[sizeof(buf) * 4 / 3 + 4];
	size_t n = e ? (size_t)(e - p - 1) : 0, i;
	json_t *o = NULL, *tpm, *tv, *v;
	const char *k;
	int len;

	if (n == 0 || n >= sizeof(b64) - 4)
		return;
	for (i = 0; i < n; i++) /* base64url to base64, padded */
		b64[i] = p[1 + i] == '-' ? '+' : p[1 + i] == '_' ? '/' : p[1 + i];
	while (i % 4)
		b64[i++] = '=';
	len = EVP_DecodeBlock(buf, (unsigned char *)b64, (int)i);
	/* EVP_DecodeBlock counts the padding as zero bytes: drop them. */
	if (len > (int)(i - n))
		o = json_loadb((char *)buf, (size_t)len - (i - n), 0, NULL);
	tpm = json_object_get(json_object_get(o, "submods"), "tpm");
	tv = json_object_get(tpm, "ear.trustworthiness-vector");
	k = json_string_value(json_object_get(tpm, "ear.status"));
	printf("verdict: %s (", k ? k : "?");
	i = 0;
	json_object_foreach(tv, k, v)
		printf("%s%s=%lld", i++ ? ", " : "", k, (long long)json_integer_value(v));
	printf(")\n");
	json_decref(o);
}

static void print_result(const struct attester_result *r)
{
	printf("kind: %s\nlease: %s expires %lld\ncertificates: %zu\n",
	       cred_kind_name(r->rel.kind), r->rel.lease, (long long)r->rel.lease_expires,
	       r->rel.cert_count);
	if (r->token != NULL)
		printf("token: %zu bytes\n", r->token_len);
	print_verdict(r->rel.ear);
	printf("attestation_result: %s\n", r->rel.ear ? r->rel.ear : "");
	printf("timing_ms: challenge %.1f tpm %.1f evidence %.1f import %.1f\n", r->ms.challenge,
	       r->ms.tpm_evidence, r->ms.evidence, r->ms.import);
}

/* Print and keep what a run or a renewal left in res. */
static int report(struct tpm *t, const struct args *a, struct attester_result *res, a11_err r)
{
	struct host_lease hl;
	int rc = 1;

	if (r == A11_ERR_REFUSED) {
		fprintf(stderr, "refused: %s: %s\n", res->refusal, res->detail);
		return 1;
	}
	if (r != A11_OK) {
		fprintf(stderr, "error: %s\n", a11_strerror(r));
		return 1;
	}
	print_result(res);
	rc = 0;
	if (a->state_dir != NULL) {
		attester_to_host(res, &hl);
		if (state_save(a->state_dir, a->c.credential, &hl) != A11_OK)
			rc = 1;
	}
	if (rc == 0 && res->rel.kind != CRED_TOKEN && res->key.tr == ESYS_TR_NONE &&
	    (a->check_sign || a->save) && attester_reload(t, &a->c, res) != A11_OK)
		rc = 1;
	if (rc == 0 && a->check_sign && res->rel.kind != CRED_TOKEN)
		rc = check_sign(t, res);
	if (rc == 0 && a->save != NULL && res->rel.kind != CRED_TOKEN)
		rc = save_key(a->save, res, a->c.wrap_to_ek);
	return rc;
}

/* The lease an earlier attest (or the module) left in the state dir,
 * ready to be renewed: its approval verified, the key not yet loaded. */
static a11_err load_lease(struct tpm *t, const struct args *a, struct attester_result *res)
{
	struct host_lease hl;
	const char *pin = a->c.pin ? a->c.pin : "";
	a11_err r = state_load(a->state_dir, a->c.credential, &hl);

	if (r != A11_OK) {
		fprintf(stderr, "no lease of %s in %s: %s\n", a->c.credential, a->state_dir,
			a11_strerror(r));
		host_lease_clear(&hl);
		return r;
	}
	attester_from_host(&hl, res);
	host_lease_clear(&hl);
	/* Certifying a TPM-born key for its new certificate takes its
	 * authValue: guessing it would cost a dictionary-attack failure. */
	if (res->key_auth && res->rel.kind == CRED_CA && a->c.pin == NULL) {
		fprintf(stderr, "renewing %s needs its PIN (--pin-file)\n", a->c.credential);
		return A11_ERR_ARG;
	}
	if (res->key_auth && (r = wire_pin_auth(pin, strlen(pin), res->salt, sizeof(res->salt),
						res->iterations, &res->auth)) != A11_OK)
		return r;
	return attester_adopt(t, res);
}

static int run(int argc, char **argv, bool renewal)
{
	struct args a = { .c.ek = TPM_EK_AUTO, .c.eventlog = ATTESTER_EVENTLOG_DEFAULT };
	struct attester_result res = { 0 };
	struct tpm *t = NULL;
	a11_err r;
	int rc;

	if (parse(argc, argv, &a) != 0 || (renewal && a.state_dir == NULL))
		return 2;
	if ((r = tpm_open(a.tcti, &t)) != A11_OK) {
		fprintf(stderr, "error: %s\n", a11_strerror(r));
		return 1;
	}
	if (!renewal)
		r = attester_run(t, &a.c, &res);
	else if ((r = load_lease(t, &a, &res)) == A11_OK)
		r = attester_renew(t, &a.c, &res);
	rc = report(t, &a, &res, r);
	attester_result_clear(t, &res);
	OPENSSL_cleanse(&a, sizeof(a));
	tpm_close(t);
	return rc;
}

static int show(void *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'D' },
		{ "credential", required_argument, NULL, 'n' },
		{ "save-key", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *name = NULL, *save = NULL;
	struct attester_result *res = calloc(1, sizeof(*res));
	struct host_lease hl = { 0 };
	a11_err r;
	int o, rc = 1, bad = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'D')
			dir = optarg;
		else if (o == 'n')
			name = optarg;
		else if (o == 'S')
			save = optarg;
		else
			bad = 1;
	}
	(void)ctx;
	if (res == NULL)
		return 1;
	if (bad || dir == NULL || name == NULL || optind != argc) {
		free(res);
		return 2;
	}
	if ((r = state_load(dir, name, &hl)) != A11_OK) {
		fprintf(stderr, "no lease of %s in %s: %s\n", name, dir, a11_strerror(r));
	} else {
		attester_from_host(&hl, res);
		print_result(res);
		printf("tpm_clock_end: %llu\nreset_count: %u\n",
		       (unsigned long long)res->rel.approval.clock_end,
		       res->rel.approval.reset_count);
		rc = save && res->rel.kind != CRED_TOKEN ? save_key(save, res, false) : 0;
	}
	host_lease_clear(&hl);
	release_clear(&res->rel);
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
	return rc;
}

static int attest(void *ctx, int argc, char **argv)
{
	(void)ctx;
	return run(argc, argv, false);
}

static int renew(void *ctx, int argc, char **argv)
{
	(void)ctx;
	return run(argc, argv, true);
}

static int cert(void *ctx, int argc, char **argv)
{
	(void)ctx;
	return cert_main(argc, argv);
}

/* The only place the commands and their usage are written. */
static const struct cli_cmd cmds[] = {
	{ "attest", "--tcti T --broker URL[,URL...] --ca FILE --credential NAME\n"
	  "[--pin-file F] [--ek auto|rsa|p256|p384] [--wrap-to-ek] [--check-sign]\n"
	  "[--save-key PREFIX] [--state-dir DIR] [--timeout-ms MS] [--eventlog FILE]",
	  "attest the TPM to the broker and import the credential it releases", -1, attest },
	{ "renew", "--state-dir DIR and the options of attest",
	  "renew the lease kept in DIR by an earlier attest (or the module)", -1, renew },
	{ "show", "--state-dir DIR --credential NAME [--save-key PREFIX]",
	  "print (and save) the lease kept in DIR, without TPM or network", -1, show },
	{ "cert", "--token LABEL --out FILE [--chain] [--on-change CMD]\n"
	  "[--watch] [--interval SECONDS] [--conf FILE]",
	  "keep FILE equal to the certificate of the host's lease for a token", -1, cert },
};

static const struct cli attest11_cli = {
	"attest11", "", "See attest11(1).\n", cmds, sizeof(cmds) / sizeof(cmds[0]),
};

int main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	int rc;

	if ((cmd = cli_find(&attest11_cli, &argc, &argv, &rc)) == NULL)
		return rc;
	return cli_run(&attest11_cli, cmd, NULL, argc, argv);
}
