/*
 * Preflight: checks this host before anything changes (docs/preflight.md).
 * The install engine calls preflight_run first and refuses to go on while
 * preflight_report_errors() is not 0. Preflight only reads.
 */
#ifndef PREFLIGHT_H
#define PREFLIGHT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

struct answers;

enum preflight_severity {
	PREFLIGHT_INFO,
	PREFLIGHT_WARNING,
	PREFLIGHT_ERROR,
};

enum preflight_status {
	PREFLIGHT_PASS,
	PREFLIGHT_NOTE, /* information worth showing, not a problem */
	PREFLIGHT_WARN,
	PREFLIGHT_FAIL, /* an error: install refuses */
	PREFLIGHT_SKIP, /* could not apply here (said why) */
};

/* Components chatstack installs, for preflight_opts.owned. */
#define PREFLIGHT_OWN_MARIADB 0x01
#define PREFLIGHT_OWN_REDIS 0x02
#define PREFLIGHT_OWN_RABBITMQ 0x04
#define PREFLIGHT_OWN_NGINX 0x08
#define PREFLIGHT_OWN_CHATD 0x10

struct preflight_opts {
	const char *root; /* NULL or "/": this host; else a fixture root */
	int profile; /* enum answers_profile, or -1: the answers' own */
	int network; /* allow DNS look-ups (hostname.resolves) */
	int resolve_timeout_ms; /* 0: 3000 */
	int events; /* emit EVENT_CHECK for every result */
	/*
	 * Components chatstack itself installed here (PREFLIGHT_OWN_*):
	 * their ports and services are not conflicts. Preflight also reads
	 * ROOT/var/lib/chatstack/owned/<component> markers.
	 */
	unsigned owned;
};

#define PREFLIGHT_OPTS_INIT                                                    \
	{                                                                      \
		NULL, -1, 1, 0, 1, 0                                           \
	}

struct preflight_ctx;
struct preflight_result;

/* One entry of the check table (preflight.c). */
struct preflight_check {
	const char *id; /* stable: waivers and scripts name it */
	enum preflight_severity severity; /* the worst it reports */
	const char *title;
	void (*fn)(struct preflight_ctx *, struct preflight_result *);
};

struct preflight_result {
	const struct preflight_check *check;
	enum preflight_status status;
	enum preflight_status unwaived; /* the status before a waiver */
	char *message; /* one sentence about this host */
	char *measured; /* what was found, e.g. "2" or "3.8 GiB" */
	char *required; /* e.g. ">= 4 (8 recommended)" */
	char *remedy; /* what to do, a command where one exists; or NULL */
	char *waiver; /* the waiver's reason when one names this check */
	json_t *data; /* raw figures for scripts (numbers in bytes) */
};

struct preflight_report {
	int profile; /* enum answers_profile */
	char *root;
	struct preflight_result *results;
	size_t n;
	size_t counts[PREFLIGHT_SKIP + 1];
	size_t waived; /* errors turned into warnings by a waiver */
};

/*
 * Runs every check. Returns 0 with *report set (the caller frees it with
 * preflight_report_free), or -1 with *cause set when preflight itself
 * cannot run (a waiver naming an unknown check, an unknown profile).
 * Problems on the host are results, not failures of this call.
 */
int preflight_run(const struct answers *, const struct preflight_opts *,
    struct preflight_report **, char **cause);
void preflight_report_free(struct preflight_report *);
/* The errors that stand (after waivers); install refuses unless 0. */
int preflight_report_errors(const struct preflight_report *);
/* Finds a result by check id, or NULL. */
const struct preflight_result *preflight_report_find(
    const struct preflight_report *, const char *id);

/* The report as one JSON document (docs/preflight.md); caller decrefs. */
json_t *preflight_report_json(const struct preflight_report *);
json_t *preflight_result_json(const struct preflight_result *);
/* The report as a table for people; colour with ANSI codes if color. */
void preflight_report_print(FILE *, const struct preflight_report *, int color);

/* Check table access, for --help and for validating waivers. */
size_t preflight_check_count(void);
const char *preflight_check_id(size_t);
const char *preflight_check_title(size_t);
int preflight_check_known(const char *id);

const char *preflight_status_name(enum preflight_status);
const char *preflight_severity_name(enum preflight_severity);
/* "production" or "small" to enum answers_profile; -1 when unknown. */
int preflight_profile_parse(const char *);
const char *preflight_profile_name(int);

#endif
