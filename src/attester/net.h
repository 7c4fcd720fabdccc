/* attest11-net.so: the HTTPS client (client.h, libcurl) in an object of
 * its own, so that attest11.so loads libcurl and its ~30 libraries only
 * when a login or renewal must reach the broker (docs/pkcs11.md, "The
 * network object"). The module finds it beside itself (src/p11/netload.c)
 * and calls NET_ENTRY, the object's one export; the table it returns says
 * which ABI it speaks. Any change to the table or to client.h's types
 * bumps NET_ABI and the entry's name. */
#ifndef A11_ATTESTER_NET_H
#define A11_ATTESTER_NET_H

#include "../common/log.h"
#include "client.h"

#define NET_ABI 2
#define NET_ENTRY "a11_net_v2"
#define NET_OBJECT "attest11-net.so"

struct a11_net {
	unsigned abi;                 /* NET_ABI */
	a11_err (*open)(const char *brokers, const char *ca_file, long connect_ms, long total_ms,
			struct client **out);
	void (*close)(struct client *c);
	bool (*fits)(const struct client *c, const char *brokers, const char *ca_file,
		     long connect_ms, long total_ms);
	a11_err (*post)(struct client *c, const char *path, const char *json,
			struct client_response *out);
};

/* The object's table, its log at the module's level (it has its own copy
 * of src/common/log.c). */
typedef const struct a11_net *(*a11_net_entry)(enum a11_log_level level);
const struct a11_net *a11_net_v2(enum a11_log_level level);

#endif
