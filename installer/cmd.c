#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "xmalloc.h"

struct cmd_global cmd_global;

const struct cmd_entry *const cmd_table[] = {&cmd_preflight_entry,
    &cmd_plan_entry, &cmd_install_entry, &cmd_status_entry, &cmd_verify_entry,
    &cmd_uninstall_entry, &cmd_answers_entry, &cmd_bundle_entry,
    &cmd_certs_entry, &cmd_remote_entry, &cmd_version_entry, NULL};

void
cmd_print_help(FILE *f, const struct cmd_entry *e, const char *path)
{
	const struct cmd_entry *const *c;

	fprintf(f, "usage: %s%s%s\n\n%s\n", path, e->args[0] ? " " : "",
	    e->args, e->summary);
	if (e->help != NULL)
		fprintf(f, "\n%s", e->help);
	if (e->children != NULL) {
		fprintf(f, "\ncommands:\n");
		for (c = e->children; *c != NULL; c++)
			fprintf(f, "  %-10s %s\n", (*c)->name, (*c)->summary);
		fprintf(f,
		    "\nRun '%s COMMAND --help' for a command's "
		    "options.\n",
		    path);
	}
}

int
cmd_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

/* Prints "chatstack PATH: message" and where help is; path is the command. */
static int
cmd_vusage_error(const char *path, const char *fmt, va_list ap)
{
	char *msg;

	msg = xvasprintf(fmt, ap);
	fprintf(stderr, "chatstack %s: %s\n", path, msg);
	fprintf(stderr, "Run 'chatstack %s --help' for usage.\n", path);
	free(msg);
	return EXIT_USAGE;
}

int
cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cmd_vusage_error(e->name, fmt, ap);
	va_end(ap);
	return rc;
}

int
cmd_child_usage_error(const struct cmd_entry *parent, const struct cmd_entry *e,
    const char *fmt, ...)
{
	va_list ap;
	char *path;
	int rc;

	path = xasprintf("%s %s", parent->name, e->name);
	va_start(ap, fmt);
	rc = cmd_vusage_error(path, fmt, ap);
	va_end(ap);
	free(path);
	return rc;
}

int
cmd_not_available(const char *name)
{
	fprintf(stderr,
	    "chatstack %s: not available yet in this version; "
	    "see docs/known-issues.md\n",
	    name);
	return EXIT_USAGE;
}

int
cmd_dispatch(const struct cmd_entry *parent, int argc, char **argv)
{
	const struct cmd_entry *const *c;
	char *path;
	int rc;

	path = xasprintf("chatstack %s", parent->name);
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		cmd_print_help(argc < 2 ? stderr : stdout, parent, path);
		free(path);
		return argc < 2 ? EXIT_USAGE : EXIT_SUCCESS;
	}
	for (c = parent->children; *c != NULL; c++) {
		if (strcmp((*c)->name, argv[1]) != 0)
			continue;
		free(path);
		if (cmd_wants_help(argc - 1, argv + 1)) {
			path = xasprintf(
			    "chatstack %s %s", parent->name, (*c)->name);
			cmd_print_help(stdout, *c, path);
			free(path);
			return EXIT_SUCCESS;
		}
		return (*c)->exec(argc - 1, argv + 1);
	}
	rc = cmd_usage_error(parent, "unknown command '%s'", argv[1]);
	free(path);
	return rc;
}
