/* What the engine's commands (plan, install, status, uninstall) share. */
#ifndef CMD_ENGINE_H
#define CMD_ENGINE_H

#include <stdio.h>

#include "cmd.h"
#include "engine.h"
#include "steps.h"

#define SECRETS_DIR_DISPLAY "/etc/chatstack/secrets"

struct cmd_engine {
	char *answers_path;
	struct answers *answers;
	char *release;
	const char *root;
	int yes;
	int purge;
	int json;
	struct plan_opts opts;
	struct engine *engine;
	FILE *logf;
};

/*
 * Each returns 0 or an exit code. allowed lists the options the command
 * takes, by their letters in cmd_engine_parse's table; any other is a
 * usage error.
 */
int cmd_engine_parse(const struct cmd_entry *, const char *allowed,
    struct cmd_engine *, int argc, char **argv);
int cmd_engine_setup(struct cmd_engine *, enum engine_mode);
int cmd_engine_begin(struct cmd_engine *);
int cmd_engine_log(struct cmd_engine *);
int cmd_engine_exit(struct cmd_engine *, int rc);
void cmd_engine_free(struct cmd_engine *);

#endif
