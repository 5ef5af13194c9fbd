#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "event.h"
#include "log.h"
#include "version.h"
#include "xmalloc.h"

static const char main_options_help[] =
    "options (before the command):\n"
    "  -v, --verbose        more detail; twice for debug messages\n"
    "  -q, --quiet          only warnings and errors\n"
    "  --log-file FILE      append every message, at every level, to FILE\n"
    "  --events text|json   how progress is shown: text for people\n"
    "                       (default), json for one JSON object a line\n"
    "                       on standard output (docs/events.md)\n"
    "  --no-color           no colour even on a terminal (also NO_COLOR)\n"
    "  -h, --help           this help\n"
    "  -V, --version        the version\n";

static void
main_usage(FILE *f)
{
	const struct cmd_entry *const *c;

	fprintf(f,
	    "usage: chatstack [options] COMMAND [ARGS]\n\n"
	    "Deploys a self-hosted chat service onto this server and keeps "
	    "it running.\n\ncommands:\n");
	for (c = cmd_table; *c != NULL; c++)
		fprintf(f, "  %-10s %s\n", (*c)->name, (*c)->summary);
	fprintf(f,
	    "\n%s\nRun 'chatstack COMMAND --help' for a command's "
	    "options; exit codes\nare listed in chatstack(8).\n",
	    main_options_help);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"log-file", required_argument, NULL, 'L'},
	    {"events", required_argument, NULL, 'E'},
	    {"no-color", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	const struct cmd_entry *const *c;
	char *cause = NULL, *path;
	int ch, rc;

	setlocale(LC_CTYPE, "");
	signal(SIGPIPE, SIG_IGN);
	log_init("chatstack");
	cmd_global.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;

	while ((ch = getopt_long(argc, argv, "+vqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			cmd_global.verbose++;
			break;
		case 'q':
			cmd_global.quiet = 1;
			break;
		case 'L':
			cmd_global.log_file = optarg;
			break;
		case 'E':
			if (strcmp(optarg, "json") == 0)
				cmd_global.json_events = 1;
			else if (strcmp(optarg, "text") == 0)
				cmd_global.json_events = 0;
			else {
				fprintf(stderr,
				    "chatstack: --events takes "
				    "'text' or 'json', not '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'C':
			cmd_global.color = 0;
			break;
		case 'h':
			main_usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("chatstack %s\n", CHATSTACK_VERSION);
			return EXIT_SUCCESS;
		default:
			main_usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;

	if (cmd_global.quiet)
		log_set_level(LOG_LEVEL_WARN);
	else if (cmd_global.verbose > 1)
		log_set_level(LOG_LEVEL_DEBUG);
	if (cmd_global.log_file != NULL &&
	    log_open_file(cmd_global.log_file, &cause) == -1) {
		fprintf(stderr, "chatstack: %s\n", cause);
		free(cause);
		return EXIT_FAILURE;
	}
	if (cmd_global.json_events)
		event_add_sink(event_sink_json, stdout);
	else
		event_add_sink(event_sink_text, stdout);

	if (argc == 0) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		main_usage(stdout);
		return EXIT_SUCCESS;
	}
	for (c = cmd_table; *c != NULL; c++) {
		if (strcmp((*c)->name, argv[0]) != 0)
			continue;
		if ((*c)->children != NULL)
			rc = cmd_dispatch(*c, argc, argv);
		else if (cmd_wants_help(argc, argv)) {
			path = xasprintf("chatstack %s", (*c)->name);
			cmd_print_help(stdout, *c, path);
			free(path);
			rc = EXIT_SUCCESS;
		} else
			rc = (*c)->exec(argc, argv);
		log_close_file();
		return rc;
	}
	fprintf(stderr,
	    "chatstack: unknown command '%s'\n"
	    "Run 'chatstack --help' for the list of commands.\n",
	    argv[0]);
	return EXIT_USAGE;
}
