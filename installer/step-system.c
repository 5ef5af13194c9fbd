/*
 * Steps that change the system: secrets, Debian packages from the local
 * bundle repository, systemd reloads, and services started in order.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "event.h"
#include "fileio.h"
#include "log.h"
#include "secrets.h"
#include "spawn.h"
#include "steps.h"
#include "xmalloc.h"

#define SECRET_LENGTH 32

static const char *step_secret_names[] = {
    SECRET_MARIADB,
    SECRET_REDIS,
    SECRET_RABBITMQ,
    SECRET_COOKIE,
    SECRET_SESSION,
};
#define NSECRETS (sizeof step_secret_names / sizeof step_secret_names[0])

static int
step_secrets_check(struct engine *e, struct step *s, char **cause)
{
	struct stat sb;
	char *dir, *path;
	size_t i;
	int rc = STEP_DONE;

	(void)cause;
	dir = engine_path(e, SECRETS_DIR);
	for (i = 0; i < NSECRETS; i++) {
		path = xasprintf("%s/%s", dir, step_secret_names[i]);
		if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
		    (sb.st_mode & 077) != 0 || sb.st_size == 0) {
			step_change(
			    s, CHANGE_SECRET, path + strlen(e->root), NULL);
			rc = STEP_TODO;
		}
		free(path);
	}
	free(dir);
	return rc;
}

static int
step_secrets_apply(struct engine *e, struct step *s, char **cause)
{
	char *dir;
	size_t i;
	int created, rc = -1;

	dir = engine_path(e, SECRETS_DIR);
	for (i = 0; i < NSECRETS; i++) {
		if (secret_ensure(dir, step_secret_names[i], SECRET_LENGTH,
			&created, cause) == -1)
			goto out;
		if (created) {
			s->changed = 1;
			log_info("generated secret %s/%s", dir,
			    step_secret_names[i]);
		}
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

static const struct step_ops step_secrets_ops = {
    .check = step_secrets_check,
    .apply = step_secrets_apply,
};

struct step *
step_add_secrets(struct engine *e)
{
	return engine_add(e, "secrets", "Generate the service passwords",
	    &step_secrets_ops, NULL);
}

/*
 * Packages, from the bundles' local repositories only. Debian's
 * maintainer scripts would start each service as soon as it is
 * configured: a policy-rc.d that says no keeps them down until chatstack
 * has written their configuration, so each starts once, configured.
 */
#define POLICY_RC_D "/usr/sbin/policy-rc.d"
#define POLICY_MARK "# chatstack: no service starts during the package step\n"
#define APT_DIR ENGINE_STATE_DIR "/apt"
/* How long a package step waits for dpkg's lock. */
#define DPKG_WAIT_S 600

struct step_pkgs {
	char **names;
	size_t n;
	int online; /* the host's own apt sources (development only) */
	int purge; /* removal: purge configuration too */
};

static int step_pkg_installed(const char *);

/* A package step's list of names, copied. */
static struct step_pkgs *
step_pkgs_new(const char *const *names)
{
	struct step_pkgs *p;

	p = xcalloc(1, sizeof *p);
	for (; *names != NULL; names++) {
		p->names = xreallocarray(p->names, p->n + 1, sizeof *p->names);
		p->names[p->n++] = xstrdup(*names);
	}
	return p;
}

/* Tells preflight which components are chatstack's own. */
void
step_pkgs_mark_owned(struct engine *e)
{
	static const char *owned[] = {
	    "mariadb", "redis", "rabbitmq", "nginx", "chatd"};
	struct atomic_opts o = ATOMIC_OPTS(0644);
	char *dir, *path, *cause = NULL;
	size_t i;

	dir = engine_path(e, ENGINE_STATE_DIR "/owned");
	if (mkdir_p(dir, 0755, &cause) == 0) {
		for (i = 0; i < sizeof owned / sizeof owned[0]; i++) {
			path = xasprintf("%s/%s", dir, owned[i]);
			if (atomic_write(path, "chatstack\n", 10, &o, NULL,
				&cause) == -1)
				break;
			free(path);
			path = NULL;
		}
		free(path);
	}
	if (cause != NULL) {
		log_warn("%s", cause);
		free(cause);
	}
	free(dir);
}

/* Records the packages chatstack added, for uninstall. */
static void
step_pkgs_record(struct engine *e, struct step_pkgs *p)
{
	char *path;
	size_t i;
	FILE *f;

	path = engine_path(e, ENGINE_STATE_DIR "/packages-added");
	if ((f = fopen(path, "a")) != NULL) {
		for (i = 0; i < p->n; i++) {
			if (!step_pkg_installed(p->names[i]))
				fprintf(f, "%s\n", p->names[i]);
		}
		fclose(f);
	}
	free(path);
}

static void
step_pkgs_free(void *arg)
{
	struct step_pkgs *p = arg;
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->names[i]);
	free(p->names);
	free(p);
}

/* Returns 1 when package name is installed ("ii"). */
static int
step_pkg_installed(const char *name)
{
	char *argv[] = {
	    "dpkg-query", "-W", "-f=${db:Status-Abbrev}", NULL, NULL};
	struct buf out = BUF_INIT;
	char *cause = NULL;
	int ok;

	argv[3] = (char *)name;
	ok = step_run(argv, NULL, 0, 30000, &out, &cause) == 0 &&
	    out.data != NULL && strncmp(out.data, "ii", 2) == 0;
	free(cause);
	buf_free(&out);
	return ok;
}

static int
step_pkgs_check(struct engine *e, struct step *s, char **cause)
{
	struct step_pkgs *p = s->arg;
	size_t i;
	int rc = STEP_DONE;

	(void)cause;
	if (step_dpkg_debris(e, s))
		rc = STEP_TODO;
	for (i = 0; i < p->n; i++) {
		if (!step_pkg_installed(p->names[i])) {
			step_change(s, CHANGE_PACKAGE, p->names[i], NULL);
			rc = STEP_TODO;
		}
	}
	return rc;
}

/* Writes sources.list naming every staged bundle repository. */
static int
step_pkgs_sources(struct engine *e, char **cause)
{
	struct atomic_opts o = ATOMIC_OPTS(0644);
	struct buf b = BUF_INIT;
	char *repo, *path, *lists, *entry;
	FILE *f;
	char line[1024];
	int rc = -1;

	repo = engine_path(e, CHATSTACK_REPO);
	lists = engine_path(e, APT_DIR "/lists/partial");
	if (mkdir_p(lists, 0755, cause) == -1)
		goto out;
	/* bundles.stage writes one repository folder a component. */
	path = xasprintf("%s/components", repo);
	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf("no staged bundles in '%s' (%s): the "
				   "bundle step did not run",
		    repo, strerror(errno));
		free(path);
		goto out;
	}
	free(path);
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || strchr(line, '/') != NULL)
			continue;
		entry = xasprintf("%s/%s", repo, line);
		buf_printf(&b, "deb [trusted=yes] file:%s ./\n", entry);
		free(entry);
	}
	fclose(f);
	path = engine_path(e, APT_DIR "/sources.list");
	rc = atomic_write(path, b.data, b.len, &o, NULL, cause);
	free(path);
out:
	buf_free(&b);
	free(lists);
	free(repo);
	return rc;
}

static int
step_pkgs_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_pkgs *p = s->arg;
	struct atomic_opts o = ATOMIC_OPTS(0755);
	char *apt[64], *sources, *lists, *cache, *policy, *old = NULL;
	char *opt_src, *opt_lists, *opt_cache;
	size_t i, n = 0, base;
	int rc = -1, ours = 0;
	struct spawn sp;
	static char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", NULL};

	if (step_dpkg_wait(e, s, cause) == -1)
		return -1;
	if (step_dpkg_debris(e, s) && step_dpkg_recover(e, cause) == -1)
		return -1;
	if (!p->online && step_pkgs_sources(e, cause) == -1)
		return -1;
	step_pkgs_record(e, p);
	sources = engine_path(e, APT_DIR "/sources.list");
	lists = engine_path(e, APT_DIR "/lists");
	cache = engine_path(e, APT_DIR "/cache");
	opt_src = xasprintf("Dir::Etc::SourceList=%s", sources);
	opt_lists = xasprintf("Dir::State::Lists=%s", lists);
	opt_cache = xasprintf("Dir::Cache=%s", cache);

	policy = engine_path(e, POLICY_RC_D);
	old = file_read(policy, 4096, NULL, cause);
	if (old == NULL) {
		free(*cause);
		*cause = NULL;
	}
	if (old == NULL || strstr(old, POLICY_MARK) != NULL) {
		if (atomic_write(policy, "#!/bin/sh\n" POLICY_MARK "exit 101\n",
			strlen("#!/bin/sh\n" POLICY_MARK "exit 101\n"), &o,
			NULL, cause) == -1)
			goto out;
		ours = 1;
	}

	apt[n++] = "apt-get";
	apt[n++] = "-q";
	apt[n++] = "-y";
	if (!p->online) {
		apt[n++] = "-o";
		apt[n++] = opt_src;
		apt[n++] = "-o";
		apt[n++] = "Dir::Etc::SourceParts=/nonexistent";
		apt[n++] = "-o";
		apt[n++] = opt_lists;
		apt[n++] = "-o";
		apt[n++] = opt_cache;
	}
	apt[n++] = "-o";
	apt[n++] = "Acquire::Languages=none";
	base = n;
	apt[n++] = "update";
	apt[n] = NULL;

	memset(&sp, 0, sizeof sp);
	sp.argv = apt;
	sp.envp = env;
	sp.timeout_ms = 120000;
	sp.merge_stderr = 1;
	event_step_progress(s->id, 1, 2, "reading the package lists");
	if (spawn_run(&sp, cause) == -1)
		goto out;
	if (sp.status != 0) {
		*cause = spawn_describe(&sp);
		spawn_free(&sp);
		goto out;
	}
	spawn_free(&sp);

	n = base;
	apt[n++] = "-o";
	apt[n++] = "Dpkg::Options::=--force-confdef";
	apt[n++] = "-o";
	apt[n++] = "Dpkg::Options::=--force-confold";
	apt[n++] = "--no-install-recommends";
	apt[n++] = "install";
	for (i = 0; i < p->n && n < 62; i++)
		apt[n++] = p->names[i];
	apt[n] = NULL;
	memset(&sp, 0, sizeof sp);
	sp.argv = apt;
	sp.envp = env;
	sp.timeout_ms = 900000;
	sp.merge_stderr = 1;
	sp.max_output = 4 * 1024 * 1024;
	event_step_progress(s->id, 2, 2, "installing packages");
	if (spawn_run(&sp, cause) == -1)
		goto out;
	if (sp.out.data != NULL)
		log_debug("apt-get: %s", sp.out.data);
	if (sp.status != 0) {
		*cause = spawn_describe(&sp);
		spawn_free(&sp);
		goto out;
	}
	spawn_free(&sp);
	step_pkgs_mark_owned(e);
	rc = 0;
out:
	if (ours && unlink(policy) == -1 && errno != ENOENT)
		log_warn("cannot remove %s: %s", policy, strerror(errno));
	free(old);
	free(policy);
	free(opt_src);
	free(opt_lists);
	free(opt_cache);
	free(sources);
	free(lists);
	free(cache);
	return rc;
}

static const struct step_ops step_pkgs_ops = {
    .check = step_pkgs_check,
    .apply = step_pkgs_apply,
    .free = step_pkgs_free,
};

struct step *
step_add_packages(struct engine *e, const char *const *names, int online)
{
	struct step_pkgs *p;

	p = step_pkgs_new(names);
	p->online = online;
	return engine_add(e, "packages.install",
	    online ? "Install packages from this host's apt sources"
		   : "Install packages",
	    &step_pkgs_ops, p);
}

/* systemctl, with its answer; 0 when it exited 0. */
static int
step_systemctl(
    const char *verb, const char *unit, struct buf *out, char **cause)
{
	char *argv[] = {"systemctl", NULL, NULL, NULL};

	argv[1] = (char *)verb;
	argv[2] = (char *)unit;
	return step_run(argv, NULL, 0, 120000, out, cause);
}

static int
step_systemctl_is(const char *verb, const char *unit, const char *want)
{
	struct buf out = BUF_INIT;
	char *cause = NULL;
	int ok;

	step_systemctl(verb, unit, &out, &cause);
	free(cause);
	ok = out.data != NULL && strncmp(out.data, want, strlen(want)) == 0 &&
	    (out.data[strlen(want)] == '\n' || out.data[strlen(want)] == '\0');
	buf_free(&out);
	return ok;
}

/* daemon-reload when a unit file changed (marked in the journal). */
static int
step_reload_check(struct engine *e, struct step *s, char **cause)
{
	(void)cause;
	if (!journal_pending(e, "daemon-reload"))
		return STEP_DONE;
	step_change(s, CHANGE_UNIT, "systemd daemon-reload", NULL);
	return STEP_TODO;
}

static int
step_reload_apply(struct engine *e, struct step *s, char **cause)
{
	(void)s;
	if (step_systemctl("daemon-reload", NULL, NULL, cause) == -1)
		return -1;
	journal_set_pending(e, "daemon-reload", 0);
	return journal_save(e, cause);
}

static const struct step_ops step_reload_ops = {
    .check = step_reload_check,
    .apply = step_reload_apply,
};

struct step *
step_add_reload(struct engine *e)
{
	return engine_add(e, "systemd.reload", "Reload systemd units",
	    &step_reload_ops, NULL);
}

/*
 * A service enabled and running with its current configuration: started
 * when down, restarted when its configuration changed since (the journal
 * says so), left alone otherwise.
 */
struct step_svc {
	char *unit;
	int reload; /* reload instead of restart (nginx) */
	char *test[8]; /* config test run before a (re)start, or NULL */
};

static void
step_svc_free(void *arg)
{
	struct step_svc *v = arg;
	size_t i;

	free(v->unit);
	for (i = 0; v->test[i] != NULL; i++)
		free(v->test[i]);
	free(v);
}

static int
step_svc_check(struct engine *e, struct step *s, char **cause)
{
	struct step_svc *v = s->arg;
	int rc = STEP_DONE;

	(void)cause;
	if (!step_systemctl_is("is-enabled", v->unit, "enabled")) {
		step_change(s, CHANGE_SERVICE, v->unit, "enable");
		rc = STEP_TODO;
	}
	if (!step_systemctl_is("is-active", v->unit, "active")) {
		step_change(s, CHANGE_SERVICE, v->unit, "start");
		rc = STEP_TODO;
	} else if (journal_pending(e, v->unit)) {
		step_change(s, CHANGE_SERVICE, v->unit,
		    v->reload ? "reload (configuration changed)"
			      : "restart (configuration changed)");
		rc = STEP_TODO;
	}
	return rc;
}

static int
step_svc_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_svc *v = s->arg;
	const char *verb;

	if (v->test[0] != NULL &&
	    step_run(v->test, NULL, 0, 60000, NULL, cause) == -1)
		return -1;
	if (!step_systemctl_is("is-enabled", v->unit, "enabled") &&
	    step_systemctl("enable", v->unit, NULL, cause) == -1)
		return -1;
	if (!step_systemctl_is("is-active", v->unit, "active"))
		verb = "start";
	else if (journal_pending(e, v->unit))
		verb = v->reload ? "reload-or-restart" : "restart";
	else
		verb = NULL;
	if (verb != NULL) {
		if (step_systemctl(verb, v->unit, NULL, cause) == -1) {
			step_journal_tail(v->unit, cause);
			return -1;
		}
		log_info("%sed %s",
		    strcmp(verb, "start") == 0 ? "start" : "restart", v->unit);
	}
	journal_set_pending(e, v->unit, 0);
	return journal_save(e, cause);
}

static const struct step_ops step_svc_ops = {
    .check = step_svc_check,
    .apply = step_svc_apply,
    .free = step_svc_free,
};

struct step *
step_add_service(
    struct engine *e, const char *unit, int reload, const char *const *test)
{
	struct step_svc *v;
	struct step *s;
	char *id, *title;
	size_t i;

	v = xcalloc(1, sizeof *v);
	v->unit = xstrdup(unit);
	v->reload = reload;
	for (i = 0; test != NULL && test[i] != NULL && i < 7; i++)
		v->test[i] = xstrdup(test[i]);
	id = xasprintf("service.%s", unit);
	title = xasprintf("Start %s", unit);
	s = engine_add(e, id, title, &step_svc_ops, v);
	s->component = NULL;
	free(id);
	free(title);
	return s;
}

void
step_journal_tail(const char *unit, char **cause)
{
	char *argv[] = {"journalctl", "-u", NULL, "-n", "15", "--no-pager",
	    "-o", "cat", NULL};
	struct buf out = BUF_INIT;
	char *why = NULL, *more;

	argv[2] = (char *)unit;
	if (step_run(argv, NULL, 0, 15000, &out, &why) == 0 &&
	    out.data != NULL) {
		more = xasprintf("%s\nlast lines of the journal of %s:\n%s",
		    *cause, unit, out.data);
		free(*cause);
		*cause = more;
	}
	free(why);
	buf_free(&out);
}

/* Uninstall: a unit stopped and disabled (or not there at all). */
static int
step_stop_check(struct engine *e, struct step *s, char **cause)
{
	struct step_svc *v = s->arg;
	int rc = STEP_DONE;

	(void)e;
	(void)cause;
	if (step_systemctl_is("is-active", v->unit, "active")) {
		step_change(s, CHANGE_SERVICE, v->unit, "stop");
		rc = STEP_TODO;
	}
	if (step_systemctl_is("is-enabled", v->unit, "enabled")) {
		step_change(s, CHANGE_SERVICE, v->unit, "disable");
		rc = STEP_TODO;
	}
	return rc;
}

static int
step_stop_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_svc *v = s->arg;
	char *argv[] = {"systemctl", "disable", "--now", NULL, NULL};

	(void)e;
	(void)s;
	argv[3] = v->unit;
	if (step_run(argv, NULL, 0, 180000, NULL, cause) == -1)
		return -1;
	log_info("stopped and disabled %s", v->unit);
	return 0;
}

static const struct step_ops step_stop_ops = {
    .check = step_stop_check,
    .apply = step_stop_apply,
    .free = step_svc_free,
};

struct step *
step_add_service_stop(struct engine *e, const char *unit)
{
	struct step_svc *v;
	struct step *s;
	char *id, *title;

	v = xcalloc(1, sizeof *v);
	v->unit = xstrdup(unit);
	id = xasprintf("stop.%s", unit);
	title = xasprintf("Stop and disable %s", unit);
	s = engine_add(e, id, title, &step_stop_ops, v);
	free(id);
	free(title);
	return s;
}

/* Uninstall: the packages chatstack added, removed (or purged). */
static int
step_pkgs_remove_check(struct engine *e, struct step *s, char **cause)
{
	struct step_pkgs *p = s->arg;
	size_t i;
	int rc = STEP_DONE;

	(void)e;
	(void)cause;
	for (i = 0; i < p->n; i++) {
		if (step_pkg_installed(p->names[i])) {
			step_change(s, CHANGE_PACKAGE, p->names[i],
			    p->purge ? "purge" : "remove");
			rc = STEP_TODO;
		}
	}
	return rc;
}

static int
step_pkgs_remove_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_pkgs *p = s->arg;
	static char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", NULL};
	char *argv[64];
	struct spawn sp;
	size_t i, n = 0;
	int rc = -1;

	(void)e;
	argv[n++] = "apt-get";
	argv[n++] = "-q";
	argv[n++] = "-y";
	argv[n++] = "-o";
	argv[n++] = "Acquire::Languages=none";
	argv[n++] = p->purge ? "purge" : "remove";
	argv[n++] = "--autoremove";
	for (i = 0; i < p->n && n < 62; i++) {
		if (step_pkg_installed(p->names[i]))
			argv[n++] = p->names[i];
	}
	argv[n] = NULL;
	memset(&sp, 0, sizeof sp);
	sp.argv = argv;
	sp.envp = env;
	sp.timeout_ms = 600000;
	sp.merge_stderr = 1;
	if (spawn_run(&sp, cause) == -1)
		return -1;
	if (sp.status != 0)
		*cause = spawn_describe(&sp);
	else
		rc = 0;
	spawn_free(&sp);
	(void)s;
	return rc;
}

static const struct step_ops step_pkgs_remove_ops = {
    .check = step_pkgs_remove_check,
    .apply = step_pkgs_remove_apply,
    .free = step_pkgs_free,
};

struct step *
step_add_packages_remove(struct engine *e, const char *const *names, int purge)
{
	struct step_pkgs *p;

	p = step_pkgs_new(names);
	p->purge = purge;
	return engine_add(e, "packages.remove",
	    purge ? "Purge the packages chatstack added"
		  : "Remove the packages chatstack added",
	    &step_pkgs_remove_ops, p);
}

/*
 * A run killed inside apt leaves dpkg "interrupted" (and maybe our
 * policy-rc.d): apt then refuses everything until `dpkg --configure -a`.
 * Returns 1 when there is such debris (recording it as a change), 0 when
 * there is none.
 */
int
step_dpkg_debris(struct engine *e, struct step *s)
{
	char *updates, *policy, *old, *why = NULL;
	struct dirent *de;
	DIR *d;
	int found = 0;

	updates = engine_path(e, "/var/lib/dpkg/updates");
	if ((d = opendir(updates)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			step_change(s, CHANGE_PACKAGE, "dpkg",
			    "finish the interrupted package configuration");
			found = 1;
			break;
		}
		closedir(d);
	}
	policy = engine_path(e, POLICY_RC_D);
	if ((old = file_read(policy, 4096, NULL, &why)) != NULL &&
	    strstr(old, "# chatstack:") != NULL) {
		step_change(s, CHANGE_FILE, POLICY_RC_D,
		    "(left by an interrupted run: removed)");
		found = 1;
	}
	free(why);
	free(old);
	free(policy);
	free(updates);
	return found;
}

/* Finishes what an interrupted dpkg left, services kept down meanwhile. */
int
step_dpkg_recover(struct engine *e, char **cause)
{
	static char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	    "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", NULL};
	char *argv[] = {"dpkg", "--force-confdef", "--force-confold",
	    "--configure", "-a", NULL};
	struct atomic_opts o = ATOMIC_OPTS(0755);
	const char *text = "#!/bin/sh\n" POLICY_MARK "exit 101\n";
	char *policy, *old, *why = NULL;
	struct spawn sp;
	int rc = -1;

	policy = engine_path(e, POLICY_RC_D);
	old = file_read(policy, 4096, NULL, &why);
	free(why);
	if (old == NULL &&
	    atomic_write(policy, text, strlen(text), &o, NULL, cause) == -1)
		goto out;
	if (old != NULL && strstr(old, "# chatstack:") == NULL) {
		/* Someone else's policy: keep it, and keep out of its way. */
		free(policy);
		policy = NULL;
	}
	memset(&sp, 0, sizeof sp);
	sp.argv = argv;
	sp.envp = env;
	sp.timeout_ms = 900000;
	sp.merge_stderr = 1;
	if (spawn_run(&sp, cause) == -1)
		goto out;
	if (sp.status != 0) {
		*cause = spawn_describe(&sp);
		spawn_free(&sp);
		goto out;
	}
	spawn_free(&sp);
	log_info("finished the package configuration an interrupted run left");
	rc = 0;
out:
	if (policy != NULL && unlink(policy) == -1 && errno != ENOENT)
		log_warn("cannot remove %s: %s", policy, strerror(errno));
	free(old);
	free(policy);
	return rc;
}

/*
 * Waits (bounded) until no other process holds dpkg's locks: a run killed
 * inside apt leaves its apt-get and dpkg children running on their own.
 */
int
step_dpkg_wait(struct engine *e, struct step *s, char **cause)
{
	static const char *locks[] = {
	    "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"};
	struct flock fl;
	char *path;
	size_t i;
	int fd, busy, waited;

	for (waited = 0;; waited++) {
		busy = 0;
		for (i = 0; i < sizeof locks / sizeof locks[0] && !busy; i++) {
			path = engine_path(e, locks[i]);
			fd = open(path, O_RDWR | O_CLOEXEC);
			free(path);
			if (fd == -1)
				continue;
			memset(&fl, 0, sizeof fl);
			fl.l_type = F_WRLCK;
			fl.l_whence = SEEK_SET;
			if (fcntl(fd, F_GETLK, &fl) == 0 &&
			    fl.l_type != F_UNLCK)
				busy = 1;
			close(fd);
		}
		if (!busy)
			return 0;
		if (waited == 0)
			event_step_progress(s->id, 0, 0,
			    "waiting for another package manager run to "
			    "finish");
		if (waited >= DPKG_WAIT_S) {
			*cause = xasprintf("dpkg is still locked by another "
					   "process after %d s",
			    DPKG_WAIT_S);
			return -1;
		}
		sleep(1);
	}
}
