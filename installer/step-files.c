/*
 * Generic steps: a file rendered from a template, a file that must be
 * gone, a directory with an owner and mode. A rendered file that changes
 * marks its service for a restart in the journal before it is written,
 * so a crash between the write and the restart still ends in a restart.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "fileio.h"
#include "log.h"
#include "spawn.h"
#include "steps.h"
#include "template.h"
#include "xmalloc.h"

struct step_file {
	char *template;
	char *path;
	mode_t mode;
	char *owner;
	char *group;
	char *unit; /* restarted when the file changes, or NULL */
	json_t *extra; /* more variables, or NULL */
};

static void
step_file_free(void *arg)
{
	struct step_file *f = arg;

	free(f->template);
	free(f->path);
	free(f->owner);
	free(f->group);
	free(f->unit);
	json_decref(f->extra);
	free(f);
}

/* Looks up owner and group; a name that does not exist yet is -1. */
static void
step_file_ids(const struct step_file *f, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;
	struct group *gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (f->owner != NULL && (pw = getpwnam(f->owner)) != NULL)
		*uid = pw->pw_uid;
	if (f->group != NULL && (gr = getgrnam(f->group)) != NULL)
		*gid = gr->gr_gid;
}

static int
step_file_render(
    struct engine *e, struct step_file *f, struct buf *out, char **cause)
{
	json_t *vars;
	char *path;
	int rc;

	engine_vars_refresh(e);
	vars = json_copy(e->vars);
	if (f->extra != NULL)
		json_object_update(vars, f->extra);
	path = xasprintf("%s/%s", e->templates, f->template);
	rc = template_render_file(path, vars, out, cause);
	free(path);
	json_decref(vars);
	return rc;
}

static int
step_file_check(struct engine *e, struct step *s, char **cause)
{
	struct step_file *f = s->arg;
	struct buf out = BUF_INIT;
	uid_t uid;
	gid_t gid;
	int rc;

	if (step_file_render(e, f, &out, cause) == -1)
		return STEP_ERROR;
	step_file_ids(f, &uid, &gid);
	rc = engine_check_file(e, s, f->path, out.data != NULL ? out.data : "",
	    out.len, f->mode, uid, gid, 0, cause);
	buf_free(&out);
	return rc;
}

static int
step_file_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_file *f = s->arg;
	struct buf out = BUF_INIT;
	uid_t uid;
	gid_t gid;
	int rc = -1;

	if (step_file_render(e, f, &out, cause) == -1)
		goto out;
	if (f->unit != NULL) {
		journal_set_pending(e, f->unit, 1);
		if (journal_save(e, cause) == -1)
			goto out;
	}
	step_file_ids(f, &uid, &gid);
	if (engine_write_file(e, s, f->path, out.data != NULL ? out.data : "",
		out.len, f->mode, uid, gid, cause) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&out);
	return rc;
}

static const struct step_ops step_file_ops = {
    .check = step_file_check,
    .apply = step_file_apply,
    .free = step_file_free,
};

struct step *
step_add_render(struct engine *e, const char *id, const char *template,
    const char *dest, mode_t mode, const char *owner, const char *group,
    const char *unit, json_t *extra)
{
	struct step_file *f;
	char *title;
	struct step *s;

	f = xcalloc(1, sizeof *f);
	f->template = xstrdup(template);
	f->path = xstrdup(dest);
	f->mode = mode;
	f->owner = owner != NULL ? xstrdup(owner) : NULL;
	f->group = group != NULL ? xstrdup(group) : NULL;
	f->unit = unit != NULL ? xstrdup(unit) : NULL;
	f->extra = extra;
	title = xasprintf("Write %s", dest);
	s = engine_add(e, id, title, &step_file_ops, f);
	free(title);
	return s;
}

/* A path that must not exist (the distribution's default site...). */
static int
step_remove_check(struct engine *e, struct step *s, char **cause)
{
	struct step_file *f = s->arg;
	struct stat sb;
	char *full;
	int rc;

	full = engine_path(e, f->path);
	if (lstat(full, &sb) == 0) {
		step_change(s, CHANGE_FILE, f->path, "(removed)");
		rc = STEP_TODO;
	} else if (errno == ENOENT)
		rc = STEP_DONE;
	else {
		*cause =
		    xasprintf("cannot stat '%s': %s", full, strerror(errno));
		rc = STEP_ERROR;
	}
	free(full);
	return rc;
}

static int
step_remove_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_file *f = s->arg;
	char *full;
	int rc = 0;

	if (f->unit != NULL) {
		journal_set_pending(e, f->unit, 1);
		if (journal_save(e, cause) == -1)
			return -1;
	}
	full = engine_path(e, f->path);
	if (f->mode == 1) {
		char *rm[] = {"rm", "-rf", "--one-file-system", full, NULL};

		rc = step_run(rm, NULL, 0, 600000, NULL, cause);
		if (rc == 0)
			log_info("removed %s", full);
	} else if (unlink(full) == -1 && errno != ENOENT) {
		*cause =
		    xasprintf("cannot remove '%s': %s", full, strerror(errno));
		rc = -1;
	} else
		log_info("removed %s", full);
	free(full);
	return rc;
}

static const struct step_ops step_remove_ops = {
    .check = step_remove_check,
    .apply = step_remove_apply,
    .free = step_file_free,
};

struct step *
step_add_remove(struct engine *e, const char *id, const char *path,
    const char *unit, int tree)
{
	struct step_file *f;
	char *title;
	struct step *s;

	f = xcalloc(1, sizeof *f);
	f->path = xstrdup(path);
	f->unit = unit != NULL ? xstrdup(unit) : NULL;
	f->mode = tree ? 1 : 0;
	title = xasprintf("Remove %s", path);
	s = engine_add(e, id, title, &step_remove_ops, f);
	free(title);
	return s;
}

static int
step_dir_check(struct engine *e, struct step *s, char **cause)
{
	struct step_file *f = s->arg;
	struct stat sb;
	uid_t uid;
	gid_t gid;
	char *full;
	int rc = STEP_DONE;

	(void)cause;
	step_file_ids(f, &uid, &gid);
	full = engine_path(e, f->path);
	if (stat(full, &sb) == -1 || !S_ISDIR(sb.st_mode) ||
	    (sb.st_mode & 07777) != f->mode ||
	    (uid != (uid_t)-1 && sb.st_uid != uid) ||
	    (gid != (gid_t)-1 && sb.st_gid != gid)) {
		step_change(s, CHANGE_DIRECTORY, f->path, NULL);
		rc = STEP_TODO;
	}
	free(full);
	return rc;
}

static int
step_dir_apply(struct engine *e, struct step *s, char **cause)
{
	struct step_file *f = s->arg;
	uid_t uid;
	gid_t gid;
	char *full;
	int rc = -1;

	step_file_ids(f, &uid, &gid);
	full = engine_path(e, f->path);
	if (mkdir_p(full, f->mode, cause) == -1)
		goto out;
	if (chmod(full, f->mode) == -1 ||
	    ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
		chown(full, uid, gid) == -1)) {
		*cause = xasprintf("cannot set owner and mode of '%s': %s",
		    full, strerror(errno));
		goto out;
	}
	log_info("made directory %s", full);
	rc = 0;
out:
	free(full);
	return rc;
}

static const struct step_ops step_dir_ops = {
    .check = step_dir_check,
    .apply = step_dir_apply,
    .free = step_file_free,
};

struct step *
step_add_directory(struct engine *e, const char *id, const char *path,
    mode_t mode, const char *owner, const char *group)
{
	struct step_file *f;
	char *title;
	struct step *s;

	f = xcalloc(1, sizeof *f);
	f->path = xstrdup(path);
	f->mode = mode;
	f->owner = owner != NULL ? xstrdup(owner) : NULL;
	f->group = group != NULL ? xstrdup(group) : NULL;
	title = xasprintf("Create directory %s", path);
	s = engine_add(e, id, title, &step_dir_ops, f);
	free(title);
	return s;
}

int
step_run(char *const argv[], const char *input, size_t inputlen, int timeout_ms,
    struct buf *out, char **cause)
{
	struct spawn sp;
	int rc = -1;

	memset(&sp, 0, sizeof sp);
	sp.argv = argv;
	sp.input = input;
	sp.inputlen = inputlen;
	sp.timeout_ms = timeout_ms;
	if (spawn_run(&sp, cause) == -1)
		goto out;
	if (sp.status != 0 || sp.timed_out) {
		*cause = spawn_describe(&sp);
		goto out;
	}
	if (out != NULL && sp.out.data != NULL)
		buf_add(out, sp.out.data, sp.out.len);
	rc = 0;
out:
	spawn_free(&sp);
	return rc;
}

uid_t
step_uid(const char *name)
{
	struct passwd *pw;

	return (pw = getpwnam(name)) != NULL ? pw->pw_uid : (uid_t)-1;
}

gid_t
step_gid(const char *name)
{
	struct group *gr;

	return (gr = getgrnam(name)) != NULL ? gr->gr_gid : (gid_t)-1;
}

/* A file copied as is (the effective answers). */
static int
step_copy_io(struct engine *e, struct step *s, int apply, char **cause)
{
	struct step_file *f = s->arg;
	char *data;
	size_t len;
	int rc;

	if ((data = file_read(f->template, 1024 * 1024, &len, cause)) == NULL)
		return apply ? -1 : STEP_ERROR;
	if (apply)
		rc = engine_write_file(e, s, f->path, data, len, f->mode,
		    (uid_t)-1, (gid_t)-1, cause);
	else
		rc = engine_check_file(e, s, f->path, data, len, f->mode,
		    (uid_t)-1, (gid_t)-1, 0, cause);
	free(data);
	return rc;
}

static int
step_copy_check(struct engine *e, struct step *s, char **cause)
{
	return step_copy_io(e, s, 0, cause);
}

static int
step_copy_apply(struct engine *e, struct step *s, char **cause)
{
	return step_copy_io(e, s, 1, cause);
}

static const struct step_ops step_copy_ops = {
    .check = step_copy_check,
    .apply = step_copy_apply,
    .free = step_file_free,
};

struct step *
step_add_copy(struct engine *e, const char *id, const char *src,
    const char *dest, mode_t mode)
{
	struct step_file *f;
	char *title;
	struct step *s;

	f = xcalloc(1, sizeof *f);
	f->template = xstrdup(src);
	f->path = xstrdup(dest);
	f->mode = mode;
	title = xasprintf("Keep the answers in %s", dest);
	s = engine_add(e, id, title, &step_copy_ops, f);
	free(title);
	return s;
}
