/* The broker's settings: a directory holding its keys and database, and
 * an optional JSON file DIR/broker.conf overriding the defaults
 * (docs/operations.md, "Broker configuration"). */
#ifndef A11_BROKER_CONFIG_H
#define A11_BROKER_CONFIG_H

#include <limits.h>
#include <stdint.h>

#include "../common/err.h"
#include "approver.h"
#include "secrets.h"

/* Older keys kept while replicas rotate (docs/operations.md, "Rotating
 * keys"): the master keys that still open, the approver keys that still
 * renew the leases bound to them. */
#define CONFIG_OLD_MASTER_MAX (SECRETS_KEYS_MAX - 1)
#define CONFIG_OLD_APPROVER_MAX (APPROVER_KEYS_MAX - 1)

struct broker_config {
	char dir[PATH_MAX];
	char listen[64];            /* "127.0.0.1" */
	uint16_t port;              /* 8443 */
	unsigned threads;           /* 4 */
	unsigned timeout;           /* idle connection timeout, s: 10 */
	uint32_t nonce_ttl;         /* s: 30 */
	unsigned max_pending;       /* attestations in progress (admit.h): 64 */
	char database[PATH_MAX + 8];  /* the store URI (broker.conf's store): "sqlite:DIR/broker.db" */
	char master_key[PATH_MAX];   /* the one that seals */
	char master_keys_old[CONFIG_OLD_MASTER_MAX][PATH_MAX];
	size_t n_master_keys_old;
	char verifier_key[PATH_MAX];
	char verifier_pub[PATH_MAX];
	char approver_key[PATH_MAX];  /* policy-signing key (approver.h): new leases */
	char approver_keys_old[CONFIG_OLD_APPROVER_MAX][PATH_MAX];
	size_t n_approver_keys_old;
	char approver_pub[PATH_MAX];
	char tls_cert[PATH_MAX];
	char tls_key[PATH_MAX];
};

a11_err config_load(const char *dir, struct broker_config *c);
/* The key rings the configuration names: the current key and the old ones. */
a11_err config_master_keys(const struct broker_config *c, struct secrets **out);
a11_err config_approvers(const struct broker_config *c, struct approver **out);

#endif
