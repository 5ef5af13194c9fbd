/*
 * chatstack plan and chatstack install: build the plan from the answers
 * and the host, then show it or apply it.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answers.h"
#include "buf.h"
#include "cmd-engine.h"
#include "cmd.h"
#include "engine.h"
#include "event.h"
#include "fileio.h"
#include "log.h"
#include "steps.h"
#include "xmalloc.h"

#define EFFECTIVE_ANSWERS CHATSTACK_ETC "/answers.yaml"

static const char cmd_install_help[] =
    "options:\n"
    "  --answers FILE     the answer file (docs/answers.md); without it, "
    "the\n"
    "                     answers of the last install (" EFFECTIVE_ANSWERS ")\n"
    "  --yes              change this host without asking (unattended)\n"
    "  --release DIR      the unpacked release (bundles/, templates/); "
    "default:\n"
    "                     the folder above this program's bin/\n"
    "  --root DIR         act on DIR as if it were / (tests only)\n"
    "  --no-verify        skip the end-to-end check\n"
    "  --online-packages  packages from this host's apt sources instead "
    "of the\n"
    "                     bundles (development only)\n";

static const char cmd_plan_help[] =
    "Lists every step, and for those that would change something, what: "
    "files\nwith a unified diff, packages, users, databases, units. "
    "Changes nothing.\n\n"
    "options:\n"
    "  --answers FILE     the answer file (docs/answers.md)\n"
    "  --release DIR      the unpacked release (bundles/, templates/)\n"
    "  --root DIR         act on DIR as if it were / (tests only)\n"
    "  --online-packages  packages from this host's apt sources\n";

/* The release folder: the one above bin/ of this program. */
static char *
cmd_engine_release(void)
{
	char exe[PATH_MAX], *dir;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return xstrdup(".");
	exe[n] = '\0';
	dir = dirname(exe);
	dir = dirname(dir);
	return xstrdup(dir);
}

static void
cmd_engine_usage_answers(struct answers_errors *errs)
{
	char *s;
	size_t i;

	for (i = 0; i < errs->n; i++) {
		s = answers_error_string(&errs->list[i]);
		fprintf(stderr, "%s\n", s);
		free(s);
	}
}

void
cmd_engine_free(struct cmd_engine *c)
{
	engine_free(c->engine);
	answers_free(c->answers);
	free(c->release);
	free(c->answers_path);
	if (c->logf != NULL) {
		event_remove_sink(event_sink_text, c->logf);
		fclose(c->logf);
	}
}

int
cmd_engine_parse(const struct cmd_entry *entry, const char *allowed,
    struct cmd_engine *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"answers", required_argument, NULL, 'a'},
	    {"yes", no_argument, NULL, 'y'},
	    {"release", required_argument, NULL, 'r'},
	    {"root", required_argument, NULL, 'R'},
	    {"no-verify", no_argument, NULL, 'n'},
	    {"online-packages", no_argument, NULL, 'o'},
	    {"purge", no_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":y", longopts, NULL)) != -1) {
		if (ch != '?' && ch != ':' && strchr(allowed, ch) == NULL)
			return cmd_usage_error(entry,
			    "option '%s' does not apply to this command",
			    argv[optind - 1]);
		switch (ch) {
		case 'a':
			free(c->answers_path);
			c->answers_path = xstrdup(optarg);
			break;
		case 'y':
			c->yes = 1;
			break;
		case 'r':
			free(c->release);
			c->release = xstrdup(optarg);
			break;
		case 'R':
			c->root = optarg;
			break;
		case 'n':
			c->opts.skip_verify = 1;
			break;
		case 'o':
			c->opts.online = 1;
			break;
		case 'p':
			c->purge = 1;
			break;
		case 'j':
			c->json = 1;
			break;
		case ':':
			return cmd_usage_error(entry,
			    "option '%s' needs a value", argv[optind - 1]);
		default:
			return cmd_usage_error(
			    entry, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cmd_usage_error(
		    entry, "unexpected argument '%s'", argv[optind]);
	if (c->release == NULL)
		c->release = cmd_engine_release();
	c->opts.release = c->release;
	return 0;
}

/* Loads the answers and makes the engine. Returns 0 or an exit code. */
int
cmd_engine_setup(struct cmd_engine *c, enum engine_mode mode)
{
	struct answers_errors errs = {NULL, 0};
	char *path;
	struct stat sb;

	if (c->answers_path == NULL) {
		path = xasprintf(
		    "%s%s", c->root != NULL ? c->root : "", EFFECTIVE_ANSWERS);
		if (stat(path, &sb) == 0)
			c->answers_path = path;
		else
			free(path);
	}
	if (c->answers_path != NULL) {
		c->answers = answers_load(c->answers_path, &errs);
		if (c->answers == NULL) {
			cmd_engine_usage_answers(&errs);
			answers_errors_free(&errs);
			return EXIT_USAGE;
		}
	}
	c->engine = engine_create(c->root, mode);
	c->engine->answers = c->answers;
	free(c->engine->templates);
	path = xasprintf("%s/templates", c->release);
	if (stat(path, &sb) == 0)
		c->engine->templates = path;
	else {
		free(path);
		c->engine->templates = xstrdup("templates");
	}
	c->opts.answers_path = c->answers_path;
	if (mode == ENGINE_APPLY && cmd_engine_log(c) == -1)
		return EXIT_FAILURE;
	return 0;
}

/* Opens the install log: every log line and every event, as text. */
int
cmd_engine_log(struct cmd_engine *c)
{
	char *dir, *cause = NULL;

	dir = engine_path(c->engine, ENGINE_LOG_DIR);
	if (mkdir_p(dir, 0750, &cause) == -1 ||
	    (cmd_global.log_file == NULL &&
		log_open_file(c->engine->log_path, &cause) == -1)) {
		fprintf(stderr, "chatstack: %s\n", cause);
		free(cause);
		free(dir);
		return -1;
	}
	free(dir);
	if ((c->logf = fopen(c->engine->log_path, "a")) != NULL)
		event_add_sink(event_sink_text, c->logf);
	return 0;
}

/* Takes the lock; returns 0 or an exit code. */
int
cmd_engine_begin(struct cmd_engine *c)
{
	char *cause = NULL;
	int rc;

	if ((rc = engine_begin(c->engine, &cause)) == 0)
		return 0;
	fprintf(stderr, "chatstack: %s\n", cause);
	if (rc == -2)
		fprintf(stderr,
		    "Only one chatstack run at a time: wait for it "
		    "to finish, then run this again.\n");
	free(cause);
	return rc == -2 ? EXIT_LOCKED : EXIT_FAILURE;
}

/* The exit code of a finished run. */
int
cmd_engine_exit(struct cmd_engine *c, int rc)
{
	if (rc == 0)
		return EXIT_SUCCESS;
	if (c->engine->failed_step != NULL &&
	    strcmp(c->engine->failed_step, "preflight") == 0)
		return EXIT_PREFLIGHT;
	return EXIT_FAILURE;
}

/* The summary's lines about the certificate (step_tls_summary). */
static void
cmd_install_summary_tls(struct buf *b, json_t *tls)
{
	const char *mode, *fp, *url, *issuer, *until;
	json_t *w;
	size_t i;

	mode = json_string_value(json_object_get(tls, "mode"));
	fp = json_string_value(json_object_get(tls, "ca_fingerprint"));
	url = json_string_value(json_object_get(tls, "ca_url"));
	issuer = json_string_value(json_object_get(tls, "issuer"));
	until = json_string_value(json_object_get(tls, "not_after"));
	if (fp != NULL)
		buf_printf(b,
		    "  the certificate is from a local CA: have browsers and "
		    "phones trust it,\n"
		    "    fetched from %s (or " CHATSTACK_ETC "/tls/ca.crt),\n"
		    "    after checking its SHA-256 fingerprint:\n"
		    "    %s\n",
		    url, fp);
	else if (issuer != NULL && until != NULL)
		buf_printf(b, "  certificate from %s, valid until %s%s\n",
		    issuer, until,
		    mode != NULL && strcmp(mode, "provided") == 0
			? ""
			: "; renewed by " STEP_RENEW_TIMER);
	json_array_foreach(json_object_get(tls, "warnings"), i, w)
	    buf_printf(b, "  WARNING: %s\n", json_string_value(w));
}

static void
cmd_install_summary(struct cmd_engine *c)
{
	struct event ev = {.type = EVENT_SUMMARY};
	const struct answers *a = c->answers;
	struct buf tlstext = BUF_INIT;
	char port[16] = "", *msg;
	json_t *tls;

	if (a == NULL)
		return;
	if (a->nginx.https_port != 443)
		snprintf(port, sizeof port, ":%d", a->nginx.https_port);
	tls = step_tls_summary(c->engine);
	if (tls != NULL)
		cmd_install_summary_tls(&tlstext, tls);
	msg = xasprintf(
	    "\nchat is ready at https://%s%s/\n"
	    "  register a first account in the web page, then invite others\n"
	    "  service passwords: %s (root only, never shown)\n"
	    "%s"
	    "  check it any time: chatstack status; chatstack verify\n"
	    "  the log of this run: %s",
	    a->hostname, port, SECRETS_DIR_DISPLAY,
	    tlstext.data != NULL ? tlstext.data : "", c->engine->log_path);
	ev.message = msg;
	ev.data = json_pack("{s:s, s:s}", "url_host", a->hostname, "secrets",
	    SECRETS_DIR_DISPLAY);
	if (tls != NULL)
		json_object_set_new(ev.data, "tls", tls);
	event_emit(&ev);
	json_decref(ev.data);
	buf_free(&tlstext);
	free(msg);
}

static int
cmd_install_exec(int argc, char **argv)
{
	struct cmd_engine c;
	char *cause = NULL;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = cmd_engine_parse(
		 &cmd_install_entry, "ayrRno", &c, argc, argv)) != 0)
		goto out;
	if (c.answers_path == NULL && !c.yes) {
		fprintf(stderr,
		    "chatstack install: the interactive installer (TUI) is "
		    "not available yet in this version.\n"
		    "Write an answer file (chatstack answers example > "
		    "site.yaml) and run\n"
		    "  chatstack install --answers site.yaml --yes\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (!c.yes) {
		fprintf(stderr,
		    "chatstack install: an unattended install changes this "
		    "host; add --yes to go ahead\n"
		    "(run 'chatstack plan --answers %s' to see what would "
		    "change).\n",
		    c.answers_path);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_engine_setup(&c, ENGINE_APPLY)) != 0)
		goto out;
	if (c.answers == NULL) {
		fprintf(stderr,
		    "chatstack install: no answer file given and "
		    "none saved by an earlier install; use "
		    "--answers FILE\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_engine_begin(&c)) != 0)
		goto out;
	if (plan_build(c.engine, &c.opts, &cause) == -1) {
		fprintf(stderr, "chatstack install: %s\n", cause);
		free(cause);
		rc = EXIT_FAILURE;
		goto out;
	}
	rc = engine_run(c.engine);
	if (rc == 0)
		cmd_install_summary(&c);
	rc = cmd_engine_exit(&c, rc);
out:
	cmd_engine_free(&c);
	return rc;
}

static int
cmd_plan_exec(int argc, char **argv)
{
	struct cmd_engine c;
	char *cause = NULL;
	int rc;

	memset(&c, 0, sizeof c);
	if ((rc = cmd_engine_parse(&cmd_plan_entry, "arRo", &c, argc, argv)) !=
	    0)
		goto out;
	if ((rc = cmd_engine_setup(&c, ENGINE_PLAN)) != 0)
		goto out;
	if (c.answers == NULL) {
		fprintf(stderr,
		    "chatstack plan: no answer file given and none "
		    "saved by an earlier install; use --answers "
		    "FILE\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_engine_begin(&c)) != 0)
		goto out;
	if (plan_build(c.engine, &c.opts, &cause) == -1) {
		fprintf(stderr, "chatstack plan: %s\n", cause);
		free(cause);
		rc = EXIT_FAILURE;
		goto out;
	}
	rc = cmd_engine_exit(&c, engine_run(c.engine));
	if (rc == 0 && c.engine->preflight_errors > 0)
		rc = EXIT_PREFLIGHT;
out:
	cmd_engine_free(&c);
	return rc;
}

const struct cmd_entry cmd_plan_entry = {
    .name = "plan",
    .args = "[--answers FILE] [--release DIR]",
    .summary = "Show the steps an install would change, and change "
	       "nothing.",
    .help = cmd_plan_help,
    .exec = cmd_plan_exec,
};

const struct cmd_entry cmd_install_entry = {
    .name = "install",
    .args = "[--answers FILE] [--yes]",
    .summary = "Install or converge the chat service on this host.",
    .help = cmd_install_help,
    .exec = cmd_install_exec,
};
