/*
 * chatstack uninstall: stops and removes what chatstack installed (units,
 * configuration, packages it added), keeping data and secrets unless
 * --purge, which asks for a confirmation (or --yes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answers.h"
#include "cmd-engine.h"
#include "cmd.h"
#include "engine.h"
#include "steps.h"
#include "xmalloc.h"

static const char cmd_uninstall_help[] =
    "Keeps the databases, the message queue's data, the secrets and the\n"
    "certificates, so that an install afterwards finds them again.\n\n"
    "options:\n"
    "  --purge      also delete the data, secrets, certificates and logs\n"
    "  --yes        do not ask for a confirmation\n"
    "  --answers FILE  the answers of the install to undo; default: those\n"
    "               of the last install\n"
    "  --root DIR   act on DIR as if it were / (tests only)\n";

/* Asks on the terminal; returns 1 when the user typed the word. */
static int
cmd_uninstall_confirm(int purge)
{
	char line[64];

	if (!isatty(STDIN_FILENO))
		return 0;
	fprintf(stderr,
	    "This stops the chat service and removes chatstack's "
	    "packages, units and configuration%s.\nType '%s' to go on: ",
	    purge ? ", AND DELETES every message, account and secret" : "",
	    purge ? "purge" : "uninstall");
	if (fgets(line, sizeof line, stdin) == NULL)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	return strcmp(line, purge ? "purge" : "uninstall") == 0;
}

static int
cmd_uninstall_exec(int argc, char **argv)
{
	struct cmd_engine c;
	char *cause = NULL;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = cmd_engine_parse(
		 &cmd_uninstall_entry, "pyaR", &c, argc, argv)) != 0)
		goto out;
	if (!c.yes && !cmd_uninstall_confirm(c.purge)) {
		fprintf(stderr,
		    "chatstack uninstall: not confirmed; nothing "
		    "was changed (use --yes when unattended)\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_engine_setup(&c, ENGINE_APPLY)) != 0)
		goto out;
	c.engine->verb = "uninstall";
	if ((rc = cmd_engine_begin(&c)) != 0)
		goto out;
	if (plan_build_uninstall(c.engine, c.purge, &cause) == -1) {
		fprintf(stderr, "chatstack uninstall: %s\n", cause);
		free(cause);
		rc = EXIT_FAILURE;
		goto out;
	}
	rc = cmd_engine_exit(&c, engine_run(c.engine));
	if (rc == 0 && !c.purge)
		printf(
		    "Data, secrets and certificates were kept (/var/lib/mysql, "
		    "/var/lib/redis, /var/lib/rabbitmq, /etc/chatstack); "
		    "'chatstack uninstall --purge' deletes them.\n");
out:
	cmd_engine_free(&c);
	return rc;
}

const struct cmd_entry cmd_uninstall_entry = {
    .name = "uninstall",
    .args = "[--purge] [--yes]",
    .summary = "Remove what chatstack installed, keeping data unless "
	       "--purge.",
    .help = cmd_uninstall_help,
    .exec = cmd_uninstall_exec,
};
