/* The module's HTTPS client (client.h) without libcurl in attest11.so:
 * these definitions stand in for src/attester/client.c, which lives in
 * attest11-net.so (src/attester/net.h) beside the module and is loaded
 * at the first exchange with the broker. A login on a cached host lease
 * never gets here, and so loads no libcurl (docs/pkcs11.md, "The network
 * object"). */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../attester/net.h"

/* Set once, never unset: the object is never unloaded (open clients and
 * curl's global state live in it). Two threads racing to load it get the
 * same table (dlopen counts references); no lock that a fork could
 * inherit held. */
static _Atomic(const struct a11_net *) net;

/* attest11-net.so in the directory this module was loaded from. */
static bool object_path(char *out, size_t cap)
{
	Dl_info info;
	const char *slash;
	int n;

	if (dladdr((const void *)object_path, &info) == 0 || info.dli_fname == NULL ||
	    (slash = strrchr(info.dli_fname, '/')) == NULL)
		return false;
	n = snprintf(out, cap, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname,
		     NET_OBJECT);
	return n > 0 && (size_t)n < cap;
}

/* The table, loaded now if need be; NULL (logged, naming the file) if the
 * object is missing, unloadable or of another ABI. */
static const struct a11_net *load(void)
{
	const struct a11_net *t = atomic_load(&net);
	char path[PATH_MAX];
	a11_net_entry entry;
	void *h;

	if (t != NULL)
		return t;
	if (!object_path(path, sizeof(path))) {
		log_error("cannot tell the directory attest11.so was loaded from: no %s to reach "
			  "the broker with", NET_OBJECT);
		return NULL;
	}
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_error("cannot load %s, the module's HTTPS client (install it beside "
			  "attest11.so): %s", path, dlerror());
		return NULL;
	}
	*(void **)&entry = dlsym(h, NET_ENTRY);
	t = entry != NULL ? entry(a11_log_get_level()) : NULL;
	if (t == NULL || t->abi != NET_ABI) {
		log_error("%s is not the HTTPS client of this attest11.so (no %s of ABI %d): "
			  "install both from one build", path, NET_ENTRY, NET_ABI);
		dlclose(h);
		return NULL;
	}
	log_debug("loaded %s", path);
	atomic_store(&net, t);
	return t;
}

a11_err client_open(const char *brokers, const char *ca_file, long connect_ms, long total_ms,
		    struct client **out)
{
	const struct a11_net *t = load();

	*out = NULL;
	return t != NULL ? t->open(brokers, ca_file, connect_ms, total_ms, out) : A11_ERR_IO;
}

/* A client exists only if the object was loaded. */
void client_close(struct client *c)
{
	if (c != NULL)
		atomic_load(&net)->close(c);
}

bool client_fits(const struct client *c, const char *brokers, const char *ca_file,
		 long connect_ms, long total_ms)
{
	return atomic_load(&net)->fits(c, brokers, ca_file, connect_ms, total_ms);
}

a11_err client_post(struct client *c, const char *path, const char *json,
		    struct client_response *out)
{
	return atomic_load(&net)->post(c, path, json, out);
}
