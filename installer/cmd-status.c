/*
 * chatstack status: each component's state, version and health; and
 * chatstack verify: the end-to-end check on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answers.h"
#include "buf.h"
#include "cmd-engine.h"
#include "cmd.h"
#include "engine.h"
#include "steps.h"
#include "xmalloc.h"

static const struct {
	const char *component;
	const char *unit;
	const char *package; /* whose version is shown, or NULL */
	const char *probe;
} cmd_status_rows[] = {
    {"mariadb", "mariadb.service", "mariadb-server", "mariadb"},
    {"redis", "redis-server.service", "redis-server", "redis"},
    {"rabbitmq", "rabbitmq-server.service", "rabbitmq-server", "rabbitmq"},
    {"nginx", "nginx.service", "nginx", NULL},
};

/* The first line a command prints, or "" (allocated). */
static char *
cmd_status_ask(char *const argv[])
{
	struct buf out = BUF_INIT;
	char *cause = NULL, *s;

	step_run(argv, NULL, 0, 10000, &out, &cause);
	free(cause);
	s = xstrdup(out.data != NULL ? out.data : "");
	s[strcspn(s, "\n")] = '\0';
	buf_free(&out);
	return s;
}

static json_t *
cmd_status_row(struct engine *e, const char *component, const char *unit,
    const char *package, const char *probe, int instance)
{
	char *active_argv[] = {"systemctl", "is-active", (char *)unit, NULL};
	char *since_argv[] = {"systemctl", "show", "-P", "ActiveEnterTimestamp",
	    (char *)unit, NULL};
	char *ver_argv[] = {
	    "dpkg-query", "-W", "-f=${Version}", (char *)package, NULL};
	char *active, *since, *version = NULL, *cause = NULL;
	const char *health = "-";
	json_t *row;

	active = cmd_status_ask(active_argv);
	since = cmd_status_ask(since_argv);
	if (package != NULL)
		version = cmd_status_ask(ver_argv);
	else
		version = xstrdup(e->version);
	if (probe != NULL && strcmp(active, "active") == 0)
		health = step_probe(e, probe, instance, &cause) == 0
		    ? "answers"
		    : "not answering";
	row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "component",
	    component, "unit", unit, "state", active[0] ? active : "unknown",
	    "since", since, "version", version[0] ? version : "-", "health",
	    health, "problem", cause);
	free(cause);
	free(active);
	free(since);
	free(version);
	return row;
}

static int
cmd_status_exec(int argc, char **argv)
{
	struct cmd_engine c;
	json_t *rows, *row, *last;
	char unit[64], *cause = NULL;
	size_t i;
	int rc, healthy = 1, n;

	memset(&c, 0, sizeof c);
	if ((rc = cmd_engine_parse(&cmd_status_entry, "jaR", &c, argc, argv)) !=
	    0)
		goto out;
	if ((rc = cmd_engine_setup(&c, ENGINE_PLAN)) != 0)
		goto out;
	if (c.answers == NULL) {
		printf("chatstack is not installed on this host (no %s).\n",
		    CHATSTACK_ANSWERS);
		rc = EXIT_FAILURE;
		goto out;
	}
	engine_vars(c.engine, &cause);
	journal_load(c.engine, &cause);
	free(cause);

	rows = json_array();
	for (i = 0; i < sizeof cmd_status_rows / sizeof cmd_status_rows[0]; i++)
		json_array_append_new(rows,
		    cmd_status_row(c.engine, cmd_status_rows[i].component,
			cmd_status_rows[i].unit, cmd_status_rows[i].package,
			cmd_status_rows[i].probe, 0));
	for (n = 1; n <= c.answers->chatd.instances; n++) {
		snprintf(unit, sizeof unit, "chatd@%d.service", n);
		json_array_append_new(rows,
		    cmd_status_row(c.engine, "chatd", unit, NULL, "chatd", n));
	}
	last = json_object_get(c.engine->journal, "last_run");

	json_array_foreach(rows, i, row)
	{
		if (strcmp(json_string_value(json_object_get(row, "state")),
			"active") != 0 ||
		    strcmp(json_string_value(json_object_get(row, "health")),
			"not answering") == 0)
			healthy = 0;
	}
	if (c.json) {
		json_t *o = json_pack("{s:O, s:b, s:O?}", "components", rows,
		    "healthy", healthy, "last_run", last);
		json_dumpf(o, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(o);
	} else {
		printf("%-9s %-24s %-9s %-22s %s\n", "COMPONENT", "UNIT",
		    "STATE", "VERSION", "HEALTH");
		json_array_foreach(rows, i, row)
		{
			printf("%-9s %-24s %-9s %-22s %s\n",
			    json_string_value(
				json_object_get(row, "component")),
			    json_string_value(json_object_get(row, "unit")),
			    json_string_value(json_object_get(row, "state")),
			    json_string_value(json_object_get(row, "version")),
			    json_string_value(json_object_get(row, "health")));
		}
		if (json_is_string(json_object_get(last, "result")))
			printf("\nlast install: %s at %s%s%s\n",
			    json_string_value(json_object_get(last, "result")),
			    json_string_value(json_object_get(last, "at")),
			    json_is_string(json_object_get(last, "failed_step"))
				? ", failed step "
				: "",
			    json_string_value(
				json_object_get(last, "failed_step"))
				?: "");
	}
	json_decref(rows);
	rc = healthy ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	cmd_engine_free(&c);
	return rc;
}

static int
cmd_verify_exec(int argc, char **argv)
{
	struct cmd_engine c;
	char *cause = NULL;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = cmd_engine_parse(&cmd_verify_entry, "aR", &c, argc, argv)) !=
	    0)
		goto out;
	if ((rc = cmd_engine_setup(&c, ENGINE_PLAN)) != 0)
		goto out;
	if (c.answers == NULL) {
		fprintf(stderr,
		    "chatstack verify: chatstack is not installed "
		    "here (no %s); use --answers FILE\n",
		    CHATSTACK_ANSWERS);
		rc = EXIT_USAGE;
		goto out;
	}
	if (e2e_run(c.engine, c.answers->hostname, c.answers->nginx.https_port,
		&cause) == -1) {
		fprintf(stderr,
		    "chatstack verify: end-to-end check failed: %s\n", cause);
		free(cause);
		rc = EXIT_FAILURE;
	} else {
		printf("verify: two users registered through https://%s:%d/, "
		       "became friends and exchanged a message over the "
		       "WebSocket; both were deleted again\n",
		    c.answers->hostname, c.answers->nginx.https_port);
		rc = EXIT_SUCCESS;
	}
out:
	cmd_engine_free(&c);
	return rc;
}

static const char cmd_status_help[] =
    "For each component: whether its units are active, the installed "
    "version,\nand what its health probe answered; then the last "
    "install's result.\nExit 0 when everything is healthy, 1 otherwise.\n\n"
    "options:\n"
    "  --json             one JSON document instead of the table\n"
    "  --answers FILE     the answer file; default: that of the last "
    "install\n"
    "  --root DIR         act on DIR as if it were / (tests only)\n";

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .args = "[--json]",
    .summary = "Show each component's state, version and health.",
    .help = cmd_status_help,
    .exec = cmd_status_exec,
};

static const char cmd_verify_help[] =
    "Through nginx over HTTPS, as a browser would: two temporary users\n"
    "(zz-check-*) register, become friends and exchange a message over "
    "the\nWebSocket, then delete their accounts. Users a check cut short "
    "left\nbehind (listed in " ENGINE_STATE_DIR "/e2e-users.json) are "
    "deleted first.\nExit 0 when the message arrived, 1 otherwise.\n\n"
    "options:\n"
    "  --answers FILE     the answer file; default: that of the last "
    "install\n"
    "  --root DIR         act on DIR as if it were / (tests only)\n";

const struct cmd_entry cmd_verify_entry = {
    .name = "verify",
    .args = "[--answers FILE]",
    .summary = "Prove end to end that chat works on this host.",
    .help = cmd_verify_help,
    .exec = cmd_verify_exec,
};
