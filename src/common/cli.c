/* Command tables, usage and the --help / --version answers (cli.h). */
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "version.h"

enum ask { ASK_NONE, ASK_HELP, ASK_VERSION };

/* --help or --version among argv[1..] before "--": the first one wins. */
static enum ask asks(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return ASK_HELP;
		if (strcmp(argv[i], "--version") == 0)
			return ASK_VERSION;
	}
	return ASK_NONE;
}

/* How many of argv[1..] spell name word by word: its word count, or 0. */
static int spells(const char *name, int argc, char **argv)
{
	int i = 1;

	while (*name != '\0') {
		size_t len = strcspn(name, " ");

		if (i >= argc || strlen(argv[i]) != len || strncmp(argv[i], name, len) != 0)
			return 0;
		i++;
		name += len;
		name += *name == ' ';
	}
	return i - 1;
}

/* name is one of the commands of group ("credential" for "credential add"). */
static bool in_group(const char *name, const char *group)
{
	size_t len = group != NULL ? strlen(group) : 0;

	return len > 0 && strncmp(name, group, len) == 0 && name[len] == ' ';
}

/* args with each continuation line indented under the command. */
static void print_args(FILE *f, const char *args, const char *indent)
{
	while (*args != '\0') {
		size_t len = strcspn(args, "\n");

		fprintf(f, "%.*s", (int)len, args);
		args += len;
		if (*args == '\n') {
			fprintf(f, "\n%s", indent);
			args++;
		}
	}
}

static void print_cmd(FILE *f, const struct cli_cmd *c)
{
	fprintf(f, "  %s%s", c->name, c->args[0] != '\0' ? " " : "");
	print_args(f, c->args, "        ");
	fprintf(f, "\n      %s\n", c->help);
}

/* Every command, or those of one group. */
static void print_all(FILE *f, const struct cli *cli, const char *group)
{
	fprintf(f, "usage: %s %sCOMMAND [ARGS]\n       %s --help | --version\n"
		"commands (each also takes --help):\n", cli->prog, cli->global, cli->prog);
	for (size_t i = 0; i < cli->n; i++)
		if (group == NULL || in_group(cli->cmds[i].name, group))
			print_cmd(f, &cli->cmds[i]);
	if (cli->footer != NULL && group == NULL)
		fputs(cli->footer, f);
}

static void print_one(FILE *f, const struct cli *cli, const struct cli_cmd *c)
{
	fprintf(f, "usage: %s %s%s%s", cli->prog, cli->global, c->name,
		c->name[0] != '\0' && c->args[0] != '\0' ? " " : "");
	print_args(f, c->args, "        ");
	fprintf(f, "\n  %s\n", c->help);
}

const struct cli_cmd *cli_find(const struct cli *cli, int *argc, char ***argv, int *rc)
{
	const struct cli_cmd *best = NULL;
	const char *group = NULL;
	int words = 0;

	for (size_t i = 0; i < cli->n; i++) {
		int k = spells(cli->cmds[i].name, *argc, *argv);

		/* A command named "" is a binary's only one (attest11-load):
		 * it takes the whole command line, no word to spell. */
		if (k > words || (best == NULL && cli->cmds[i].name[0] == '\0')) {
			best = &cli->cmds[i];
			words = k;
		} else if (*argc > 1 && in_group(cli->cmds[i].name, (*argv)[1])) {
			group = (*argv)[1];
		}
	}
	*rc = 0;
	switch (asks(*argc - words, *argv + words)) {
	case ASK_VERSION:
		printf("%s %s\n", cli->prog, A11_VERSION);
		return NULL;
	case ASK_HELP:
		best ? print_one(stdout, cli, best) : print_all(stdout, cli, group);
		return NULL;
	case ASK_NONE:
		break;
	}
	if (best == NULL) {
		print_all(stderr, cli, group);
		*rc = 2;
		return NULL;
	}
	*argc -= words;
	*argv += words;
	return best;
}

/* A command with a fixed count of arguments takes no options: "-x" there
 * is a mistake, never a name. */
static bool args_fit(const struct cli_cmd *c, int argc, char **argv)
{
	if (c->nargs < 0)
		return true;
	if (argc - 1 != c->nargs)
		return false;
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-')
			return false;
	return true;
}

int cli_run(const struct cli *cli, const struct cli_cmd *cmd, void *ctx, int argc, char **argv)
{
	int rc = args_fit(cmd, argc, argv) ? cmd->run(ctx, argc, argv) : 2;

	if (rc == 2)
		print_one(stderr, cli, cmd);
	return rc;
}
