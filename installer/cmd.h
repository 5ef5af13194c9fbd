/*
 * The chatstack command line: every subcommand is a table entry. A
 * command's exec gets argv with argv[0] its own name and returns an exit
 * code (see docs/chatstack.8).
 */
#ifndef CMD_H
#define CMD_H

#include <stdio.h>
#include <stdlib.h>

/* EXIT_SUCCESS (0) and EXIT_FAILURE (1) come from <stdlib.h>. */
#define EXIT_USAGE 2 /* bad usage, or not available yet */
#define EXIT_LOCKED 3 /* another chatstack run holds the lock */
#define EXIT_PREFLIGHT 4 /* install refused: a preflight error stands */

struct cmd_entry {
	const char *name;
	const char *args; /* usage after the name */
	const char *summary; /* one line, for the command list */
	const char *help; /* the rest of --help, may be NULL */
	int (*exec)(int, char **);
	const struct cmd_entry *const *children; /* subcommands, NULL-ended */
};

/* Options given before the subcommand, for every command. */
struct cmd_global {
	int verbose;
	int quiet;
	int json_events;
	int color; /* stdout is a tty and NO_COLOR unset */
	const char *log_file;
};

extern struct cmd_global cmd_global;
extern const struct cmd_entry *const cmd_table[];

/*
 * Runs the child of parent named by argv[1]; prints the list and returns
 * EXIT_USAGE when there is none or it is unknown.
 */
int cmd_dispatch(const struct cmd_entry *parent, int argc, char **argv);
/* Prints the --help text of an entry to f. */
void cmd_print_help(FILE *f, const struct cmd_entry *, const char *path);
/*
 * Returns 1 if argv holds -h or --help before a "--" (the caller prints
 * help and returns 0).
 */
int cmd_wants_help(int argc, char **argv);
/* Prints "chatstack NAME: message" and a hint, returns EXIT_USAGE. */
int cmd_usage_error(const struct cmd_entry *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Likewise for a subcommand: "chatstack PARENT NAME: message". */
int cmd_child_usage_error(const struct cmd_entry *parent,
    const struct cmd_entry *, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For commands a later issue fills in: says so, returns EXIT_USAGE. */
int cmd_not_available(const char *name);

extern const struct cmd_entry cmd_preflight_entry;
extern const struct cmd_entry cmd_plan_entry;
extern const struct cmd_entry cmd_install_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_verify_entry;
extern const struct cmd_entry cmd_uninstall_entry;
extern const struct cmd_entry cmd_answers_entry;
extern const struct cmd_entry cmd_bundle_entry;
extern const struct cmd_entry cmd_certs_entry;
extern const struct cmd_entry cmd_remote_entry;
extern const struct cmd_entry cmd_version_entry;

#endif
