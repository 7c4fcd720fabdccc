/* attest11: the attester from the command line, for operators and tests.
 *   attest11 attest --tcti T --broker URL --ca FILE --credential NAME
 *                   [--pin-file F] [--ek rsa|p384] [--wrap-to-ek] [--lease ID]
 *                   [--check-sign] [--save-key PREFIX]
 * Runs the protocol, imports the credential into the TPM, prints what it
 * got, with --check-sign proves the key signs inside the TPM, and with
 * --save-key writes PREFIX.pub / PREFIX.priv (TPM2B_PUBLIC / TPM2B_PRIVATE
 * under the parent, as tpm2_load reads them) so other TPM tools can use
 * the key (it stays useless outside this TPM), and PREFIX.crt (the chain). */
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
#include "../common/log.h"
#include "../wire/attest.h"
#include "../wire/key.h"

struct args {
	struct attester_config c;
	const char *tcti, *pin_file, *save;
	int check_sign;
	char pin[PROTO_PIN_MAX + 2];
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

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "tcti", required_argument, NULL, 't' }, { "broker", required_argument, NULL, 'b' },
		{ "ca", required_argument, NULL, 'c' }, { "credential", required_argument, NULL, 'n' },
		{ "pin-file", required_argument, NULL, 'p' }, { "ek", required_argument, NULL, 'e' },
		{ "wrap-to-ek", no_argument, NULL, 'w' }, { "lease", required_argument, NULL, 'l' },
		{ "check-sign", no_argument, NULL, 's' }, { "timeout-ms", required_argument, NULL, 'T' },
		{ "save-key", required_argument, NULL, 'S' },
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
		case 'e': a->c.ek = strcmp(optarg, "p384") == 0 ? TPM_EK_ECC_P384 : TPM_EK_RSA2048; break;
		case 'w': a->c.wrap_to_ek = true; break;
		case 'l': a->c.lease = optarg; break;
		case 's': a->check_sign = 1; break;
		case 'S': a->save = optarg; break;
		case 'T': a->c.timeout_ms = a->c.connect_timeout_ms = strtol(optarg, NULL, 10); break;
		default: return -1;
		}
	}
	if (a->pin_file != NULL && read_pin(a) != 0)
		return -1;
	return a->tcti && a->c.broker_url && a->c.ca_file && a->c.credential ? 0 : -1;
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
	if (ok) {
		EVP_PKEY *cert_key = X509_get0_pubkey(x), *tpm_key = NULL;
		ok = wire_pub_to_evp(&res->key.pub.publicArea, &tpm_key) == A11_OK &&
		     EVP_PKEY_eq(cert_key, tpm_key) == 1;
		EVP_PKEY_free(tpm_key);
	}
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

static int save_key(const char *prefix, const struct attester_result *r)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC)], priv[sizeof(TPM2B_PRIVATE)];
	size_t pl = 0, vl = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&r->key.pub, pub, sizeof(pub), &pl) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&r->priv, priv, sizeof(priv), &vl) != TSS2_RC_SUCCESS ||
	    save_blob(prefix, "pub", pub, pl) != 0 || save_blob(prefix, "priv", priv, vl) != 0 ||
	    save_chain(prefix, r) != 0) {
		fprintf(stderr, "cannot save the key to %s.pub/.priv/.crt\n", prefix);
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

static int attest(int argc, char **argv)
{
	struct args a = { 0 };
	struct attester_result res;
	struct tpm *t = NULL;
	a11_err r;
	int rc = 1;

	if (parse(argc, argv, &a) != 0) {
		fputs("usage: attest11 attest --tcti T --broker URL --ca FILE --credential NAME\n"
		      "       [--pin-file F] [--ek rsa|p384] [--wrap-to-ek] [--lease ID] [--check-sign]\n",
		      stderr);
		return 2;
	}
	if ((r = tpm_open(a.tcti, &t)) != A11_OK) {
		fprintf(stderr, "error: %s\n", a11_strerror(r));
		return 1;
	}
	r = attester_run(t, &a.c, &res);
	if (r == A11_OK) {
		print_result(&res);
		rc = a.check_sign && res.rel.kind != CRED_TOKEN ? check_sign(t, &res) : 0;
		if (rc == 0 && a.save != NULL && res.rel.kind != CRED_TOKEN)
			rc = save_key(a.save, &res);
	} else if (r == A11_ERR_REFUSED) {
		fprintf(stderr, "refused: %s: %s\n", res.refusal, res.detail);
	} else {
		fprintf(stderr, "error: %s\n", a11_strerror(r));
	}
	attester_result_clear(t, &res);
	OPENSSL_cleanse(&a, sizeof(a));
	tpm_close(t);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "attest") == 0)
		return attest(argc - 1, argv + 1);
	fputs("usage: attest11 attest ... (see attest11(1))\n", stderr);
	return 2;
}
