/* master-key rotate: re-seal every credential's secret and PIN record under
 * a new master key, then put the new key in place. Run it with the broker
 * stopped. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "admin.h"
#include "grant.h"
#include "pin.h"
#include "secrets.h"
#include "store.h"

struct names {
	char (*v)[STORE_NAME_MAX + 1];
	size_t n, cap;
};

static void collect(const struct store_cred *c, void *arg)
{
	struct names *ns = arg;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 16;
		void *v = realloc(ns->v, cap * sizeof(*ns->v));
		if (v == NULL)
			return;
		ns->v = v;
		ns->cap = cap;
	}
	memcpy(ns->v[ns->n++], c->name, sizeof(c->name));
}

static a11_err reseal(struct store *s, struct secrets *old, struct secrets *new,
		      const char *name)
{
	struct store_cred c = { 0 };
	char aad[STORE_NAME_MAX + 16];
	uint8_t *plain = NULL, *sealed = NULL;
	char *pin = NULL;
	size_t plen = 0, slen = 0;
	a11_err r = store_cred_get(s, name, &c);

	grant_secret_aad(name, aad, sizeof(aad));
	if (r == A11_OK)
		r = secrets_open(old, aad, c.sealed_secret, c.sealed_secret_len, &plain, &plen);
	if (r == A11_OK)
		r = secrets_seal(new, aad, plain, plen, &sealed, &slen);
	if (r == A11_OK) {
		free(c.sealed_secret);
		c.sealed_secret = sealed;
		c.sealed_secret_len = slen;
	}
	if (r == A11_OK && c.pin_verifier != NULL) {
		r = pin_record_reseal(old, new, name, c.pin_verifier, &pin);
		free(c.pin_verifier);
		c.pin_verifier = pin;
	}
	if (r == A11_OK)
		r = store_cred_put(s, &c);
	if (plain != NULL)
		OPENSSL_cleanse(plain, plen);
	free(plain);
	store_cred_clear(&c);
	return r;
}

static int rotate(const struct broker_config *c, const char *new_path)
{
	struct secrets *old = NULL, *new = NULL;
	struct store *s = NULL;
	struct names ns = { 0 };
	char backup[PATH_MAX + 8];
	a11_err r;
	int rc = 1;

	if ((r = secrets_create(new_path)) != A11_OK || (r = secrets_load(new_path, &new)) != A11_OK ||
	    (r = secrets_load(c->master_key, &old)) != A11_OK ||
	    (r = store_open(c->database, &s)) != A11_OK ||
	    (r = store_cred_list(s, collect, &ns)) != A11_OK) {
		fprintf(stderr, "rotate: %s (the new key file must not exist yet)\n", a11_strerror(r));
		goto out;
	}
	for (size_t i = 0; i < ns.n; i++)
		if ((r = reseal(s, old, new, ns.v[i])) != A11_OK) {
			fprintf(stderr, "rotate: %s: %s; %zu of %zu re-sealed, both keys kept\n",
				ns.v[i], a11_strerror(r), i, ns.n);
			goto out;
		}
	snprintf(backup, sizeof(backup), "%s.old", c->master_key);
	if (rename(c->master_key, backup) != 0 || rename(new_path, c->master_key) != 0) {
		fprintf(stderr, "rotate: re-sealed, but could not move %s into place\n", new_path);
		goto out;
	}
	printf("re-sealed %zu credentials; old key kept as %s: destroy it when backups allow\n",
	       ns.n, backup);
	rc = 0;
out:
	free(ns.v);
	store_close(s);
	secrets_free(old);
	secrets_free(new);
	return rc;
}

int admin_master_key_rotate(void *ctx, int argc, char **argv)
{
	(void)argc;
	return rotate(ctx, argv[1]);
}
