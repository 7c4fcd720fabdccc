/* Operator commands of attest11-broker (man page attest11-broker(8)):
 * credentials, leases, the audit log and the master key. Each returns a
 * process exit status and prints what went wrong on stderr. */
#ifndef A11_BROKER_ADMIN_H
#define A11_BROKER_ADMIN_H

#include "config.h"

int admin_credential(const struct broker_config *c, int argc, char **argv);
int admin_lease(const struct broker_config *c, int argc, char **argv);
int admin_audit(const struct broker_config *c, int argc, char **argv);
int admin_master_key(const struct broker_config *c, int argc, char **argv);

#endif
