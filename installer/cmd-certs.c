/*
 * chatstack certs status | renew | ensure: the TLS certificate outside
 * an install (certs/certs.h, docs/tls.md).
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../certs/certs.h"
#include "answers.h"
#include "cmd.h"
#include "event.h"
#include "log.h"
#include "spawn.h"
#include "xmalloc.h"

#define CERTS_ANSWERS_DEFAULT "/etc/chatstack/answers.yaml"
#define CERTS_MAX_LIST 64

static const struct cmd_entry cmd_certs_status_entry;
static const struct cmd_entry cmd_certs_renew_entry;
static const struct cmd_entry cmd_certs_ensure_entry;

enum {
	OPT_TLS_DIR = 256,
	OPT_ANSWERS,
	OPT_WEBROOT,
	OPT_RESPONDER,
	OPT_CHALLENGE_PORT,
	OPT_CHALLENGE_ADDRESS,
	OPT_ADDRESS,
	OPT_FORCE,
	OPT_RELOAD,
	OPT_JSON,
	OPT_MODE,
	OPT_HOSTNAME,
	OPT_NAME,
	OPT_DIRECTORY,
	OPT_CA_FILE,
	OPT_EMAIL,
	OPT_EAB_KID,
	OPT_EAB_KEY_FILE,
	OPT_KEY_TYPE,
	OPT_CERT,
	OPT_KEY,
	OPT_CHAIN,
};

static const struct option cmd_certs_longopts[] = {
    {"tls-dir", required_argument, NULL, OPT_TLS_DIR},
    {"answers", required_argument, NULL, OPT_ANSWERS},
    {"webroot", required_argument, NULL, OPT_WEBROOT},
    {"responder", no_argument, NULL, OPT_RESPONDER},
    {"challenge-port", required_argument, NULL, OPT_CHALLENGE_PORT},
    {"challenge-address", required_argument, NULL, OPT_CHALLENGE_ADDRESS},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"force", no_argument, NULL, OPT_FORCE},
    {"reload", no_argument, NULL, OPT_RELOAD},
    {"json", no_argument, NULL, OPT_JSON},
    {"mode", required_argument, NULL, OPT_MODE},
    {"hostname", required_argument, NULL, OPT_HOSTNAME},
    {"name", required_argument, NULL, OPT_NAME},
    {"directory", required_argument, NULL, OPT_DIRECTORY},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"email", required_argument, NULL, OPT_EMAIL},
    {"eab-kid", required_argument, NULL, OPT_EAB_KID},
    {"eab-key-file", required_argument, NULL, OPT_EAB_KEY_FILE},
    {"key-type", required_argument, NULL, OPT_KEY_TYPE},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"chain", required_argument, NULL, OPT_CHAIN},
    {NULL, 0, NULL, 0},
};

/* Every option of every certs command; each command takes a subset. */
struct cmd_certs_args {
	struct certs_opts opts;
	char *addresses[CERTS_MAX_LIST];
	char *names[CERTS_MAX_LIST];
	size_t nnames;
	const char *answers;
	int json;
	int reload;
	/* answers given as options */
	struct answers a;
	int mode_set;
};

/* Is name one of the space-separated words of allowed? */
static int
cmd_certs_allowed(const char *allowed, const char *name)
{
	size_t len = strlen(name);
	const char *p;

	for (p = allowed; (p = strstr(p, name)) != NULL; p += len) {
		if ((p == allowed || p[-1] == ' ') &&
		    (p[len] == ' ' || p[len] == '\0'))
			return 1;
	}
	return 0;
}

static int
cmd_certs_parse(const struct cmd_entry *e, int argc, char **argv,
    const char *allowed, struct cmd_certs_args *args)
{
	const struct option *o;
	char *end;
	long port;
	int ch;

	memset(args, 0, sizeof *args);
	args->a.nginx.http_port = 80;
	args->a.nginx.https_port = 443;
	args->a.tls.mode = TLS_MODE_LETSENCRYPT;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", cmd_certs_longopts, NULL)) !=
	    -1) {
		if (ch == ':')
			return cmd_child_usage_error(&cmd_certs_entry, e,
			    "option '%s' needs a value", argv[optind - 1]);
		if (ch == '?')
			return cmd_child_usage_error(&cmd_certs_entry, e,
			    "unknown option '%s'", argv[optind - 1]);
		for (o = cmd_certs_longopts; o->name != NULL; o++) {
			if (o->val == ch)
				break;
		}
		if (!cmd_certs_allowed(allowed, o->name))
			return cmd_child_usage_error(&cmd_certs_entry, e,
			    "--%s is not an option of "
			    "this command",
			    o->name);
		switch (ch) {
		case OPT_TLS_DIR:
			args->opts.tls_dir = optarg;
			break;
		case OPT_ANSWERS:
			args->answers = optarg;
			break;
		case OPT_WEBROOT:
			args->opts.webroot = optarg;
			break;
		case OPT_RESPONDER:
			args->opts.responder = 1;
			break;
		case OPT_CHALLENGE_PORT:
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port < 1 ||
			    port > 65535)
				return cmd_child_usage_error(&cmd_certs_entry,
				    e,
				    "--challenge-port "
				    "takes a port "
				    "number, not '%s'",
				    optarg);
			args->opts.challenge_port = (int)port;
			break;
		case OPT_CHALLENGE_ADDRESS:
			args->opts.challenge_address = optarg;
			break;
		case OPT_ADDRESS:
			if (args->opts.naddresses == CERTS_MAX_LIST)
				return cmd_child_usage_error(
				    &cmd_certs_entry, e, "too many addresses");
			args->addresses[args->opts.naddresses++] = optarg;
			break;
		case OPT_FORCE:
			args->opts.force = 1;
			break;
		case OPT_JSON:
			args->json = 1;
			break;
		case OPT_RELOAD:
			args->reload = 1;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "letsencrypt") == 0)
				args->a.tls.mode = TLS_MODE_LETSENCRYPT;
			else if (strcmp(optarg, "selfsigned") == 0)
				args->a.tls.mode = TLS_MODE_SELFSIGNED;
			else if (strcmp(optarg, "provided") == 0)
				args->a.tls.mode = TLS_MODE_PROVIDED;
			else
				return cmd_child_usage_error(&cmd_certs_entry,
				    e,
				    "--mode takes "
				    "letsencrypt, "
				    "selfsigned or "
				    "provided");
			args->mode_set = 1;
			break;
		case OPT_HOSTNAME:
			args->a.hostname = optarg;
			break;
		case OPT_NAME:
			if (args->nnames == CERTS_MAX_LIST)
				return cmd_child_usage_error(
				    &cmd_certs_entry, e, "too many names");
			args->names[args->nnames++] = optarg;
			break;
		case OPT_DIRECTORY:
			args->a.tls.directory = optarg;
			break;
		case OPT_CA_FILE:
			args->a.tls.ca_file = optarg;
			break;
		case OPT_EMAIL:
			args->a.tls.email = optarg;
			break;
		case OPT_EAB_KID:
			args->a.tls.eab_kid = optarg;
			break;
		case OPT_EAB_KEY_FILE:
			args->a.tls.eab_hmac_key_file = optarg;
			break;
		case OPT_KEY_TYPE:
			args->a.tls.key_type = optarg;
			break;
		case OPT_CERT:
			args->a.tls.cert = optarg;
			break;
		case OPT_KEY:
			args->a.tls.key = optarg;
			break;
		case OPT_CHAIN:
			args->a.tls.chain = optarg;
			break;
		}
	}
	if (optind != argc)
		return cmd_child_usage_error(&cmd_certs_entry, e,
		    "unexpected argument '%s'", argv[optind]);
	args->opts.addresses = args->addresses;
	args->a.tls.extra_names = args->names;
	args->a.tls.nextra_names = args->nnames;
	return 0;
}

static void
cmd_certs_print_result(const struct certs_result *r)
{
	size_t i;

	for (i = 0; i < r->nwarnings; i++)
		fprintf(stderr, "warning: %s\n", r->warnings[i]);
	if (r->ca_fingerprint != NULL && !cmd_global.json_events)
		printf(
		    "local CA fingerprint (SHA-256): %s\n", r->ca_fingerprint);
}

/* Loads an answer file, printing every problem in it. */
static struct answers *
cmd_certs_load_answers(const char *path)
{
	struct answers_errors errs;
	struct answers *a;
	char *line;
	size_t i;

	memset(&errs, 0, sizeof errs);
	if ((a = answers_load(path, &errs)) != NULL)
		return a;
	for (i = 0; i < errs.n; i++) {
		line = answers_error_string(&errs.list[i]);
		fprintf(stderr, "%s\n", line);
		free(line);
	}
	answers_errors_free(&errs);
	return NULL;
}

static int
cmd_certs_ensure_exec(int argc, char **argv)
{
	struct cmd_certs_args args;
	struct certs_result r;
	struct answers *loaded = NULL;
	const struct answers *a;
	char *cause = NULL;
	int rc;

	if ((rc = cmd_certs_parse(&cmd_certs_ensure_entry, argc, argv,
		 "tls-dir answers webroot responder challenge-port "
		 "challenge-address address force mode hostname name "
		 "directory ca-file email eab-kid eab-key-file key-type cert "
		 "key chain",
		 &args)) != 0)
		return rc;
	a = &args.a;
	if (args.answers != NULL) {
		if ((loaded = cmd_certs_load_answers(args.answers)) == NULL)
			return EXIT_FAILURE;
		a = loaded;
	} else if (!args.mode_set || args.a.hostname == NULL)
		return cmd_child_usage_error(&cmd_certs_entry,
		    &cmd_certs_ensure_entry,
		    "give --answers FILE, or --mode and --hostname");

	event_step_started("tls.certificate", "TLS certificate", 1, 1);
	if (certs_ensure(a, &args.opts, &r, &cause) == -1) {
		event_step_failed("tls.certificate", cause);
		log_error("%s", cause);
		free(cause);
		if (loaded != NULL)
			answers_free(loaded);
		return EXIT_FAILURE;
	}
	event_step_finished("tls.certificate", r.changed, r.message);
	cmd_certs_print_result(&r);
	certs_result_free(&r);
	if (loaded != NULL)
		answers_free(loaded);
	return EXIT_SUCCESS;
}

/* nginx reads certificates at start and reload only. */
static int
cmd_certs_reload_nginx(char **cause)
{
	static char *const argv[] = {
	    "systemctl", "reload", "nginx.service", NULL};
	struct spawn sp;
	char *what;

	memset(&sp, 0, sizeof sp);
	sp.argv = argv;
	sp.timeout_ms = 60 * 1000;
	sp.merge_stderr = 1;
	if (spawn_run(&sp, cause) == -1)
		return -1;
	if (sp.status != 0) {
		what = spawn_describe(&sp);
		*cause = xasprintf("the certificate changed but nginx did not "
				   "reload, so it still serves the old one: "
				   "%s",
		    what);
		free(what);
		spawn_free(&sp);
		return -1;
	}
	log_info("reloaded nginx for the new certificate");
	spawn_free(&sp);
	return 0;
}

/*
 * Reloads nginx when the certificate changed, or when an earlier reload
 * for a changed certificate failed: a marker in the TLS directory remembers
 * that until a reload succeeds.
 */
static int
cmd_certs_reload(const char *dir, int changed, char **cause)
{
	char *marker;
	int fd, rc = 0;

	marker = xasprintf(
	    "%s/%s", dir != NULL ? dir : CERTS_TLS_DIR, CERTS_RELOAD_PENDING);
	if (changed) {
		fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd != -1)
			close(fd);
	}
	if (access(marker, F_OK) == 0) {
		if ((rc = cmd_certs_reload_nginx(cause)) == 0)
			unlink(marker);
	}
	free(marker);
	return rc;
}

static int
cmd_certs_renew_exec(int argc, char **argv)
{
	struct cmd_certs_args args;
	struct certs_result r;
	struct answers *a = NULL;
	char *cause = NULL;
	int rc;

	if ((rc = cmd_certs_parse(&cmd_certs_renew_entry, argc, argv,
		 "tls-dir answers webroot responder challenge-port "
		 "challenge-address address force reload",
		 &args)) != 0)
		return rc;
	if (args.answers != NULL &&
	    (a = cmd_certs_load_answers(args.answers)) == NULL)
		return EXIT_FAILURE;
	event_step_started("tls.renew", "Renew the TLS certificate", 1, 1);
	rc = EXIT_FAILURE;
	if (certs_renew(a, &args.opts, &r, &cause) == -1) {
		event_step_failed("tls.renew", cause);
		goto out;
	}
	if (args.reload &&
	    cmd_certs_reload(args.opts.tls_dir, r.changed, &cause) == -1) {
		event_step_failed("tls.renew", cause);
		certs_result_free(&r);
		goto out;
	}
	event_step_finished("tls.renew", r.changed, r.message);
	cmd_certs_print_result(&r);
	certs_result_free(&r);
	rc = EXIT_SUCCESS;

out:
	free(cause);
	if (a != NULL)
		answers_free(a);
	return rc;
}

static void
cmd_certs_print_status(json_t *st)
{
	json_t *v, *last;
	size_t i;
	const char *s;

	printf("TLS directory:  %s\n",
	    json_string_value(json_object_get(st, "tls_dir")));
	printf("mode:           %s\n",
	    json_string_value(json_object_get(st, "mode")));
	printf("subject:        %s\n",
	    json_string_value(json_object_get(st, "subject")));
	printf("issuer:         %s\n",
	    json_string_value(json_object_get(st, "issuer")));
	printf("names:          ");
	json_array_foreach(json_object_get(st, "names"), i, v)
	    printf("%s%s", i == 0 ? "" : ", ", json_string_value(v));
	printf("\nvalid from:     %s\n",
	    json_string_value(json_object_get(st, "not_before")));
	if (json_is_true(json_object_get(st, "expired")))
		printf("expires:        %s (EXPIRED)\n",
		    json_string_value(json_object_get(st, "not_after")));
	else
		printf("expires:        %s (in %lld days)\n",
		    json_string_value(json_object_get(st, "not_after")),
		    (long long)json_integer_value(
			json_object_get(st, "days_left")));
	if ((s = json_string_value(json_object_get(st, "renew_after"))) != NULL)
		printf("renewal:        %s (renews from %s)\n",
		    json_is_true(json_object_get(st, "due")) ? "due now"
							     : "not due",
		    s);
	else if ((s = json_string_value(json_object_get(st, "mode"))) != NULL &&
	    strcmp(s, "provided") == 0)
		printf("renewal:        yours: put new files in place before "
		       "it expires, then run 'chatstack certs renew'\n");
	last = json_object_get(st, "last_renewal");
	if (json_is_object(last))
		printf("last renewal:   %s, %s: %s\n",
		    json_string_value(json_object_get(last, "time")),
		    json_is_true(json_object_get(last, "ok")) ? "succeeded"
							      : "FAILED",
		    json_string_value(json_object_get(last, "message")));
	if ((s = json_string_value(json_object_get(st, "ca_fingerprint"))) !=
	    NULL)
		printf("local CA:       SHA-256 %s\n", s);
	if (json_is_true(json_object_get(st, "fits_answers")))
		printf(
		    "answers:        the certificate is what they ask for\n");
	else if ((s = json_string_value(
		      json_object_get(st, "answers_reason"))) != NULL)
		printf("answers:        differ: %s\n", s);
}

/* Adds whether the certificate is what the answers ask for. */
static void
cmd_certs_status_answers(
    json_t *st, const struct answers *a, const struct certs_opts *o)
{
	char *reason = NULL;
	int fits;

	fits = certs_check(a, o, &reason);
	json_object_set_new(st, "fits_answers", json_boolean(fits == 1));
	if (fits != 1)
		json_object_set_new(st, "answers_reason",
		    json_string(reason != NULL ? reason : "unknown"));
	free(reason);
}

static int
cmd_certs_status_exec(int argc, char **argv)
{
	struct cmd_certs_args args;
	struct answers *a = NULL;
	json_t *st;
	char *cause = NULL, *text;
	int rc;

	if ((rc = cmd_certs_parse(&cmd_certs_status_entry, argc, argv,
		 "tls-dir answers json", &args)) != 0)
		return rc;
	if ((st = certs_status(args.opts.tls_dir, &cause)) == NULL) {
		fprintf(stderr, "chatstack certs status: %s\n", cause);
		free(cause);
		return EXIT_FAILURE;
	}
	if (args.answers != NULL) {
		if ((a = cmd_certs_load_answers(args.answers)) == NULL) {
			json_decref(st);
			return EXIT_FAILURE;
		}
		cmd_certs_status_answers(st, a, &args.opts);
		answers_free(a);
	}
	if (args.json) {
		text = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", text);
		free(text);
	} else
		cmd_certs_print_status(st);
	json_decref(st);
	return EXIT_SUCCESS;
}

static const struct cmd_entry cmd_certs_status_entry = {
    .name = "status",
    .args = "[--tls-dir DIR] [--answers FILE] [--json]",
    .summary = "Show issuer, names, expiry and renewal state.",
    .help = "options:\n"
	    "  --tls-dir DIR    the TLS directory (" CERTS_TLS_DIR ")\n"
	    "  --answers FILE   also say whether the certificate is what "
	    "they ask for\n"
	    "  --json           one JSON object instead of text\n",
    .exec = cmd_certs_status_exec,
};

static const struct cmd_entry cmd_certs_renew_entry = {
    .name = "renew",
    .args = "[--tls-dir DIR] [--answers FILE] [--force] [--reload] "
	    "[--webroot DIR | --responder]",
    .summary = "Renew the certificate when a third of its lifetime is "
	       "left.",
    .help = "Renews as the TLS directory's certs.json says the "
	    "certificate was made,\nor as the answers say (then also when "
	    "they ask for other names).\nA failed renewal keeps the old "
	    "certificate and exits 1; the finished\nevent says whether the "
	    "certificate changed (reload nginx only then).\n\n"
	    "options:\n"
	    "  --tls-dir DIR            the TLS directory (" CERTS_TLS_DIR ")\n"
	    "  --answers FILE           the settings of this answer file\n"
	    "  --force                  renew even when not due\n"
	    "  --reload                 reload nginx when the certificate "
	    "changed (or an\n"
	    "                           earlier reload for it failed)\n"
	    "  --webroot DIR            answer http-01 from files nginx "
	    "serves\n"
	    "  --responder              answer with the built-in responder\n"
	    "  --challenge-port N       the responder's port (80)\n"
	    "  --challenge-address IP   the responder's address (all)\n"
	    "  --address IP             selfsigned: an address for the "
	    "certificate\n",
    .exec = cmd_certs_renew_exec,
};

static const struct cmd_entry cmd_certs_ensure_entry = {
    .name = "ensure",
    .args = "--answers FILE | --mode MODE --hostname NAME [options]",
    .summary = "Make the TLS directory hold the certificate the answers "
	       "ask for.",
    .help = "What the install's TLS step does, on its own. Settings come "
	    "from the answer\nfile, or from these options:\n"
	    "  --mode letsencrypt|selfsigned|provided\n"
	    "  --hostname NAME, --name NAME (more names, repeatable)\n"
	    "  --key-type ec256|rsa2048\n"
	    "  letsencrypt: --directory URL, --ca-file FILE, --email ADDR,\n"
	    "               --eab-kid KID, --eab-key-file FILE\n"
	    "  provided:    --cert FILE, --key FILE, --chain FILE\n"
	    "  selfsigned:  --address IP (repeatable; default: this host's)\n"
	    "and:\n"
	    "  --tls-dir DIR            the TLS directory (" CERTS_TLS_DIR ")\n"
	    "  --webroot DIR            answer http-01 from files nginx "
	    "serves\n"
	    "  --responder              answer with the built-in responder\n"
	    "  --challenge-port N       the responder's port (80)\n"
	    "  --challenge-address IP   the responder's address (all)\n"
	    "  --force                  a new certificate even if the "
	    "current fits\n",
    .exec = cmd_certs_ensure_exec,
};

static const struct cmd_entry *const cmd_certs_children[] = {
    &cmd_certs_status_entry,
    &cmd_certs_renew_entry,
    &cmd_certs_ensure_entry,
    NULL,
};

const struct cmd_entry cmd_certs_entry = {
    .name = "certs",
    .args = "status|renew|ensure",
    .summary = "Show, renew and make TLS certificates.",
    .children = cmd_certs_children,
};
