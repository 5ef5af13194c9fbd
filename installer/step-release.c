/*
 * The steps that join other parts: preflight (preflight/), the bundles
 * (bundles/), the chatd release under /opt/chatstack/<version>, and the
 * TLS certificate (certs/).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../certs/certs.h"
#include "../preflight/preflight.h"
#include "answers.h"
#include "buf.h"
#include "cmd.h"
#include "engine.h"
#include "event.h"
#include "fileio.h"
#include "log.h"
#include "steps.h"
#include "xmalloc.h"

static int
step_preflight_check(struct engine *e, struct step *s, char **cause)
{
	struct preflight_opts o = PREFLIGHT_OPTS_INIT;
	struct preflight_report *r = NULL;
	int errors;

	(void)s;
	if (e->answers == NULL)
		return STEP_DONE;
	/* Under a test root without a fixture there is nothing to check. */
	if (e->root[0] != '\0') {
		char *fixture = engine_path(e, "/etc/os-release");
		int have = access(fixture, R_OK) == 0;

		free(fixture);
		if (!have)
			return STEP_DONE;
	}
	o.root = e->root[0] != '\0' ? e->root : NULL;
	o.events = 1;
	if (preflight_run(e->answers, &o, &r, cause) == -1)
		return STEP_ERROR;
	if (!cmd_global.json_events)
		preflight_report_print(stdout, r, cmd_global.color);
	errors = preflight_report_errors(r);
	preflight_report_free(r);
	if (errors > 0 && e->mode == ENGINE_PLAN) {
		/* A plan goes on, to show the rest; install would stop. */
		e->preflight_errors = errors;
		step_change(s, CHANGE_OTHER, "preflight",
		    "errors stand: install would refuse to start");
		return STEP_TODO;
	}
	if (errors > 0) {
		*cause = xasprintf("preflight found %d error%s on this host "
				   "(see above); fix them or waive them in "
				   "the answer file",
		    errors, errors == 1 ? "" : "s");
		return STEP_ERROR;
	}
	return STEP_DONE;
}

static const struct step_ops step_preflight_ops = {
    .check = step_preflight_check,
};

struct step *
step_add_preflight(struct engine *e)
{
	return engine_add(e, "preflight", "Check this host (preflight)",
	    &step_preflight_ops, NULL);
}

/*
 * A program and its tree under /opt/chatstack/<version>, found in the
 * release folder (or, in a source tree, where the build leaves them).
 * Candidates starting with / are paths on the host (a bundle's files).
 */
struct step_rel_spec {
	const char *what; /* for messages: "chatd" */
	const char *const *bins; /* where the program may be */
	const char *bin; /* its place under <version>/ */
	const char *const *trees; /* where its tree may be */
	const char *tree; /* the tree's place under <version>/ */
	int flip; /* then point current at <version> */
};

/* chatd and the web client, from the chatd bundle's files or the release. */
static const char *const step_chatd_bins[] = {ENGINE_STATE_DIR
    "/files/chatd/bin/chatd",
    "bin/chatd", "build/chatd", NULL};
static const char *const step_chatd_webs[] = {
    ENGINE_STATE_DIR "/files/chatd/web", "web", "chat/web", NULL};
static const struct step_rel_spec step_chatd_spec = {
    "chatd", step_chatd_bins, "bin/chatd", step_chatd_webs, "web", 1};

/*
 * chatstack itself and the private libraries its RPATH ($ORIGIN/../lib)
 * names. The renewal timer runs it from current/, so it does not depend
 * on where the release was unpacked (which may be gone).
 */
static const char *const step_self_bins[] = {
    "bin/chatstack", "build/release/chatstack", NULL};
static const char *const step_self_libs[] = {"lib", NULL};
static const struct step_rel_spec step_self_spec = {
    "chatstack", step_self_bins, "bin/chatstack", step_self_libs, "lib", 0};

struct step_rel {
	char *release;
	const struct step_rel_spec *spec;
};

static void
step_rel_free(void *arg)
{
	struct step_rel *r = arg;

	free(r->release);
	free(r);
}

static char *
step_rel_find(struct engine *e, const char *release, const char *const *names)
{
	char *path;

	for (; *names != NULL; names++) {
		if (**names == '/')
			path = engine_path(e, *names);
		else
			path = xasprintf(
			    "%s/%s", release != NULL ? release : ".", *names);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

static int
step_same_tree(const char *a, const char *b)
{
	char *argv[] = {"diff", "-rq", (char *)a, (char *)b, NULL};
	char *cause = NULL;
	int rc;

	rc = step_run(argv, NULL, 0, 60000, NULL, &cause);
	free(cause);
	return rc == 0;
}

/*
 * Replaces the tree dir/name with a copy of src: copied beside it as
 * name.new first, so a failed copy leaves the old tree in place.
 */
static int
step_replace_tree(
    const char *src, const char *dir, const char *name, char **cause)
{
	char *path, *tmp;
	char *rm[] = {"rm", "-rf", NULL, NULL};
	char *cp[] = {"cp", "-R", NULL, NULL, NULL};
	int rc = -1;

	path = xasprintf("%s/%s", dir, name);
	tmp = xasprintf("%s/%s.new", dir, name);
	rm[2] = tmp;
	cp[2] = (char *)src;
	cp[3] = tmp;
	if (mkdir_p(dir, 0755, cause) == -1 ||
	    step_run(rm, NULL, 0, 60000, NULL, cause) == -1 ||
	    step_run(cp, NULL, 0, 60000, NULL, cause) == -1)
		goto out;
	rm[2] = path;
	if (step_run(rm, NULL, 0, 60000, NULL, cause) == -1)
		goto out;
	if (rename(tmp, path) == -1) {
		*cause =
		    xasprintf("cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(tmp);
	return rc;
}

static int
step_rel_check(struct engine *e, struct step *s, char **cause)
{
	const struct step_rel *r = s->arg;
	const struct step_rel_spec *sp = r->spec;
	char *bin, *tree, *dir, *path, *link, target[512];
	ssize_t n;
	int rc = STEP_DONE;

	(void)cause;
	bin = step_rel_find(e, r->release, sp->bins);
	tree = step_rel_find(e, r->release, sp->trees);
	dir = xasprintf("%s%s/%s", e->root, CHATSTACK_PREFIX, e->version);
	path = xasprintf("%s/%s", dir, sp->bin);
	if (bin == NULL || !step_same_tree(bin, path)) {
		step_change(s, CHANGE_FILE, path + strlen(e->root), NULL);
		rc = STEP_TODO;
	}
	free(path);
	path = xasprintf("%s/%s", dir, sp->tree);
	if (tree != NULL && !step_same_tree(tree, path)) {
		step_change(s, CHANGE_DIRECTORY, path + strlen(e->root), NULL);
		rc = STEP_TODO;
	}
	free(path);
	if (sp->flip) {
		link = xasprintf("%s%s/current", e->root, CHATSTACK_PREFIX);
		n = readlink(link, target, sizeof target - 1);
		if (n < 0 ||
		    (target[n] = '\0', strcmp(target, e->version) != 0)) {
			step_change(s, CHANGE_FILE, link + strlen(e->root),
			    "(symlink to the new version)");
			rc = STEP_TODO;
		}
		free(link);
	}
	free(dir);
	free(bin);
	free(tree);
	return rc;
}

/* Points current at this version: a new link renamed over the old. */
static int
step_rel_flip(struct engine *e, char **cause)
{
	char *link, *tmp;
	int rc = 0;

	link = xasprintf("%s%s/current", e->root, CHATSTACK_PREFIX);
	tmp = xasprintf("%s.new", link);
	unlink(tmp);
	if (symlink(e->version, tmp) == -1 || rename(tmp, link) == -1) {
		*cause = xasprintf("cannot point '%s' at '%s': %s", link,
		    e->version, strerror(errno));
		rc = -1;
	}
	free(tmp);
	free(link);
	return rc;
}

static int
step_rel_apply(struct engine *e, struct step *s, char **cause)
{
	const struct step_rel *r = s->arg;
	const struct step_rel_spec *sp = r->spec;
	char *bin, *tree, *dir, *path = NULL;
	char *install[] = {"install", "-D", "-m", "0755", NULL, NULL, NULL};
	int rc = -1;

	bin = step_rel_find(e, r->release, sp->bins);
	tree = step_rel_find(e, r->release, sp->trees);
	dir = xasprintf("%s%s/%s", e->root, CHATSTACK_PREFIX, e->version);
	if (bin == NULL) {
		*cause = xasprintf("%s is not in the release '%s' (%s)",
		    sp->what, r->release != NULL ? r->release : ".", sp->bin);
		goto out;
	}
	/* The tree first: a new program may need what is new in it. */
	if (tree != NULL && step_replace_tree(tree, dir, sp->tree, cause) == -1)
		goto out;
	path = xasprintf("%s/%s", dir, sp->bin);
	install[4] = bin;
	install[5] = path;
	if (step_run(install, NULL, 0, 60000, NULL, cause) == -1)
		goto out;
	if (sp->flip && step_rel_flip(e, cause) == -1)
		goto out;
	log_info("installed %s %s in %s", sp->what, e->version, dir);
	rc = 0;
out:
	free(bin);
	free(tree);
	free(dir);
	free(path);
	return rc;
}

static const struct step_ops step_rel_ops = {
    .check = step_rel_check,
    .apply = step_rel_apply,
    .free = step_rel_free,
};

static struct step *
step_add_rel(struct engine *e, const char *id, const char *title,
    const struct step_rel_spec *spec, const char *release)
{
	struct step_rel *r;

	r = xcalloc(1, sizeof *r);
	r->release = release != NULL ? xstrdup(release) : NULL;
	r->spec = spec;
	return engine_add(e, id, title, &step_rel_ops, r);
}

struct step *
step_add_chatd_release(struct engine *e, const char *release)
{
	struct step *s;

	s = step_add_rel(e, "chatd.release",
	    "Install chatd and the web client under " CHATSTACK_PREFIX,
	    &step_chatd_spec, release);
	s->component = "chatd";
	return s;
}

struct step *
step_add_chatstack_release(struct engine *e, const char *release)
{
	return step_add_rel(e, "chatstack.release",
	    "Install chatstack itself under " CHATSTACK_PREFIX
	    " (for the renewal timer)",
	    &step_self_spec, release);
}

/*
 * The certificate nginx serves (certs/): certs_check is the check,
 * certs_ensure the apply. Before nginx runs, ACME challenges are answered
 * by certs' own responder; after, from the webroot nginx serves.
 * XXX the end-to-end check trusts the system's CAs in letsencrypt mode:
 * ca_file is the ACME server's root, not necessarily the issuer's.
 */
static void
step_tls_opts(struct engine *e, struct certs_opts *o, char **dir, char **web)
{
	char *argv[] = {"systemctl", "is-active", "-q", "nginx.service", NULL};
	char *why = NULL;

	memset(o, 0, sizeof *o);
	*dir = engine_path(e, CHATSTACK_ETC "/tls");
	*web = engine_path(e, CHATSTACK_ACME_WEBROOT);
	o->tls_dir = *dir;
	o->webroot = *web;
	o->responder = step_run(argv, NULL, 0, 10000, NULL, &why) != 0;
	free(why);
}

static int
step_tls_check(struct engine *e, struct step *s, char **cause)
{
	struct certs_opts o;
	char *dir, *web, *reason = NULL;
	int rc;

	if (e->answers == NULL)
		return STEP_DONE;
	step_tls_opts(e, &o, &dir, &web);
	rc = certs_check(e->answers, &o, &reason);
	if (rc == 1)
		rc = STEP_DONE;
	else if (rc == 0) {
		step_change(
		    s, CHANGE_FILE, CHATSTACK_ETC "/tls/fullchain.pem", reason);
		rc = STEP_TODO;
	} else {
		*cause = reason;
		reason = NULL;
		rc = STEP_ERROR;
	}
	free(reason);
	free(dir);
	free(web);
	return rc;
}

static int
step_tls_apply(struct engine *e, struct step *s, char **cause)
{
	struct certs_opts o;
	struct certs_result r;
	char *dir, *web, *why = NULL;
	int pending, rc = -1;

	memset(&r, 0, sizeof r);
	step_tls_opts(e, &o, &dir, &web);
	if (mkdir_p(web, 0755, cause) == -1)
		goto out;
	/*
	 * Marked before the files change, so that a crash between the
	 * write and nginx's reload still ends in a reload; unmarked when
	 * nothing changed, unless something else had marked it already.
	 */
	pending = journal_pending(e, "nginx.service");
	journal_set_pending(e, "nginx.service", 1);
	if (journal_save(e, cause) == -1)
		goto out;
	/* A failed certs_ensure leaves the installed files as they were. */
	rc = certs_ensure(e->answers, &o, &r, cause);
	if (rc == 0 && r.changed)
		s->changed = 1;
	else if (!pending) {
		journal_set_pending(e, "nginx.service", 0);
		if (journal_save(e, rc == 0 ? cause : &why) == -1)
			rc = -1;
	}
	if (rc == 0 && r.message != NULL)
		log_info("%s", r.message);
out:
	if (why != NULL) {
		log_warn("%s", why);
		free(why);
	}
	certs_result_free(&r);
	free(dir);
	free(web);
	return rc;
}

static const struct step_ops step_tls_ops = {
    .check = step_tls_check,
    .apply = step_tls_apply,
};

struct step *
step_add_tls(struct engine *e)
{
	struct step *s;

	s = engine_add(e, "tls.certificate", "Get the TLS certificate",
	    &step_tls_ops, NULL);
	s->component = "nginx";
	return s;
}

/*
 * What the install's summary says about the certificate (certs_status):
 * mode, issuer, expiry, and in selfsigned mode the local CA's SHA-256
 * fingerprint and the address nginx publishes it at; plus warnings, such
 * as a certificate that expires within CERTS_WARN_DAYS. NULL when there
 * is no certificate; the caller decrefs.
 */
json_t *
step_tls_summary(struct engine *e)
{
	static const char *keys[] = {
	    "mode", "issuer", "not_after", "days_left"};
	const struct answers *a = e->answers;
	json_t *st, *out, *warnings, *v;
	const char *mode, *until, *fp;
	char *dir, *why = NULL, *url, port[16] = "";
	json_int_t days;
	size_t i;

	dir = engine_path(e, CHATSTACK_ETC "/tls");
	st = certs_status(dir, &why);
	free(dir);
	if (st == NULL) {
		log_debug("%s", why);
		free(why);
		return NULL;
	}
	mode = json_string_value(json_object_get(st, "mode"));
	until = json_string_value(json_object_get(st, "not_after"));
	days = json_integer_value(json_object_get(st, "days_left"));
	out = json_object();
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((v = json_object_get(st, keys[i])) != NULL)
			json_object_set(out, keys[i], v);
	}
	if (until == NULL)
		until = "?";
	if ((fp = json_string_value(json_object_get(st, "ca_fingerprint"))) !=
	    NULL) {
		if (a != NULL && a->nginx.http_port != 80)
			snprintf(port, sizeof port, ":%d", a->nginx.http_port);
		url = xasprintf("http://%s%s" STEP_TLS_CA_PATH,
		    a != NULL ? a->hostname : "localhost", port);
		json_object_set_new(out, "ca_fingerprint", json_string(fp));
		json_object_set_new(out, "ca_url", json_string(url));
		free(url);
	}
	warnings = json_array();
	if (days < CERTS_WARN_DAYS && mode != NULL &&
	    strcmp(mode, "provided") == 0)
		json_array_append_new(warnings,
		    json_sprintf("the certificate expires on %s, within %d "
				 "days: replace the files tls.provided names "
				 "and run chatstack install again",
			until, CERTS_WARN_DAYS));
	else if (days < CERTS_WARN_DAYS)
		json_array_append_new(warnings,
		    json_sprintf("the certificate expires on %s, within %d "
				 "days, and has not been renewed: see "
				 "chatstack certs status and " ENGINE_LOG_DIR
				 "/certs.log",
			until, CERTS_WARN_DAYS));
	json_object_set_new(out, "warnings", warnings);
	json_decref(st);
	return out;
}
