/* Operator commands of attest11-broker (man page attest11-broker(8)):
 * credentials, leases, the audit log and the master key. Each is a
 * struct cli_cmd's run (src/common/cli.h) in main.c's table: ctx is the
 * struct broker_config, argv[0] the command's last word, and the count of
 * plain arguments is checked there unless the table says -1. Each returns
 * a process exit status and prints what went wrong on stderr. */
#ifndef A11_BROKER_ADMIN_H
#define A11_BROKER_ADMIN_H

#include "config.h"

int admin_cred_add(void *ctx, int argc, char **argv);
int admin_cred_list(void *ctx, int argc, char **argv);
int admin_cred_remove(void *ctx, int argc, char **argv);
int admin_cred_policy(void *ctx, int argc, char **argv);
int admin_cred_pin(void *ctx, int argc, char **argv);
int admin_cred_unlock(void *ctx, int argc, char **argv);
int admin_lease_list(void *ctx, int argc, char **argv);
int admin_lease_revoke(void *ctx, int argc, char **argv);
int admin_audit_verify(void *ctx, int argc, char **argv);
int admin_audit_export(void *ctx, int argc, char **argv);
/* src/broker/rotate.c */
int admin_master_key_new(void *ctx, int argc, char **argv);
int admin_master_key_rekey(void *ctx, int argc, char **argv);
int admin_master_key_rotate(void *ctx, int argc, char **argv);
/* src/broker/admin_evlog.c */
int admin_policy_from_eventlog(void *ctx, int argc, char **argv);

#endif
