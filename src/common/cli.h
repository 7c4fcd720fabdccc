/* Command lines of the two binaries: one table of commands per binary is
 * the only place their usage is written. --help (or -h) after any prefix
 * of a command prints its usage on stdout and exits 0; --version prints
 * "PROG VERSION"; a usage error prints the usage on stderr and exits 2. */
#ifndef A11_CLI_H
#define A11_CLI_H

#include <stdio.h>

/* A command of one or two words. run gets argv[0] = the last word of name
 * and returns the exit status (2: usage error, the table prints usage). */
struct cli_cmd {
	const char *name;     /* "credential add"; "" for a binary's only command */
	const char *args;     /* "NAME --kind ..."; "\n" continues a line */
	const char *help;     /* one line */
	int nargs;            /* exact count of plain arguments, or -1: run checks them */
	int (*run)(void *ctx, int argc, char **argv);
};

struct cli {
	const char *prog;     /* "attest11-broker" */
	const char *global;   /* options before the command, "" for none */
	const char *footer;   /* printed after the full usage, or NULL */
	const struct cli_cmd *cmds;
	size_t n;
};

/* The command argv names, with argc/argv moved to its last word; or NULL
 * with *rc the exit status when --help, --version or a usage error was
 * answered here. */
const struct cli_cmd *cli_find(const struct cli *cli, int *argc, char ***argv, int *rc);
/* Runs cmd; a usage error (2) prints cmd's usage on stderr. */
int cli_run(const struct cli *cli, const struct cli_cmd *cmd, void *ctx, int argc, char **argv);

#endif
