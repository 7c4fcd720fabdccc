#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "../common/log.h"
#include "../proto/json.h"
#include "config.h"

static int path(char *out, size_t cap, const char *dir, const char *name)
{
	return snprintf(out, cap, "%s/%s", dir, name) < (int)cap ? 0 : -1;
}

static int defaults(const char *dir, struct broker_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1");
	c->port = 8443;
	c->threads = 4;
	c->timeout = 10;
	c->nonce_ttl = 30;
	c->max_pending = 64;
	if (snprintf(c->dir, sizeof(c->dir), "%s", dir) >= (int)sizeof(c->dir) ||
	    snprintf(c->database, sizeof(c->database), "sqlite:%s/broker.db", dir) >=
		    (int)sizeof(c->database))
		return -1;
	return path(c->master_key, sizeof(c->master_key), dir, "master.key") |
	       path(c->verifier_key, sizeof(c->verifier_key), dir, "verifier.jwk") |
	       path(c->verifier_pub, sizeof(c->verifier_pub), dir, "verifier.pub.jwk") |
	       path(c->approver_key, sizeof(c->approver_key), dir, "approver.pem") |
	       path(c->approver_pub, sizeof(c->approver_pub), dir, "approver.pub.pem") |
	       path(c->tls_cert, sizeof(c->tls_cert), dir, "tls.crt") |
	       path(c->tls_key, sizeof(c->tls_key), dir, "tls.key");
}

static int get_str(json_t *o, const char *key, char *out, size_t cap)
{
	return j_conf_str(o, "broker.conf", key, false, out, cap);
}

/* An array of at most max distinct paths; absent leaves *n at 0. */
static int get_paths(json_t *o, const char *key, char (*out)[PATH_MAX], size_t max, size_t *n)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > max) {
		log_error("broker.conf: %s must be an array of at most %zu paths", key, max);
		return -1;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= PATH_MAX) {
			log_error("broker.conf: %s[%zu] must be a string of 1 to %d bytes", key, i,
				  PATH_MAX - 1);
			return -1;
		}
		memcpy(out[i], json_string_value(v), json_string_length(v) + 1);
	}
	*n = json_array_size(a);
	return 0;
}

static int get_uint(json_t *o, const char *key, unsigned min, unsigned max, unsigned *out)
{
	int64_t v = *out;
	int rc = j_conf_int(o, "broker.conf", key, min, max, &v);

	*out = (unsigned)v;
	return rc;
}

/* store: the store URI, "sqlite:PATH" or a libpq URI (store.h).
 * database is its older name, still read; both at once is an error, not
 * a silent choice between two databases. */
static int get_store(json_t *o, struct broker_config *c)
{
	if (json_object_get(o, "store") != NULL && json_object_get(o, "database") != NULL) {
		log_error("broker.conf: store and database are one setting: keep store");
		return -1;
	}
	return get_str(o, "store", c->database, sizeof(c->database)) ||
	       get_str(o, "database", c->database, sizeof(c->database));
}

static int apply(json_t *o, struct broker_config *c)
{
	static const char *const known[] = { "listen", "port", "threads", "timeout", "nonce_ttl",
		"store", "database", "master_key", "master_keys_old", "verifier_key",
		"approver_key", "approver_keys_old", "tls_cert", "tls_key", "max_pending", NULL };
	unsigned port = c->port, ttl = c->nonce_ttl;

	if (!json_is_object(o) || j_conf_known(o, "broker.conf", known) || get_store(o, c) ||
	    get_str(o, "listen", c->listen, sizeof(c->listen)) ||
	    get_uint(o, "port", 0, 65535, &port) || get_uint(o, "threads", 1, 256, &c->threads) ||
	    get_uint(o, "timeout", 1, 300, &c->timeout) ||
	    get_uint(o, "nonce_ttl", 5, 600, &ttl) ||
	    get_uint(o, "max_pending", 1, 100000, &c->max_pending) ||
	    get_str(o, "master_key", c->master_key, sizeof(c->master_key)) ||
	    get_paths(o, "master_keys_old", c->master_keys_old, CONFIG_OLD_MASTER_MAX,
		      &c->n_master_keys_old) ||
	    get_paths(o, "approver_keys_old", c->approver_keys_old, CONFIG_OLD_APPROVER_MAX,
		      &c->n_approver_keys_old) ||
	    get_str(o, "verifier_key", c->verifier_key, sizeof(c->verifier_key)) ||
	    get_str(o, "approver_key", c->approver_key, sizeof(c->approver_key)) ||
	    get_str(o, "tls_cert", c->tls_cert, sizeof(c->tls_cert)) ||
	    get_str(o, "tls_key", c->tls_key, sizeof(c->tls_key)))
		return -1;
	c->port = (uint16_t)port;
	c->nonce_ttl = ttl;
	return 0;
}

a11_err config_load(const char *dir, struct broker_config *c)
{
	char file[PATH_MAX];
	json_error_t err;
	json_t *o;
	FILE *f;
	int rc;

	if (defaults(dir, c) != 0 || path(file, sizeof(file), dir, "broker.conf") != 0)
		return A11_ERR_ARG;
	if ((f = fopen(file, "r")) == NULL)
		return errno == ENOENT ? A11_OK : A11_ERR_IO;
	o = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
	fclose(f);
	if (o == NULL) {
		log_error("%s:%d: %s", file, err.line, err.text);
		return A11_ERR_PARSE;
	}
	rc = apply(o, c);
	json_decref(o);
	return rc == 0 ? A11_OK : A11_ERR_PARSE;
}

a11_err config_master_keys(const struct broker_config *c, struct secrets **out)
{
	a11_err r = secrets_load(c->master_key, out);

	for (size_t i = 0; r == A11_OK && i < c->n_master_keys_old; i++)
		r = secrets_add(*out, c->master_keys_old[i]);
	if (r != A11_OK) {
		secrets_free(*out);
		*out = NULL;
	}
	return r;
}

a11_err config_approvers(const struct broker_config *c, struct approver **out)
{
	a11_err r = approver_load(c->approver_key, out);

	for (size_t i = 0; r == A11_OK && i < c->n_approver_keys_old; i++)
		r = approver_add(*out, c->approver_keys_old[i]);
	if (r != A11_OK) {
		approver_free(*out);
		*out = NULL;
	}
	return r;
}
