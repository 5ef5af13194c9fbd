#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "xmalloc.h"

#define EVENT_MAX_SINKS 8

static struct {
	event_sink_fn fn;
	void *arg;
} event_sinks[EVENT_MAX_SINKS];
static int event_nsinks;
static int event_depth;

void
event_add_sink(event_sink_fn fn, void *arg)
{
	if (event_nsinks == EVENT_MAX_SINKS)
		abort();
	event_sinks[event_nsinks].fn = fn;
	event_sinks[event_nsinks].arg = arg;
	event_nsinks++;
}

void
event_remove_sink(event_sink_fn fn, void *arg)
{
	int i;

	for (i = 0; i < event_nsinks; i++) {
		if (event_sinks[i].fn != fn || event_sinks[i].arg != arg)
			continue;
		memmove(&event_sinks[i], &event_sinks[i + 1],
		    (size_t)(event_nsinks - i - 1) * sizeof event_sinks[0]);
		event_nsinks--;
		return;
	}
}

void
event_clear_sinks(void)
{
	event_nsinks = 0;
}

void
event_emit(const struct event *ev)
{
	int i;

	/* A sink that logs must not loop back into the stream. */
	if (event_depth > 0)
		return;
	event_depth++;
	for (i = 0; i < event_nsinks; i++)
		event_sinks[i].fn(ev, event_sinks[i].arg);
	event_depth--;
}

const char *
event_type_name(enum event_type type)
{
	switch (type) {
	case EVENT_PLAN:
		return "plan";
	case EVENT_STEP_STARTED:
		return "step.started";
	case EVENT_STEP_PROGRESS:
		return "step.progress";
	case EVENT_STEP_FINISHED:
		return "step.finished";
	case EVENT_STEP_FAILED:
		return "step.failed";
	case EVENT_LOG:
		return "log";
	case EVENT_CHECK:
		return "check";
	case EVENT_SUMMARY:
		return "summary";
	}
	return "unknown";
}

/*
 * A JSON string for text that may not be UTF-8 (a file name, a peer's
 * reply): jansson refuses such text, which would drop the field, so its
 * non-ASCII bytes become '?'.
 */
static json_t *
event_json_text(const char *s)
{
	json_t *j;
	char *copy, *p;

	if ((j = json_string(s)) != NULL)
		return j;
	copy = xstrdup(s);
	for (p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *
event_to_json(const struct event *ev)
{
	struct timeval tv;
	struct tm tm;
	char stamp[40];
	json_t *o;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof stamp - strlen(stamp), ".%03ldZ",
	    (long)(tv.tv_usec / 1000));

	o = json_object();
	json_object_set_new(o, "ts", json_string(stamp));
	json_object_set_new(o, "type", json_string(event_type_name(ev->type)));
	if (ev->step != NULL)
		json_object_set_new(o, "step", event_json_text(ev->step));
	if (ev->title != NULL)
		json_object_set_new(o, "title", event_json_text(ev->title));
	switch (ev->type) {
	case EVENT_LOG:
		json_object_set_new(o, "level",
		    json_string(log_level_name((enum log_level)ev->level)));
		break;
	case EVENT_STEP_FINISHED:
		json_object_set_new(o, "changed", json_boolean(ev->changed));
		break;
	case EVENT_STEP_STARTED:
		json_object_set_new(
		    o, "index", json_integer((json_int_t)ev->current));
		json_object_set_new(
		    o, "total", json_integer((json_int_t)ev->total));
		break;
	case EVENT_STEP_PROGRESS:
		json_object_set_new(
		    o, "current", json_integer((json_int_t)ev->current));
		if (ev->total != 0)
			json_object_set_new(
			    o, "total", json_integer((json_int_t)ev->total));
		break;
	default:
		break;
	}
	if (ev->message != NULL)
		json_object_set_new(o, "message", event_json_text(ev->message));
	if (ev->data != NULL)
		json_object_set(o, "data", ev->data);
	return o;
}

void
event_sink_json(const struct event *ev, void *arg)
{
	FILE *f = arg;
	json_t *o;

	o = event_to_json(ev);
	json_dumpf(o, f, JSON_COMPACT | JSON_ENSURE_ASCII);
	fputc('\n', f);
	fflush(f);
	json_decref(o);
}

void
event_sink_text(const struct event *ev, void *arg)
{
	FILE *f = arg;

	switch (ev->type) {
	case EVENT_STEP_STARTED:
		fprintf(f, "[%llu/%llu] %s\n", ev->current, ev->total,
		    ev->title != NULL ? ev->title : ev->step);
		break;
	case EVENT_STEP_PROGRESS:
		if (ev->message != NULL)
			fprintf(f, "      %s\n", ev->message);
		break;
	case EVENT_STEP_FINISHED:
		fprintf(f, "      %s%s%s\n", ev->changed ? "changed" : "ok",
		    ev->message != NULL ? ": " : "",
		    ev->message != NULL ? ev->message : "");
		break;
	case EVENT_STEP_FAILED:
		fprintf(f, "      FAILED: %s\n",
		    ev->message != NULL ? ev->message : "unknown reason");
		break;
	case EVENT_SUMMARY:
		if (ev->message != NULL)
			fprintf(f, "%s\n", ev->message);
		break;
	case EVENT_PLAN:
	case EVENT_LOG:
	case EVENT_CHECK:
		/* Logs reach the terminal through log.c; the rest are data. */
		break;
	}
	fflush(f);
}

void
event_step_started(
    const char *step, const char *title, unsigned index, unsigned total)
{
	struct event ev = {.type = EVENT_STEP_STARTED};

	ev.step = step;
	ev.title = title;
	ev.current = index;
	ev.total = total;
	event_emit(&ev);
}

void
event_step_progress(const char *step, unsigned long long current,
    unsigned long long total, const char *message)
{
	struct event ev = {.type = EVENT_STEP_PROGRESS};

	ev.step = step;
	ev.current = current;
	ev.total = total;
	ev.message = message;
	event_emit(&ev);
}

void
event_step_finished(const char *step, int changed, const char *message)
{
	struct event ev = {.type = EVENT_STEP_FINISHED};

	ev.step = step;
	ev.changed = changed;
	ev.message = message;
	event_emit(&ev);
}

void
event_step_failed(const char *step, const char *message)
{
	struct event ev = {.type = EVENT_STEP_FAILED};

	ev.step = step;
	ev.message = message;
	event_emit(&ev);
}
