/*
 * Packages from the release's signed bundles (bundles/bundle.h): each
 * bundle is verified and extracted into a fresh staging folder, its
 * packages installed with apt from that folder only (no network; a
 * policy-rc.d keeps services down), its files/ kept under
 * /var/lib/chatstack/files/<component>, and a marker records which bundle
 * file (size and mtime) is done, so a re-run does not extract it again.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../bundles/bundle.h"
#include "engine.h"
#include "event.h"
#include "fileio.h"
#include "log.h"
#include "steps.h"
#include "xmalloc.h"

#define BUNDLES_DONE ENGINE_STATE_DIR "/bundles-done"
#define BUNDLES_STAGING ENGINE_STATE_DIR "/staging"

struct step_bundles {
	char *dir; /* <release>/bundles */
	const char *const *packages; /* what must end up installed */
};

static void
step_bundles_free(void *arg)
{
	struct step_bundles *b = arg;

	free(b->dir);
	free(b);
}

/* The bundle files of the release, sorted; NULL-ended, caller frees. */
static char **
step_bundles_list(const char *dir, size_t *n)
{
	struct dirent **ents = NULL;
	char **list;
	size_t len;
	int i, count;

	*n = 0;
	count = scandir(dir, &ents, NULL, alphasort);
	list = xcalloc((size_t)(count > 0 ? count : 0) + 1, sizeof *list);
	for (i = 0; i < count; i++) {
		len = strlen(ents[i]->d_name);
		if (len > 8 &&
		    strcmp(ents[i]->d_name + len - 8, ".tar.zst") == 0)
			list[(*n)++] = xstrdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return list;
}

static void
step_bundles_list_free(char **list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

/* "<size> <mtime>" of a bundle file, what its done marker holds. */
static char *
step_bundle_stamp(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) == -1)
		return NULL;
	return xasprintf(
	    "%lld %lld\n", (long long)sb.st_size, (long long)sb.st_mtime);
}

static int
step_bundle_done(struct engine *e, const char *dir, const char *name)
{
	char *path, *marker, *stamp, *have, *cause = NULL;
	int done;

	path = xasprintf("%s/%s", dir, name);
	marker = xasprintf("%s%s/%s", e->root, BUNDLES_DONE, name);
	stamp = step_bundle_stamp(path);
	have = file_read(marker, 256, NULL, &cause);
	done = stamp != NULL && have != NULL && strcmp(stamp, have) == 0;
	free(cause);
	free(have);
	free(stamp);
	free(marker);
	free(path);
	return done;
}

static int
step_bundles_check(struct engine *e, struct step *s, char **cause)
{
	struct step_bundles *b = s->arg;
	char **list, *what;
	size_t n, i;
	int rc = STEP_DONE;

	(void)cause;
	if (step_dpkg_debris(e, s))
		rc = STEP_TODO;
	list = step_bundles_list(b->dir, &n);
	if (n == 0) {
		*cause = xasprintf("no bundles in '%s': is this an unpacked "
				   "release (make dist)?",
		    b->dir);
		step_bundles_list_free(list);
		return STEP_ERROR;
	}
	for (i = 0; i < n; i++) {
		if (step_bundle_done(e, b->dir, list[i]))
			continue;
		what = xasprintf("verify, extract and install %s", list[i]);
		step_change(s, CHANGE_PACKAGE, list[i], what);
		free(what);
		rc = STEP_TODO;
	}
	step_bundles_list_free(list);
	return rc;
}

static void
step_bundle_progress(const char *name, uint64_t size, void *arg)
{
	(void)name;
	(void)size;
	(void)arg;
}

/* Moves staging/files to /var/lib/chatstack/files/<component>. */
static int
step_bundle_keep_files(
    struct engine *e, const char *staging, const char *component, char **cause)
{
	char *src, *dest, *parent;
	char *rm[] = {"rm", "-rf", NULL, NULL};
	struct stat sb;
	int rc = -1;

	src = xasprintf("%s/files", staging);
	parent = engine_path(e, ENGINE_STATE_DIR "/files");
	dest = xasprintf("%s/%s", parent, component);
	if (stat(src, &sb) == -1) {
		rc = 0;
		goto out;
	}
	if (mkdir_p(parent, 0755, cause) == -1)
		goto out;
	rm[2] = dest;
	if (step_run(rm, NULL, 0, 60000, NULL, cause) == -1)
		goto out;
	if (rename(src, dest) == -1) {
		*cause = xasprintf(
		    "cannot move '%s' to '%s': %s", src, dest, strerror(errno));
		goto out;
	}
	chmod(dest, 0755);
	rc = 0;
out:
	free(src);
	free(dest);
	free(parent);
	return rc;
}

static int
step_bundle_install(struct engine *e, struct step *s,
    const struct bundle_keys *keys, const char *dir, const char *name,
    char **cause)
{
	struct bundle_install_opts io;
	struct bundle_manifest *m = NULL;
	struct atomic_opts o = ATOMIC_OPTS(0644);
	char *path, *staging, *parent, *state, *marker, *markdir, *stamp = NULL;
	int rc = -1;

	memset(&io, 0, sizeof io);
	io.read.keys = keys;
	state = engine_path(e, BUNDLE_STATE_DIR);
	io.read.state_dir = state;
	io.read.progress = step_bundle_progress;
	io.keep = 1;
	path = xasprintf("%s/%s", dir, name);
	parent = engine_path(e, BUNDLES_STAGING);
	staging = xasprintf("%s/%s", parent, name);
	io.staging = staging;
	markdir = engine_path(e, BUNDLES_DONE);
	marker = xasprintf("%s/%s", markdir, name);

	/* A run killed mid-bundle left its staging folder: start afresh. */
	bundle_remove_staging(staging);
	if (mkdir_p(markdir, 0700, cause) == -1 ||
	    mkdir_p(parent, 0700, cause) == -1)
		goto out;
	event_step_progress(s->id, 0, 0, name);
	if (bundle_install(path, &io, &m, cause) == -1)
		goto out;
	log_info("verified and installed %s (%s %s)", name, m->component,
	    m->version);
	if (step_bundle_keep_files(e, staging, m->component, cause) == -1)
		goto out;
	if ((stamp = step_bundle_stamp(path)) == NULL ||
	    atomic_write(marker, stamp, strlen(stamp), &o, NULL, cause) == -1)
		goto out;
	s->changed = 1;
	rc = 0;
out:
	bundle_remove_staging(staging);
	bundle_manifest_free(m);
	free(stamp);
	free(marker);
	free(markdir);
	free(staging);
	free(parent);
	free(path);
	free(state);
	return rc;
}

static int
step_bundles_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_bundles *b = s->arg;
	struct bundle_keys *keys;
	char **list;
	size_t n, i;
	int rc = -1;

	keys = bundle_keys_new();
	list = step_bundles_list(b->dir, &n);
	if (step_dpkg_wait(e, s, cause) == -1)
		goto out;
	if (step_dpkg_debris(e, s) && step_dpkg_recover(e, cause) == -1)
		goto out;
	if (bundle_keys_add_default(keys, cause) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (step_bundle_done(e, b->dir, list[i]))
			continue;
		if (step_bundle_install(e, s, keys, b->dir, list[i], cause) ==
		    -1)
			goto out;
	}
	step_pkgs_mark_owned(e);
	rc = 0;
out:
	step_bundles_list_free(list);
	bundle_keys_free(keys);
	return rc;
}

static const struct step_ops step_bundles_ops = {
    .check = step_bundles_check,
    .apply = step_bundles_apply,
    .free = step_bundles_free,
};

struct step *
step_add_bundles(struct engine *e, const char *release)
{
	struct step_bundles *b;

	b = xcalloc(1, sizeof *b);
	b->dir = xasprintf("%s/bundles", release);
	return engine_add(e, "packages.bundles",
	    "Verify the bundles and install their packages (offline)",
	    &step_bundles_ops, b);
}
