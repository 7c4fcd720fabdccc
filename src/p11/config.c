#define _GNU_SOURCE /* process_vm_readv */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <jansson.h>

#include "../attester/client.h"
#include "../common/log.h"
#include "../proto/json.h"
#include "config.h"

const char *config_path(const char *reserved)
{
	static char from_reserved[4096];
	const char *env = getenv("ATTEST11_CONF");

	if (env != NULL && *env != '\0')
		return env;
	if (reserved != NULL && strncmp(reserved, "conf=", 5) == 0 &&
	    snprintf(from_reserved, sizeof(from_reserved), "%s", reserved + 5) <
		    (int)sizeof(from_reserved))
		return from_reserved;
	return P11_DEFAULT_CONF;
}

/* Copy the C string at p into buf (cap bytes, NUL included) without ever
 * touching p directly: process_vm_readv on our own process answers EFAULT
 * for memory that is not readable, where a load would crash the host.
 * Read a page at a time, so a string ending just before an unmapped page
 * is still read whole. */
static bool peek_string(const void *p, char *buf, size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;

	while (n < cap) {
		uintptr_t at = (uintptr_t)p + n;
		size_t chunk = page - at % page < cap - n ? page - at % page : cap - n;
		struct iovec local = { buf + n, chunk }, remote = { (void *)at, chunk };

		if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)chunk)
			return false;
		if (memchr(buf + n, '\0', chunk) != NULL)
			return true;
		n += chunk;
	}
	return false;
}

CK_RV config_reserved(const void *reserved, char *out, size_t cap)
{
	if (reserved != NULL && peek_string(reserved, out, cap) && strncmp(out, "conf=", 5) == 0)
		return CKR_OK;
	log_error("C_Initialize: pReserved is neither NULL nor a readable \"conf=PATH\" string "
		  "of at most %zu bytes (p11-kit's x-init-reserved)", cap - 1);
	return CKR_ARGUMENTS_BAD;
}

#define WHERE "attest11.conf"

static int str(json_t *o, const char *key, bool required, char *out, size_t cap)
{
	return j_conf_str(o, WHERE, key, required, out, cap);
}

static int num(json_t *o, const char *key, long min, long max, long *out)
{
	int64_t v = *out;
	int rc = j_conf_int(o, WHERE, key, min, max, &v);

	*out = (long)v;
	return rc;
}

/* One of names[] -> its index in *out; absent keeps *out. */
static int choice(json_t *o, const char *key, const char *const *names, int *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	for (int i = 0; json_is_string(v) && names[i] != NULL; i++)
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = i;
			return 0;
		}
	log_error(WHERE ": %s has an unknown value", key);
	return -1;
}

/* "" turns sharing between processes off. */
static int state_dir(json_t *o, struct p11_config *c)
{
	json_t *v = json_object_get(o, "state_dir");

	if (json_is_string(v) && json_string_length(v) == 0) {
		c->state_dir[0] = '\0';
		return 0;
	}
	return str(o, "state_dir", false, c->state_dir, sizeof(c->state_dir));
}

/* "https://a:8443", or the replicas' URLs ["https://a:8443", "https://b:8443"]
 * joined here by commas, the form the attester's client takes. */
static int brokers(json_t *o, struct p11_config *c)
{
	json_t *v = json_object_get(o, "broker"), *u;
	size_t i, at = 0;

	if (!json_is_array(v))
		return str(o, "broker", true, c->broker, sizeof(c->broker)) ||
		       client_brokers_check(c->broker) != A11_OK;
	if (json_array_size(v) == 0 || json_array_size(v) > CLIENT_MAX_BROKERS)
		goto bad;
	json_array_foreach(v, i, u) {
		const char *s = json_string_value(u);
		int n = s != NULL && strchr(s, ',') == NULL
				? snprintf(c->broker + at, sizeof(c->broker) - at, "%s%s", i ? "," : "", s)
				: -1;

		if (n < 0 || (size_t)n >= sizeof(c->broker) - at)
			goto bad;
		at += (size_t)n;
	}
	return client_brokers_check(c->broker) != A11_OK;
bad:
	log_error(WHERE ": broker is a URL or a list of 1 to %d URLs (without commas)",
		  CLIENT_MAX_BROKERS);
	return -1;
}

static int token(json_t *o, struct p11_token_conf *t)
{
	static const char *const key_types[] = { "rsa", "ec", NULL };
	/* In enum tpm_ek_kind's order. */
	static const char *const eks[] = { "rsa", "p256", "p384", "auto", NULL };
	static const char *const parents[] = { "srk", "ek", NULL };
	static const char *const known[] = { "label", "credential", "key_type", "ek", "parent",
		NULL };
	int kt = 1, ek = TPM_EK_AUTO, parent = 0;

	if (!json_is_object(o) || j_conf_known(o, "attest11.conf: tokens[]", known) ||
	    str(o, "label", true, t->label, sizeof(t->label)) ||
	    str(o, "credential", true, t->credential, sizeof(t->credential)) ||
	    choice(o, "key_type", key_types, &kt) || choice(o, "ek", eks, &ek) ||
	    choice(o, "parent", parents, &parent))
		return -1;
	t->key_type = kt == 0 ? CKK_RSA : CKK_EC;
	t->ek = (enum tpm_ek_kind)ek;
	t->wrap_to_ek = parent == 1;
	return 0;
}

static int apply(json_t *o, struct p11_config *c)
{
	static const char *const levels[] = { "error", "warn", "info", "debug", NULL };
	static const char *const known[] = { "broker", "ca_file", "tcti", "connect_timeout_ms",
		"timeout_ms", "state_dir", "renew_at_percent", "log_level", "ear_key", "tokens",
		"eventlog", NULL };
	json_t *tokens = json_object_get(o, "tokens"), *t;
	int level = -1;
	size_t i;

	if (!json_is_object(o) || j_conf_known(o, "attest11.conf", known) ||
	    brokers(o, c) ||
	    str(o, "ca_file", true, c->ca_file, sizeof(c->ca_file)) ||
	    str(o, "tcti", false, c->tcti, sizeof(c->tcti)) ||
	    num(o, "connect_timeout_ms", 100, 600000, &c->connect_timeout_ms) ||
	    num(o, "timeout_ms", 100, 600000, &c->timeout_ms) ||
	    state_dir(o, c) ||
	    num(o, "renew_at_percent", 10, 95, &c->renew_at_percent) ||
	    str(o, "ear_key", false, c->ear_key, sizeof(c->ear_key)) ||
	    str(o, "eventlog", false, c->eventlog, sizeof(c->eventlog)) ||
	    choice(o, "log_level", levels, &level))
		return -1;
	if (level >= 0 && getenv("ATTEST11_LOG") == NULL)
		a11_log_set_level((enum a11_log_level)level);
	if (!json_is_array(tokens) || json_array_size(tokens) == 0 ||
	    json_array_size(tokens) > P11_MAX_TOKENS) {
		log_error("attest11.conf: tokens must list 1 to %d tokens", P11_MAX_TOKENS);
		return -1;
	}
	json_array_foreach(tokens, i, t) {
		if (token(t, &c->tokens[i]) != 0)
			return -1;
		c->n_tokens++;
	}
	return 0;
}

CK_RV config_load(const char *path, struct p11_config *c)
{
	json_error_t err;
	json_t *o;
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->tcti, sizeof(c->tcti), "device:/dev/tpmrm0");
	c->connect_timeout_ms = 5000;
	c->timeout_ms = 15000;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", A11_STATE_DIR);
	c->renew_at_percent = 67;
	snprintf(c->eventlog, sizeof(c->eventlog), "%s", ATTESTER_EVENTLOG_DEFAULT);
	if ((o = json_load_file(path, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		log_error("cannot load %s: line %d: %s", path, err.line, err.text);
		return CKR_GENERAL_ERROR;
	}
	rc = apply(o, c);
	json_decref(o);
	if (rc != 0)
		log_error("configuration %s refused", path);
	return rc == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}
