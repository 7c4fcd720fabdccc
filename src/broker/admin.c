#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../proto/proto.h"
#include "../wire/pin.h"
#include "admin.h"
#include "grant.h"
#include "pin.h"
#include "privkey.h"
#include "policy.h"
#include "secrets.h"
#include "store.h"

#define FILE_MAX (1 << 20)

/* Whole file, NUL-terminated; *len excludes the NUL. */
static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;

	return file_read_all(path, FILE_MAX, &buf, len) == A11_OK ? buf : NULL;
}

static void burn(char *s, size_t len)
{
	if (s != NULL)
		OPENSSL_cleanse(s, len);
	free(s);
}

static struct store *open_store(const struct broker_config *c)
{
	struct store *s = NULL;

	if (store_open(c->database, &s) != A11_OK)
		fprintf(stderr, "cannot open the database %s (run init?)\n", c->database);
	return s;
}

static int fail(const char *what, a11_err r)
{
	fprintf(stderr, "%s: %s\n", what, a11_strerror(r));
	return 1;
}

/* The private key parses and, if a chain is given, its first certificate
 * carries the matching public key. */
static int check_key_chain(const char *key_pem, size_t key_len, const char *chain)
{
	BIO *cb = NULL;
	EVP_PKEY *k = privkey_from_pem((const uint8_t *)key_pem, key_len);
	X509 *x = NULL;
	int ok = k != NULL;

	if (ok && chain != NULL) {
		cb = BIO_new_mem_buf(chain, -1);
		x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
		ok = x != NULL && X509_check_private_key(x, k) == 1;
	}
	if (!ok)
		fprintf(stderr, "the key does not parse, or does not match the first certificate\n");
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* PIN from the first line of a file, kept as src/broker/pin.h's record:
 * a fresh salt, the policy's iteration count. */
static int set_pin(struct secrets *sec, const struct policy *p, const char *file,
		   struct store_cred *cred)
{
	size_t len = 0;
	char *pin = slurp(file, &len);
	a11_err r = A11_ERR_CRYPTO;

	if (pin == NULL)
		return -1;
	pin[strcspn(pin, "\r\n")] = '\0';
	if (strlen(pin) == 0 || strlen(pin) > WIRE_PIN_MAX) {
		fprintf(stderr, "a PIN is 1 to %d bytes\n", WIRE_PIN_MAX);
		burn(pin, len);
		return -1;
	}
	free(cred->pin_verifier);
	cred->pin_verifier = NULL;
	if (RAND_bytes(cred->pin_salt, sizeof(cred->pin_salt)) == 1)
		r = pin_record_new(sec, cred->name, pin, strlen(pin), cred->pin_salt,
				   sizeof(cred->pin_salt), p->pin_iterations, &cred->pin_verifier);
	burn(pin, len);
	if (r != A11_OK)
		return fail("cannot record the PIN", r), -1;
	return 0;
}

struct add_args {
	const char *kind, *policy, *key, *chain, *token, *pin_file;
};

static int parse_add(int argc, char **argv, struct add_args *a)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' }, { "policy", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'K' }, { "chain", required_argument, NULL, 'c' },
		{ "token", required_argument, NULL, 't' }, { "pin-file", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'k': a->kind = optarg; break;
		case 'p': a->policy = optarg; break;
		case 'K': a->key = optarg; break;
		case 'c': a->chain = optarg; break;
		case 't': a->token = optarg; break;
		case 'P': a->pin_file = optarg; break;
		default: return -1;
		}
	}
	return a->kind && a->policy && optind == argc ? 0 : -1;
}

/* The credential's secret: key PEM (repository, ca) or token bytes. */
static int load_secret(const struct add_args *a, struct store_cred *cred, char **secret,
		       size_t *len)
{
	size_t clen = 0;

	if (cred->kind == CRED_TOKEN) {
		if (a->token == NULL || (*secret = slurp(a->token, len)) == NULL)
			return -1;
		return *len > 0 && *len <= PROTO_TOKEN_MAX ? 0 : -1;
	}
	if (a->key == NULL || a->chain == NULL ||
	    (*secret = slurp(a->key, len)) == NULL ||
	    (cred->chain_pem = slurp(a->chain, &clen)) == NULL)
		return -1;
	return check_key_chain(*secret, *len, cred->chain_pem);
}

/* A policy the credential's kind can use: the ca kind's certificates carry
 * the policy's workload_id as their subjectAltName URI. */
static bool policy_fits(const struct policy *p, enum cred_kind kind)
{
	if (kind != CRED_CA || p->workload_id[0] != '\0')
		return true;
	fprintf(stderr, "a ca credential's policy needs \"workload_id\" (the URI its "
		"certificates carry)\n");
	return false;
}

static int credential_add(const struct broker_config *c, const char *name, int argc, char **argv)
{
	struct add_args a = { 0 };
	struct store_cred cred = { 0 };
	struct policy *p = NULL;
	struct secrets *sec = NULL;
	struct store *s = NULL;
	char *secret = NULL, aad[STORE_NAME_MAX + 16];
	size_t slen = 0, plen = 0;
	int rc = 1;

	if (parse_add(argc, argv, &a) != 0 || cred_kind_parse(a.kind, &cred.kind) != 0)
		return 2;
	snprintf(cred.name, sizeof(cred.name), "%s", name);
	if ((cred.policy_json = slurp(a.policy, &plen)) == NULL ||
	    policy_parse(cred.policy_json, plen, &p) != A11_OK || !policy_fits(p, cred.kind) ||
	    load_secret(&a, &cred, &secret, &slen) != 0 ||
	    config_master_keys(c, &sec) != A11_OK ||
	    (a.pin_file && set_pin(sec, p, a.pin_file, &cred) != 0))
		goto out;
	grant_secret_aad(name, aad, sizeof(aad));
	if (secrets_seal(sec, aad, (uint8_t *)secret, slen, &cred.sealed_secret,
			 &cred.sealed_secret_len) != A11_OK || (s = open_store(c)) == NULL)
		goto out;
	if (store_cred_put(s, &cred) != A11_OK)
		goto out;
	printf("credential %s (%s) stored\n", name, a.kind);
	rc = 0;
out:
	burn(secret, slen);
	store_cred_clear(&cred);
	policy_free(p);
	secrets_free(sec);
	store_close(s);
	return rc;
}

static void print_cred(const struct store_cred *c, void *arg)
{
	(void)arg;
	printf("%-24s %-10s policy v%lld  pin %s\n", c->name, cred_kind_name(c->kind),
	       (long long)c->policy_version,
	       c->pin_verifier == NULL ? "none" : c->pin_locked ? "LOCKED" : "set");
}

static int credential_policy(struct store *s, const char *name, const char *file)
{
	struct store_cred cred = { 0 };
	struct policy *p = NULL;
	size_t len = 0;
	char *json = slurp(file, &len);
	a11_err r = json ? policy_parse(json, len, &p) : A11_ERR_IO;

	if (r == A11_OK && (r = store_cred_get(s, name, &cred)) == A11_OK &&
	    !policy_fits(p, cred.kind))
		r = A11_ERR_ARG;
	store_cred_clear(&cred);
	if (r == A11_OK)
		r = store_cred_set_policy(s, name, json);
	policy_free(p);
	free(json);
	return r == A11_OK ? 0 : fail("policy not updated", r);
}

/* argv: pin NAME --pin-file FILE | pin NAME --none (admin_cred_pin checks). */
static int credential_pin(const struct broker_config *c, struct store *s, char **argv)
{
	struct store_cred cred = { 0 };
	struct secrets *sec = NULL;
	struct policy *p = NULL;
	a11_err r = store_cred_get(s, argv[1], &cred);
	int rc = 1;

	if (r != A11_OK)
		return fail(argv[1], r);
	if (strcmp(argv[2], "--none") == 0) {
		free(cred.pin_verifier);
		cred.pin_verifier = NULL;
	} else if (cred.policy_json == NULL ||
		   policy_parse(cred.policy_json, strlen(cred.policy_json), &p) != A11_OK ||
		   config_master_keys(c, &sec) != A11_OK ||
		   set_pin(sec, p, argv[3], &cred) != 0) {
		goto out;
	}
	rc = store_cred_put(s, &cred) == A11_OK && store_pin_unlock(s, argv[1]) == A11_OK ? 0 : 1;
out:
	secrets_free(sec);
	policy_free(p);
	store_cred_clear(&cred);
	return rc;
}

/* The commands below are struct cli_cmd runs (main.c's table checks the
 * count of plain arguments): ctx is the broker's configuration, argv[0]
 * the command's last word. Those that need the database are a store_cmd
 * that STORE_RUN opens it for. */
typedef int store_cmd(const struct broker_config *c, struct store *s, char **argv);

static int with_store(void *ctx, store_cmd *fn, char **argv)
{
	struct store *s = open_store(ctx);
	int rc;

	if (s == NULL)
		return 1;
	rc = fn(ctx, s, argv);
	store_close(s);
	return rc;
}

#define STORE_RUN(name, fn) \
	int name(void *ctx, int argc, char **argv) { (void)argc; return with_store(ctx, fn, argv); }

int admin_cred_add(void *ctx, int argc, char **argv)
{
	return argc < 2 || argv[1][0] == '-' ? 2 : credential_add(ctx, argv[1], argc - 1, argv + 1);
}

static int cred_list(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c, (void)argv;
	return store_cred_list(s, print_cred, NULL) == A11_OK ? 0 : 1;
}

static int cred_remove(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c;
	return store_cred_delete(s, argv[1]) == A11_OK ? 0 : fail(argv[1], A11_ERR_NOT_FOUND);
}

static int cred_policy(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c;
	return credential_policy(s, argv[1], argv[2]);
}

static int cred_unlock(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c;
	return store_pin_unlock(s, argv[1]) == A11_OK ? 0 : fail(argv[1], A11_ERR_NOT_FOUND);
}

STORE_RUN(admin_cred_list, cred_list)
STORE_RUN(admin_cred_remove, cred_remove)
STORE_RUN(admin_cred_policy, cred_policy)
STORE_RUN(admin_cred_unlock, cred_unlock)

int admin_cred_pin(void *ctx, int argc, char **argv)
{
	bool none = argc == 3 && strcmp(argv[2], "--none") == 0;
	bool file = argc == 4 && strcmp(argv[2], "--pin-file") == 0;

	if ((!none && !file) || argv[1][0] == '-')
		return 2;
	return with_store(ctx, credential_pin, argv);
}

static void hex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

static void print_lease(const struct store_lease *l, void *arg)
{
	char ek[65];
	(void)arg;
	hex(l->ek_hash, 32, ek);
	char ap[9] = "-";

	if (l->approver_len == sizeof(l->approver))
		hex(l->approver + 2, 4, ap); /* the Name's digest, as approver.c logs it */
	printf("%s %-20s tpm %.16s… expires %lld%s%s%s approver %s\n", l->id, l->credential, ek,
	       (long long)l->expires, l->revoked ? " REVOKED" : "",
	       l->cert_serial[0] ? " serial " : "", l->cert_serial, ap);
}

static int lease_revoke(struct store *s, const char *id)
{
	struct store_lease l;
	struct store_audit rec = { 0 };
	a11_err r = store_lease_get(s, id, &l);

	if (r == A11_OK)
		r = store_lease_revoke(s, id);
	if (r != A11_OK)
		return fail(id, r);
	rec.time = (int64_t)time(NULL);
	snprintf(rec.event, sizeof(rec.event), "revoke");
	snprintf(rec.code, sizeof(rec.code), "ok");
	snprintf(rec.credential, sizeof(rec.credential), "%s", l.credential);
	hex(l.ek_hash, 32, rec.ek_hash);
	snprintf(rec.lease, sizeof(rec.lease), "%s", id);
	snprintf(rec.cert_serial, sizeof(rec.cert_serial), "%s", l.cert_serial);
	if ((r = store_audit_append(s, &rec)) != A11_OK)
		return fail("revoked, but the audit record failed", r);
	printf("lease %s revoked\n", id);
	return 0;
}

/* The live leases of a credential or of a TPM (EK hash, hex). */
struct lease_match {
	const char *credential, *ek;
	char (*ids)[STORE_ID_MAX + 1];
	size_t n, cap;
	bool full;
};

static void match_lease(const struct store_lease *l, void *arg)
{
	struct lease_match *m = arg;
	char ek[65];

	hex(l->ek_hash, 32, ek);
	if (l->revoked || (m->credential && strcmp(l->credential, m->credential) != 0) ||
	    (m->ek && strcasecmp(ek, m->ek) != 0))
		return;
	if (m->n == m->cap) {
		void *p = realloc(m->ids, (m->cap * 2 + 16) * sizeof(*m->ids));

		if (p == NULL) {
			m->full = true;
			return;
		}
		m->ids = p;
		m->cap = m->cap * 2 + 16;
	}
	snprintf(m->ids[m->n++], sizeof(*m->ids), "%s", l->id);
}

/* Every live lease of a credential or a TPM, each with its audit record. */
static int revoke_matching(struct store *s, const char *what, const char *value)
{
	struct lease_match m = { 0 };
	int rc = 0;

	if (strcmp(what, "--credential") == 0)
		m.credential = value;
	else if (strcmp(what, "--ek") == 0)
		m.ek = value;
	else
		return 2;
	if (store_lease_list(s, match_lease, &m) != A11_OK || m.full) {
		free(m.ids);
		return fail("cannot list the leases", A11_ERR_STORE);
	}
	for (size_t i = 0; i < m.n; i++)
		rc |= lease_revoke(s, m.ids[i]);
	printf("%zu lease(s) revoked\n", m.n);
	free(m.ids);
	return rc;
}

static int lease_list(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c, (void)argv;
	return store_lease_list(s, print_lease, NULL) == A11_OK ? 0 : 1;
}

STORE_RUN(admin_lease_list, lease_list)

static int lease_revoke_cmd(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c;
	return argv[2] == NULL ? lease_revoke(s, argv[1]) : revoke_matching(s, argv[1], argv[2]);
}

/* ID, --credential NAME or --ek EK-HASH */
int admin_lease_revoke(void *ctx, int argc, char **argv)
{
	bool id = argc == 2 && argv[1][0] != '-';
	bool by = argc == 3 && (strcmp(argv[1], "--credential") == 0 || strcmp(argv[1], "--ek") == 0);

	return id || by ? with_store(ctx, lease_revoke_cmd, argv) : 2;
}

static int export_one(const struct store_audit *a, void *arg)
{
	char h[65], p[65];
	json_t *o;
	char *line;

	(void)arg;
	hex(a->hash, 32, h);
	hex(a->prev_hash, 32, p);
	o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}",
		      "seq", (json_int_t)a->seq, "time", (json_int_t)a->time, "event", a->event,
		      "code", a->code, "credential", a->credential, "ek_hash", a->ek_hash,
		      "ak_name", a->ak_name, "pcr_digest", a->pcr_digest, "ar_digest",
		      a->ar_digest, "policy_version", (json_int_t)a->policy_version, "lease",
		      a->lease, "cert_serial", a->cert_serial, "prev_hash", p, "hash", h);
	line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (line != NULL)
		puts(line);
	free(line);
	json_decref(o);
	return line == NULL;
}

static int audit_verify(const struct broker_config *c, struct store *s, char **argv)
{
	int64_t bad = 0;
	a11_err r = store_audit_verify(s, &bad);

	(void)c, (void)argv;
	if (r == A11_OK)
		printf("audit chain verifies\n");
	else if (r == A11_ERR_AUDIT)
		printf("audit chain BROKEN at record %lld\n", (long long)bad);
	else
		fail("audit verify", r);
	return r == A11_OK ? 0 : 1;
}

static int audit_export(const struct broker_config *c, struct store *s, char **argv)
{
	(void)c, (void)argv;
	return store_audit_iter(s, export_one, NULL) == A11_OK ? 0 : 1;
}

STORE_RUN(admin_audit_verify, audit_verify)
STORE_RUN(admin_audit_export, audit_export)
