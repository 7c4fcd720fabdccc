/* Master key rotation (docs/operations.md, "Rotating keys"): `master-key
 * new` makes a key, `master-key rekey` re-seals every credential's secret
 * and PIN record under the current key of the ring broker.conf names,
 * while replicas serve, and `master-key rotate` does both for one broker
 * that is stopped. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "config.h"
#include "grant.h"
#include "pin.h"
#include "secrets.h"
#include "store.h"

/* A row changed by an operator between its read and its write is read
 * again; past this many times in a row, rekey gives up on it. */
#define RESEAL_TRIES 3

struct names {
	char (*v)[STORE_NAME_MAX + 1];
	size_t n, cap;
	bool nomem;
};

static void collect(const struct store_cred *c, void *arg)
{
	struct names *ns = arg;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 16;
		void *v = realloc(ns->v, cap * sizeof(*ns->v));
		if (v == NULL) {
			ns->nomem = true;
			return;
		}
		ns->v = v;
		ns->cap = cap;
	}
	memcpy(ns->v[ns->n++], c->name, sizeof(c->name));
}

/* Under the current key: both values name it (format 1 names none). */
static bool is_current(struct secrets *s, const struct store_cred *c)
{
	uint32_t id, cur = secrets_current_id(s);

	return secrets_sealed_id(c->sealed_secret, c->sealed_secret_len, &id) == A11_OK &&
	       id == cur &&
	       (c->pin_verifier == NULL ||
		(pin_record_key(c->name, c->pin_verifier, &id) == A11_OK && id == cur));
}

/* Opens with any key of s, seals under its current one, and writes only
 * over the values it read (store_cred_reseal): *lost if they changed. */
static a11_err reseal_once(struct store *s, struct secrets *sec, const struct store_cred *c,
			   bool *lost)
{
	struct store_reseal rs = { .name = c->name, .old_secret = c->sealed_secret,
				   .old_secret_len = c->sealed_secret_len, .old_pin = c->pin_verifier };
	char aad[STORE_NAME_MAX + 16], *pin = NULL;
	uint8_t *plain = NULL, *sealed = NULL;
	size_t plen = 0, slen = 0;
	a11_err r;

	grant_secret_aad(c->name, aad, sizeof(aad));
	r = secrets_open(sec, aad, c->sealed_secret, c->sealed_secret_len, &plain, &plen);
	if (r == A11_OK)
		r = secrets_seal(sec, aad, plain, plen, &sealed, &slen);
	if (r == A11_OK && c->pin_verifier != NULL)
		r = pin_record_reseal(sec, c->name, c->pin_verifier, &pin);
	if (r == A11_OK) {
		rs.secret = sealed;
		rs.secret_len = slen;
		rs.pin = pin;
		r = store_cred_reseal(s, &rs);
		*lost = r == A11_ERR_NOT_FOUND;
	}
	if (plain != NULL)
		OPENSSL_cleanse(plain, plen);
	free(plain);
	free(sealed);
	free(pin);
	return r;
}

/* One credential, one transaction. *done: it was re-sealed (not already
 * current, not removed meanwhile). */
static a11_err reseal(struct store *s, struct secrets *sec, const char *name, bool *done)
{
	a11_err r = A11_OK;
	bool lost = true;

	*done = false;
	for (int i = 0; i < RESEAL_TRIES && lost; i++) {
		struct store_cred c = { 0 };

		lost = false;
		if ((r = store_cred_get(s, name, &c)) == A11_ERR_NOT_FOUND)
			return A11_OK; /* removed meanwhile: nothing to re-seal */
		if (r == A11_OK && !is_current(sec, &c)) {
			r = reseal_once(s, sec, &c, &lost);
			*done = r == A11_OK;
		}
		store_cred_clear(&c);
	}
	return lost ? A11_ERR_BUSY : r; /* changed every time: try again later */
}

/* Every credential under the current key of sec; 0 when all are. */
static int rekey(struct store *s, struct secrets *sec)
{
	struct names ns = { 0 };
	size_t resealed = 0;
	a11_err r = store_cred_list(s, collect, &ns);
	bool done;

	if (r == A11_OK && ns.nomem)
		r = A11_ERR_NOMEM;
	for (size_t i = 0; r == A11_OK && i < ns.n; i++) {
		r = reseal(s, sec, ns.v[i], &done);
		resealed += done;
		if (r != A11_OK)
			fprintf(stderr, "rekey: %s: %s; %zu of %zu re-sealed, run it again\n",
				ns.v[i], r == A11_ERR_NOT_FOUND ? "under a master key not configured"
								: a11_strerror(r), resealed, ns.n);
	}
	if (r == A11_OK)
		printf("re-sealed %zu of %zu credentials; all are under master key %08x\n",
		       resealed, ns.n, secrets_current_id(sec));
	free(ns.v);
	return r == A11_OK ? 0 : 1;
}

int admin_master_key_new(void *ctx, int argc, char **argv)
{
	struct secrets *s = NULL;
	a11_err r;

	(void)ctx, (void)argc;
	if ((r = secrets_create(argv[1])) != A11_OK || (r = secrets_load(argv[1], &s)) != A11_OK) {
		fprintf(stderr, "master-key new: %s: %s (it must not exist yet)\n", argv[1],
			a11_strerror(r));
		return 1;
	}
	printf("master key %s, id %08x\n", argv[1], secrets_current_id(s));
	secrets_free(s);
	return 0;
}

int admin_master_key_rekey(void *ctx, int argc, char **argv)
{
	struct secrets *sec = NULL;
	struct store *s = NULL;
	int rc = 1;

	(void)argc, (void)argv;
	if (config_master_keys(ctx, &sec) != A11_OK ||
	    store_open(((const struct broker_config *)ctx)->database, &s) != A11_OK)
		fprintf(stderr, "rekey: cannot load the master keys or the database\n");
	else
		rc = rekey(s, sec);
	store_close(s);
	secrets_free(sec);
	return rc;
}

/* One broker, stopped: a new key, the old one kept to open, a rekey, then
 * the files swapped. */
static int rotate(const struct broker_config *c, const char *new_path)
{
	struct secrets *sec = NULL;
	struct store *s = NULL;
	char backup[PATH_MAX + 8];
	a11_err r;
	int rc = 1;

	if ((r = secrets_create(new_path)) != A11_OK || (r = secrets_load(new_path, &sec)) != A11_OK ||
	    (r = secrets_add(sec, c->master_key)) != A11_OK ||
	    (r = store_open(c->database, &s)) != A11_OK) {
		fprintf(stderr, "rotate: %s (the new key file must not exist yet)\n", a11_strerror(r));
		goto out;
	}
	if (rekey(s, sec) != 0) {
		fprintf(stderr, "rotate: both keys kept\n");
		goto out;
	}
	snprintf(backup, sizeof(backup), "%s.old", c->master_key);
	if (rename(c->master_key, backup) != 0 || rename(new_path, c->master_key) != 0) {
		fprintf(stderr, "rotate: re-sealed, but could not move %s into place\n", new_path);
		goto out;
	}
	printf("old key kept as %s: destroy it when backups allow\n", backup);
	rc = 0;
out:
	store_close(s);
	secrets_free(sec);
	return rc;
}

int admin_master_key_rotate(void *ctx, int argc, char **argv)
{
	(void)argc;
	return rotate(ctx, argv[1]);
}
