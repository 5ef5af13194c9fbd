/*
 * The event stream. The engine (and preflight, and everything slow) emits
 * events; front ends only render them. A sink is a function called for
 * every event; the text and JSON-lines sinks are built in, the TUI adds
 * its own. docs/events.md describes the JSON form.
 */
#ifndef EVENT_H
#define EVENT_H

#include <stdio.h>

#include <jansson.h>

enum event_type {
	EVENT_PLAN, /* data: {"steps": [{"id", "title"}...]} */
	EVENT_STEP_STARTED, /* step, title, index, total */
	EVENT_STEP_PROGRESS, /* step, current, total, message */
	EVENT_STEP_FINISHED, /* step, changed, message */
	EVENT_STEP_FAILED, /* step, message (the reason) */
	EVENT_LOG, /* level, message */
	EVENT_CHECK, /* data: one preflight check result */
	EVENT_SUMMARY, /* message, data: counts and next steps */
};

struct event {
	enum event_type type;
	const char *step; /* stable step id, or NULL */
	const char *title; /* what the step does, for people */
	const char *message;
	int level; /* enum log_level, for EVENT_LOG */
	int changed; /* EVENT_STEP_FINISHED */
	unsigned long long current; /* progress, or step index */
	unsigned long long total; /* 0 when unknown */
	json_t *data; /* borrowed; may be NULL */
};

typedef void (*event_sink_fn)(const struct event *, void *);

void event_add_sink(event_sink_fn, void *);
void event_remove_sink(event_sink_fn, void *);
void event_clear_sinks(void);
void event_emit(const struct event *);

const char *event_type_name(enum event_type);
/* Returns a new JSON object for the event; the caller decrefs it. */
json_t *event_to_json(const struct event *);

/* Built-in sinks; the argument is the FILE * to write to. */
void event_sink_text(const struct event *, void *);
void event_sink_json(const struct event *, void *);

/* Convenience emitters. */
void event_step_started(const char *, const char *, unsigned, unsigned);
void event_step_progress(
    const char *, unsigned long long, unsigned long long, const char *);
void event_step_finished(const char *, int, const char *);
void event_step_failed(const char *, const char *);

#endif
