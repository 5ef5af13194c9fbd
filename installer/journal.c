/*
 * The journal: /var/lib/chatstack/journal.json, replaced atomically after
 * every step. It is a hint, never the truth: a step is skipped because its
 * check passes, not because the journal says it ran. It records what the
 * last run did (so a run after a failure says where it resumes), and the
 * units whose configuration changed but that have not been restarted yet
 * (so a crash between the two still ends in a restart).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "fileio.h"
#include "xmalloc.h"

#define JOURNAL_MAX (1024 * 1024)

static char *
journal_path(const struct engine *e)
{
	return xasprintf("%s/journal.json", e->state_dir);
}

static void
journal_now(char *buf, size_t len)
{
	struct tm tm;
	time_t t;

	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
journal_load(struct engine *e, char **cause)
{
	json_error_t jerr;
	json_t *j = NULL, *last, *failed;
	char *path, *data, *why = NULL;
	size_t len;

	path = journal_path(e);
	data = file_read(path, JOURNAL_MAX, &len, &why);
	if (data != NULL) {
		j = json_loadb(data, len, 0, &jerr);
		free(data);
	}
	free(why);
	/* A torn or foreign journal is only a lost hint: start afresh. */
	if (j == NULL || !json_is_object(j) ||
	    !json_is_object(json_object_get(j, "steps"))) {
		json_decref(j);
		j = json_pack("{s:i, s:{}, s:[]}", "version", 1, "steps",
		    "pending_restart");
	}
	if (!json_is_array(json_object_get(j, "pending_restart")))
		json_object_set_new(j, "pending_restart", json_array());
	json_decref(e->journal);
	e->journal = j;

	free(e->resume_from);
	e->resume_from = NULL;
	last = json_object_get(j, "last_run");
	failed = json_object_get(last, "failed_step");
	if (json_is_string(failed))
		e->resume_from = xstrdup(json_string_value(failed));
	else if (json_is_string(json_object_get(last, "running")))
		e->resume_from = xstrdup(
		    json_string_value(json_object_get(last, "running")));
	free(path);
	(void)cause;
	return 0;
}

int
journal_save(struct engine *e, char **cause)
{
	struct atomic_opts o = ATOMIC_OPTS(0600);
	char *path, *text;
	int rc;

	if (e->journal == NULL)
		return 0;
	path = journal_path(e);
	text = json_dumps(e->journal, JSON_INDENT(1) | JSON_SORT_KEYS);
	rc = atomic_write(path, text, strlen(text), &o, NULL, cause);
	free(text);
	free(path);
	return rc;
}

void
journal_step(
    struct engine *e, const char *id, const char *state, const char *message)
{
	json_t *steps, *last;
	char stamp[32];

	if (e->journal == NULL)
		return;
	journal_now(stamp, sizeof stamp);
	steps = json_object_get(e->journal, "steps");
	json_object_set_new(steps, id,
	    json_pack("{s:s, s:s, s:s?}", "state", state, "at", stamp,
		"message", message));

	last = json_object_get(e->journal, "last_run");
	if (!json_is_object(last)) {
		last = json_object();
		json_object_set_new(e->journal, "last_run", last);
	}
	json_object_set_new(last, "at", json_string(stamp));
	if (strcmp(state, "running") == 0) {
		json_object_set_new(last, "running", json_string(id));
		json_object_del(last, "failed_step");
		json_object_del(last, "reason");
	} else {
		json_object_del(last, "running");
		if (strcmp(state, "failed") == 0) {
			json_object_set_new(
			    last, "failed_step", json_string(id));
			json_object_set_new(last, "reason",
			    json_string(message ? message : ""));
		}
	}
}

void
journal_finish(struct engine *e, int ok)
{
	json_t *last;
	char stamp[32];

	if (e->journal == NULL)
		return;
	journal_now(stamp, sizeof stamp);
	last = json_object_get(e->journal, "last_run");
	if (!json_is_object(last)) {
		last = json_object();
		json_object_set_new(e->journal, "last_run", last);
	}
	json_object_set_new(last, "at", json_string(stamp));
	json_object_set_new(last, "result", json_string(ok ? "ok" : "failed"));
	json_object_del(last, "running");
	if (ok) {
		json_object_del(last, "failed_step");
		json_object_del(last, "reason");
	}
}

int
journal_pending(struct engine *e, const char *unit)
{
	json_t *a, *v;
	size_t i;

	a = json_object_get(e->journal, "pending_restart");
	json_array_foreach(a, i, v)
	{
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), unit) == 0)
			return 1;
	}
	return 0;
}

void
journal_set_pending(struct engine *e, const char *unit, int pending)
{
	json_t *a, *v;
	size_t i;

	if (e->journal == NULL)
		return;
	a = json_object_get(e->journal, "pending_restart");
	json_array_foreach(a, i, v)
	{
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), unit) == 0) {
			if (!pending)
				json_array_remove(a, i);
			return;
		}
	}
	if (pending)
		json_array_append_new(a, json_string(unit));
}
