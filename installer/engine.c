/*
 * The engine: runs a plan of steps (see engine.h), emits an event for
 * every step, keeps the journal and reports a failure so that the user
 * knows which step failed, why, where the log is and that running again
 * resumes.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "event.h"
#include "fileio.h"
#include "lock.h"
#include "log.h"
#include "spawn.h"
#include "xmalloc.h"

static const char *change_kind_names[] = {
    [CHANGE_FILE] = "file",
    [CHANGE_PACKAGE] = "package",
    [CHANGE_USER] = "user",
    [CHANGE_DIRECTORY] = "directory",
    [CHANGE_SECRET] = "secret",
    [CHANGE_DATABASE] = "database",
    [CHANGE_UNIT] = "unit",
    [CHANGE_SERVICE] = "service",
    [CHANGE_OTHER] = "other",
};

const char *
change_kind_name(enum change_kind kind)
{
	return change_kind_names[kind];
}

char *
engine_path(const struct engine *e, const char *path)
{
	return xasprintf("%s%s", e->root, path);
}

struct engine *
engine_create(const char *root, enum engine_mode mode)
{
	struct engine *e;
	size_t len;

	e = xcalloc(1, sizeof *e);
	e->root = xstrdup(root != NULL ? root : "");
	len = strlen(e->root);
	while (len > 0 && e->root[len - 1] == '/')
		e->root[--len] = '\0';
	e->mode = mode;
	e->verb = "install";
	e->lock_fd = -1;
	e->state_dir = engine_path(e, ENGINE_STATE_DIR);
	e->log_path = engine_path(e, ENGINE_LOG_FILE);
	e->templates = xstrdup("templates");
	e->version = xstrdup(CHATSTACK_VERSION);
	return e;
}

void
step_changes_clear(struct step *s)
{
	size_t i;

	for (i = 0; i < s->nchanges; i++) {
		free(s->changes[i].subject);
		free(s->changes[i].detail);
	}
	free(s->changes);
	s->changes = NULL;
	s->nchanges = 0;
}

static void
step_free(struct step *s)
{
	if (s->ops->free != NULL)
		s->ops->free(s->arg);
	step_changes_clear(s);
	free(s->id);
	free(s->title);
	free(s);
}

void
engine_free(struct engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nsteps; i++)
		step_free(e->steps[i]);
	free(e->steps);
	lock_release(e->lock_fd);
	json_decref(e->journal);
	json_decref(e->vars);
	free(e->root);
	free(e->templates);
	free(e->version);
	free(e->state_dir);
	free(e->log_path);
	free(e->resume_from);
	free(e->failed_step);
	free(e->failure);
	free(e);
}

struct step *
engine_add(struct engine *e, const char *id, const char *title,
    const struct step_ops *ops, void *arg)
{
	struct step *s;

	s = xcalloc(1, sizeof *s);
	s->id = xstrdup(id);
	s->title = xstrdup(title);
	s->ops = ops;
	s->arg = arg;
	e->steps = xreallocarray(e->steps, e->nsteps + 1, sizeof *e->steps);
	e->steps[e->nsteps++] = s;
	return s;
}

struct step *
engine_find(struct engine *e, const char *id)
{
	size_t i;

	for (i = 0; i < e->nsteps; i++) {
		if (strcmp(e->steps[i]->id, id) == 0)
			return e->steps[i];
	}
	return NULL;
}

void
step_change(struct step *s, enum change_kind kind, const char *subject,
    const char *detail)
{
	struct change *c;

	s->changes =
	    xreallocarray(s->changes, s->nchanges + 1, sizeof *s->changes);
	c = &s->changes[s->nchanges++];
	c->kind = kind;
	c->subject = xstrdup(subject);
	c->detail = detail != NULL ? xstrdup(detail) : NULL;
}

int
engine_begin(struct engine *e, char **cause)
{
	struct stat sb;
	char *path;
	int fd;

	/* A plan changes nothing, not even the state directory. */
	if (e->mode == ENGINE_PLAN && stat(e->state_dir, &sb) == -1)
		return journal_load(e, cause);
	if (mkdir_p(e->state_dir, 0700, cause) == -1)
		return -1;
	path = xasprintf("%s/lock", e->state_dir);
	fd = lock_take(path, cause);
	free(path);
	if (fd < 0)
		return fd == LOCK_HELD ? -2 : -1;
	e->lock_fd = fd;
	return journal_load(e, cause);
}

/* Emits what a step would change, one progress event a change. */
static void
engine_show_changes(struct engine *e, struct step *s)
{
	struct event ev = {.type = EVENT_STEP_PROGRESS};
	json_t *data;
	char *msg;
	size_t i;

	for (i = 0; i < s->nchanges; i++) {
		data = json_pack("{s:s, s:s, s:s?}", "kind",
		    change_kind_name(s->changes[i].kind), "subject",
		    s->changes[i].subject, "diff", s->changes[i].detail);
		/* Diffs are for plans; an install says what it changes. */
		if (s->changes[i].detail != NULL &&
		    strchr(s->changes[i].detail, '\n') == NULL)
			msg = xasprintf("%s %s: %s",
			    change_kind_name(s->changes[i].kind),
			    s->changes[i].subject, s->changes[i].detail);
		else if (s->changes[i].detail != NULL && e->mode == ENGINE_PLAN)
			msg = xasprintf("%s %s\n%s",
			    change_kind_name(s->changes[i].kind),
			    s->changes[i].subject, s->changes[i].detail);
		else
			msg = xasprintf("%s %s",
			    change_kind_name(s->changes[i].kind),
			    s->changes[i].subject);
		ev.step = s->id;
		ev.current = i + 1;
		ev.total = s->nchanges;
		ev.message = msg;
		ev.data = data;
		event_emit(&ev);
		json_decref(data);
		free(msg);
	}
}

static void
engine_save_journal(struct engine *e)
{
	struct stat sb;
	char *cause = NULL;

	if (e->mode != ENGINE_APPLY)
		return;
	/* uninstall --purge removed the state directory: nothing to keep. */
	if (stat(e->state_dir, &sb) == -1)
		return;
	if (journal_save(e, &cause) == -1) {
		log_warn("%s", cause);
		free(cause);
	}
}

/* Checks, applies and confirms one step. Returns 0 or -1 with *cause. */
static int
engine_step(struct engine *e, struct step *s, char **cause)
{
	int rc;

	step_changes_clear(s);
	s->changed = 0;
	if (s->gate && e->mode == ENGINE_PLAN) {
		event_step_finished(s->id, 0, "checked during install");
		return 0;
	}
	if ((rc = s->ops->check(e, s, cause)) == STEP_ERROR)
		return -1;
	if (rc == STEP_DONE) {
		event_step_finished(
		    s->id, 0, s->gate ? "passed" : "already in place");
		return 0;
	}
	engine_show_changes(e, s);
	if (e->mode == ENGINE_PLAN) {
		s->changed = 1;
		event_step_finished(s->id, 1, "would change");
		return 0;
	}

	journal_step(e, s->id, "running", NULL);
	engine_save_journal(e);
	if (s->ops->apply(e, s, cause) == -1)
		return -1;
	s->changed = 1;

	/* The check is the truth: an apply that did not make it true failed. */
	step_changes_clear(s);
	if ((rc = s->ops->check(e, s, cause)) == STEP_ERROR)
		return -1;
	if (rc != STEP_DONE) {
		*cause = xasprintf("step '%s' applied but its check still "
				   "finds %s '%s' to change",
		    s->id,
		    s->nchanges > 0 ? change_kind_name(s->changes[0].kind)
				    : "something",
		    s->nchanges > 0 ? s->changes[0].subject : "?");
		return -1;
	}
	event_step_finished(s->id, 1, "changed");
	return 0;
}

static void
engine_emit_plan(struct engine *e)
{
	struct event ev = {.type = EVENT_PLAN};
	json_t *steps;
	size_t i;

	steps = json_array();
	for (i = 0; i < e->nsteps; i++)
		json_array_append_new(steps,
		    json_pack("{s:s, s:s}", "id", e->steps[i]->id, "title",
			e->steps[i]->title));
	ev.data = json_pack("{s:o, s:s}", "steps", steps, "mode",
	    e->mode == ENGINE_PLAN ? "plan" : "install");
	event_emit(&ev);
	json_decref(ev.data);
}

static void
engine_summary(struct engine *e, int ok)
{
	struct event ev = {.type = EVENT_SUMMARY};
	char *msg;

	if (ok && e->mode == ENGINE_PLAN)
		msg = xasprintf("plan: %u to change, %u already in place "
				"(nothing was changed)",
		    e->counts.changed, e->counts.unchanged);
	else if (ok)
		msg = xasprintf("%s: %u changed, %u unchanged", e->verb,
		    e->counts.changed, e->counts.unchanged);
	else if (e->mode == ENGINE_PLAN)
		msg = xasprintf("plan failed at step '%s': %s\n"
				"Nothing was changed.",
		    e->failed_step, e->failure);
	else
		msg = xasprintf(
		    "%s failed at step '%s': %s\n"
		    "The log is %s.\n"
		    "Fix the cause and run the same command again: it resumes "
		    "at this step (finished steps are checked, not redone).",
		    e->verb, e->failed_step, e->failure, e->log_path);
	ev.message = msg;
	ev.data = json_pack("{s:b, s:i, s:i, s:i, s:s?, s:s?, s:s}", "ok", ok,
	    "changed", e->counts.changed, "unchanged", e->counts.unchanged,
	    "steps", e->counts.steps, "failed_step", e->failed_step, "reason",
	    e->failure, "log", e->log_path);
	event_emit(&ev);
	json_decref(ev.data);
	free(msg);
}

int
engine_run(struct engine *e)
{
	struct step *s;
	char *cause = NULL;
	size_t i;
	int rc = -1;

	memset(&e->counts, 0, sizeof e->counts);
	e->counts.steps = (unsigned)e->nsteps;
	engine_emit_plan(e);
	if (e->mode == ENGINE_APPLY && e->resume_from != NULL &&
	    engine_find(e, e->resume_from) != NULL)
		log_info("the last run stopped at step '%s'; resuming (every "
			 "step is checked again)",
		    e->resume_from);

	for (i = 0; i < e->nsteps; i++) {
		s = e->steps[i];
		event_step_started(
		    s->id, s->title, (unsigned)i + 1, (unsigned)e->nsteps);
		if (engine_step(e, s, &cause) == -1) {
			if (cause == NULL)
				cause = xstrdup("unknown reason");
			event_step_failed(s->id, cause);
			journal_step(e, s->id, "failed", cause);
			journal_finish(e, 0);
			engine_save_journal(e);
			e->failed_step = xstrdup(s->id);
			e->failure = cause;
			cause = NULL;
			e->counts.failed++;
			goto out;
		}
		if (s->changed) {
			e->counts.changed++;
			if (e->mode == ENGINE_APPLY) {
				log_debug("step '%s' changed", s->id);
				journal_step(e, s->id, "done", "changed");
				engine_save_journal(e);
			}
		} else if (!(s->gate && e->mode == ENGINE_PLAN))
			e->counts.unchanged++;
	}
	if (e->mode == ENGINE_APPLY) {
		journal_finish(e, 1);
		engine_save_journal(e);
	}
	rc = 0;
out:
	engine_summary(e, rc == 0);
	return rc;
}

/* Runs diff -u between the file and data (on stdin); returns the diff. */
static char *
engine_diff(const char *path, const char *data, size_t len)
{
	char *argv[] = {
	    "diff", "-u", "--label", NULL, "--label", NULL, NULL, "-", NULL};
	struct spawn sp;
	char *cause = NULL, *diff = NULL, *lold, *lnew;

	lold = xasprintf("%s (now)", path);
	lnew = xasprintf("%s (planned)", path);
	argv[3] = lold;
	argv[5] = lnew;
	argv[6] = access(path, R_OK) == 0 ? (char *)path : "/dev/null";
	memset(&sp, 0, sizeof sp);
	sp.argv = argv;
	sp.input = data;
	sp.inputlen = len;
	sp.timeout_ms = 10000;
	if (spawn_run(&sp, &cause) == -1) {
		diff = xasprintf("(no diff: %s)", cause);
		free(cause);
	} else if (sp.status == 1)
		diff = xstrdup(sp.out.data != NULL ? sp.out.data : "");
	else if (sp.status != 0)
		diff = xstrdup("(binary or unreadable; no diff)");
	spawn_free(&sp);
	free(lold);
	free(lnew);
	return diff;
}

int
engine_check_file(struct engine *e, struct step *s, const char *path,
    const char *data, size_t len, mode_t mode, uid_t uid, gid_t gid, int secret,
    char **cause)
{
	struct stat sb;
	char *full, *old = NULL, *diff = NULL, *why = NULL;
	size_t oldlen = 0;
	int rc = STEP_ERROR;

	full = engine_path(e, path);
	if (lstat(full, &sb) == -1) {
		if (errno != ENOENT) {
			*cause = xasprintf(
			    "cannot stat '%s': %s", full, strerror(errno));
			goto out;
		}
		diff = secret ? xstrdup("(new file, contents hidden)")
			      : engine_diff(full, data, len);
		step_change(s, CHANGE_FILE, path, diff);
		rc = STEP_TODO;
		goto out;
	}
	if (S_ISREG(sb.st_mode))
		old = file_read(full, len + 1, &oldlen, &why);
	free(why);
	if (old != NULL && oldlen == len && memcmp(old, data, len) == 0) {
		if ((sb.st_mode & 07777) == (mode & 07777) &&
		    (uid == (uid_t)-1 || sb.st_uid == uid) &&
		    (gid == (gid_t)-1 || sb.st_gid == gid)) {
			rc = STEP_DONE;
			goto out;
		}
		diff = xasprintf("(owner or mode: now %o %u:%u, planned "
				 "%o %d:%d)",
		    (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid,
		    (unsigned)sb.st_gid, (unsigned)mode, (int)uid, (int)gid);
	} else if (secret)
		diff = xstrdup("(contents hidden)");
	else
		diff = engine_diff(full, data, len);
	step_change(s, CHANGE_FILE, path, diff);
	rc = STEP_TODO;
out:
	if (old != NULL) {
		explicit_bzero(old, oldlen);
		free(old);
	}
	free(diff);
	free(full);
	return rc;
}

int
engine_write_file(struct engine *e, struct step *s, const char *path,
    const char *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
    char **cause)
{
	struct atomic_opts o;
	char *full;
	int changed = 0, rc = -1;

	full = engine_path(e, path);
	if (mkdir_parent(full, 0755, cause) == -1)
		goto out;
	o.mode = mode;
	o.uid = uid;
	o.gid = gid;
	if (atomic_write(full, data, len, &o, &changed, cause) == -1)
		goto out;
	if (changed) {
		s->changed = 1;
		log_info("wrote %s", full);
	}
	rc = 0;
out:
	free(full);
	return rc;
}
