/*
 * chatstack preflight: the host checks on their own, as a table for people
 * or one JSON document for scripts. Changes nothing on the host.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../preflight/preflight.h"
#include "answers.h"
#include "cmd.h"
#include "event.h"

static const char cmd_preflight_help[] =
    "options:\n"
    "  --answers FILE   the answer file (default: every default answer)\n"
    "  --json           print one JSON document with every check\n"
    "  --profile P      production or small (default: the answers')\n"
    "  --offline        no DNS look-ups (/etc/hosts only)\n"
    "  --root DIR       read host facts under DIR instead of / (a\n"
    "                   fixture tree or a mounted system image)\n"
    "\n"
    "Checks: privileges, os.distro, os.arch, os.kernel, systemd.pid1,\n"
    "cpu.cores, memory.total, disk.free, disk.inodes, swap, ports.free,\n"
    "existing.services, time.sync, hostname.resolves, limits.nofile,\n"
    "security.mac, tmp.noexec. A check is waived in the answers\n"
    "(preflight.waive: [{check: ID, reason: TEXT}]): its error then\n"
    "shows as a warning, with the reason. See docs/preflight.md.\n"
    "\n"
    "Exit status: 0 when no error stands, 1 otherwise, 2 for bad usage.\n";

static int
cmd_preflight_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"answers", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"profile", required_argument, NULL, 'p'},
	    {"root", required_argument, NULL, 'r'},
	    {"offline", no_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
	struct preflight_opts opts = PREFLIGHT_OPTS_INIT;
	struct answers_errors errs = {NULL, 0};
	struct preflight_report *rep = NULL;
	struct answers *a = NULL;
	const char *answers_path = NULL;
	char *cause = NULL, *line;
	int ch, json = 0, rc = EXIT_FAILURE;
	json_t *doc;
	size_t i;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			answers_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'p':
			if ((opts.profile = preflight_profile_parse(optarg)) ==
			    -1)
				return cmd_usage_error(&cmd_preflight_entry,
				    "unknown profile '%s' (production or "
				    "small)",
				    optarg);
			break;
		case 'r':
			opts.root = optarg;
			break;
		case 'o':
			opts.network = 0;
			break;
		case ':':
			return cmd_usage_error(&cmd_preflight_entry,
			    "option '%s' needs a value", argv[optind - 1]);
		default:
			return cmd_usage_error(&cmd_preflight_entry,
			    "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error(&cmd_preflight_entry,
		    "unexpected argument '%s'", argv[optind]);

	if (answers_path != NULL) {
		if ((a = answers_load(answers_path, &errs)) == NULL) {
			for (i = 0; i < errs.n; i++) {
				line = answers_error_string(&errs.list[i]);
				fprintf(
				    stderr, "chatstack preflight: %s\n", line);
				free(line);
			}
			if (errs.n == 0)
				fprintf(stderr,
				    "chatstack preflight: cannot load '%s'\n",
				    answers_path);
			goto out;
		}
	} else
		a = answers_defaults();

	/* The JSON document must be the only thing on stdout. */
	opts.events = !json;
	if (json)
		event_clear_sinks();
	if (preflight_run(a, &opts, &rep, &cause) == -1) {
		fprintf(stderr, "chatstack preflight: %s\n", cause);
		goto out;
	}
	if (json) {
		doc = preflight_report_json(rep);
		json_dumpf(doc, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(doc);
	} else if (!cmd_global.json_events)
		preflight_report_print(stdout, rep, cmd_global.color);
	fflush(stdout);
	rc = preflight_report_errors(rep) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	free(cause);
	preflight_report_free(rep);
	answers_free(a);
	answers_errors_free(&errs);
	return rc;
}

const struct cmd_entry cmd_preflight_entry = {
    .name = "preflight",
    .args = "[--answers FILE] [--json] [--profile P] [--offline] "
	    "[--root DIR]",
    .summary = "Check this host before anything changes.",
    .help = cmd_preflight_help,
    .exec = cmd_preflight_exec,
};
