/*
 * Installing a component's packages from an extracted, verified bundle.
 * apt does the work (dependency order, triggers, packages already
 * present), with the bundle's flat repository as its only source: the
 * system's sources.list and sources.list.d are not read, the package
 * lists go to a folder of their own, and nothing is fetched from a
 * network. A policy-rc.d keeps services from starting while packages are
 * configured, so each one starts once, after its configuration is written.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "bundle.h"
#include "fileio.h"
#include "log.h"
#include "spawn.h"
#include "xmalloc.h"

#define APT_POLICY "/usr/sbin/policy-rc.d"
#define APT_POLICY_TEXT                                                        \
	"#!/bin/sh\n# chatstack: no service starts during a package step\n"    \
	"exit 101\n"
#define APT_TIMEOUT (30 * 60 * 1000)

static char *apt_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
    "DEBIAN_FRONTEND=noninteractive", "DEBCONF_NONINTERACTIVE_SEEN=true",
    "APT_LISTCHANGES_FRONTEND=none", NULL};

/* Returns apt's last "E: " line (allocated), or NULL. */
static char *
apt_error_line(const struct buf *out)
{
	const char *p, *line, *last = NULL;
	size_t len = 0;

	if (out->data == NULL)
		return NULL;
	for (line = out->data; *line != '\0'; line = p + (*p == '\n')) {
		p = line + strcspn(line, "\n");
		if (strncmp(line, "E: ", 3) == 0) {
			last = line + 3;
			len = p - last;
		}
	}
	return last != NULL ? xstrndup(last, len) : NULL;
}

/* Runs apt-get with the options that pin it to the bundle's repository. */
static int
apt_run(const char *work, const char *component, const char *const *args,
    int timeout_ms, char **cause)
{
	struct spawn sp = {0};
	char **argv, *desc, *err, *esc;
	const char *action = "update";
	size_t n = 0, i;
	int rc = -1;

	for (i = 0; args[i] != NULL; i++) {
		if (strcmp(args[i], "install") == 0)
			action = "install";
	}
	argv = xcalloc(i + 16, sizeof *argv);
	argv[n++] = xstrdup("apt-get");
	argv[n++] = xstrdup("-q");
	argv[n++] = xasprintf("-oDir::Etc::sourcelist=%s/sources.list", work);
	argv[n++] = xstrdup("-oDir::Etc::sourceparts=-");
	argv[n++] = xasprintf("-oDir::State::Lists=%s/lists", work);
	argv[n++] = xstrdup("-oDir::Cache::pkgcache=");
	argv[n++] = xstrdup("-oDir::Cache::srcpkgcache=");
	argv[n++] = xstrdup("-oAPT::Get::List-Cleanup=false");
	argv[n++] = xstrdup("-oAcquire::Languages=none");
	argv[n++] = xstrdup("-oAPT::Sandbox::User=root");
	argv[n++] = xstrdup("-oAcquire::http::Proxy=false");
	argv[n++] = xstrdup("-oDpkg::Use-Pty=false");
	/* Wait for a running unattended-upgrades rather than fail. */
	argv[n++] = xstrdup("-oDPkg::Lock::Timeout=300");
	for (i = 0; args[i] != NULL; i++)
		argv[n++] = xstrdup(args[i]);
	sp.argv = argv;
	sp.envp = apt_env;
	sp.timeout_ms = timeout_ms;
	sp.merge_stderr = 1;
	sp.max_output = 4 << 20;
	if (spawn_run(&sp, cause) != 0)
		goto out;
	if (sp.status != 0 || sp.timed_out) {
		if ((err = apt_error_line(&sp.out)) != NULL) {
			esc = str_escape(err);
			*cause = xasprintf("apt-get %s from the bundle of '%s' "
					   "%s: %s",
			    action, component,
			    sp.timed_out ? "timed out" : "failed", esc);
			free(esc);
			free(err);
		} else {
			desc = spawn_describe(&sp);
			*cause = xasprintf("%s", desc);
			free(desc);
		}
		goto out;
	}
	rc = 0;

out:
	spawn_free(&sp);
	for (i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return rc;
}

/*
 * Puts our policy-rc.d in place unless one is there already; *made says
 * whether we must remove it. One left by a crashed run of ours is reused.
 */
static int
apt_policy_on(int *made, char **cause)
{
	struct atomic_opts ao = ATOMIC_OPTS(0755);
	char *old;
	int changed;

	*made = 0;
	if (access(APT_POLICY, F_OK) == 0) {
		old = file_read(APT_POLICY, 4096, NULL, cause);
		if (old == NULL)
			return -1;
		*made = strstr(old, "# chatstack:") != NULL;
		free(old);
		return 0;
	}
	if (atomic_write(APT_POLICY, APT_POLICY_TEXT, strlen(APT_POLICY_TEXT),
		&ao, &changed, cause) != 0)
		return -1;
	*made = 1;
	return 0;
}

int
bundle_apt_install(const char *staging, const struct bundle_manifest *m,
    const struct bundle_apt_opts *opts, char **cause)
{
	static const char *update[] = {"update", NULL};
	struct atomic_opts ao = ATOMIC_OPTS(0644);
	const char **args = NULL;
	const char *const *want;
	char *work = NULL, *repo = NULL, *list = NULL, *lists = NULL;
	char *text = NULL, *rp = NULL;
	size_t n = 0, i, count;
	int changed, made = 0, timeout, rc = -1;

	timeout = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms
						       : APT_TIMEOUT;
	repo = xasprintf("%s/repo", staging);
	if ((rp = realpath(repo, NULL)) == NULL) {
		*cause = xasprintf("bundle for '%s' has no package repository "
				   "('%s': %s)",
		    m->component, repo, strerror(errno));
		goto out;
	}
	work = xasprintf("%s/.apt", staging);
	lists = xasprintf("%s/lists/partial", work);
	if (mkdir_p(lists, 0700, cause) != 0)
		goto out;
	list = xasprintf("%s/sources.list", work);
	text = xasprintf("deb [trusted=yes] file:%s ./\n", rp);
	if (atomic_write(list, text, strlen(text), &ao, &changed, cause) != 0)
		goto out;

	want = opts != NULL ? opts->packages : NULL;
	count = m->npackages;
	if (want != NULL)
		for (count = 0; want[count] != NULL; count++)
			;
	args = xcalloc(count + 8, sizeof *args);
	args[n++] = "-y";
	args[n++] = "--no-install-recommends";
	args[n++] = "-oDpkg::Options::=--force-confdef";
	args[n++] = "-oDpkg::Options::=--force-confold";
	args[n++] = "install";
	for (i = 0; i < count; i++)
		args[n++] = want != NULL ? want[i] : m->packages[i];
	args[n] = NULL;
	if (n == 5) {
		*cause = xasprintf("bundle for '%s' names no package to "
				   "install",
		    m->component);
		goto out;
	}

	if (apt_run(work, m->component, update, timeout, cause) != 0)
		goto out;
	if ((opts == NULL || !opts->keep_policy) &&
	    apt_policy_on(&made, cause) != 0)
		goto out;
	if (apt_run(work, m->component, args, timeout, cause) != 0)
		goto out;
	log_info("installed the packages of '%s' %s from its bundle",
	    m->component, m->version);
	rc = 0;

out:
	if (made && unlink(APT_POLICY) != 0 && errno != ENOENT)
		log_warn("cannot remove '%s': %s; remove it by hand, or "
			 "package installs will not start services",
		    APT_POLICY, strerror(errno));
	free(args);
	free(rp);
	free(work);
	free(repo);
	free(list);
	free(lists);
	free(text);
	return rc;
}
