/*
 * The install engine. A plan is an ordered list of steps built from the
 * answers and the host's facts; every step has a stable id, a check ("is
 * this already true?"), an apply, and says what it would change. `plan`
 * runs the checks only; `install` applies the steps whose check fails.
 *
 * Checks are the truth: the journal under /var/lib/chatstack only records
 * what the last run did, so that a run after a crash can say where it
 * resumes. One run at a time: the engine holds a lock (lock.h).
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <sys/types.h>

#include <stddef.h>

#include <jansson.h>

struct answers;
struct engine;
struct step;

/* What a step's check returns. */
#define STEP_DONE 1 /* already true: nothing to do */
#define STEP_TODO 0 /* would change something */
#define STEP_ERROR (-1)

enum change_kind {
	CHANGE_FILE,
	CHANGE_PACKAGE,
	CHANGE_USER,
	CHANGE_DIRECTORY,
	CHANGE_SECRET,
	CHANGE_DATABASE,
	CHANGE_UNIT,
	CHANGE_SERVICE,
	CHANGE_OTHER,
};

/* One thing a step would change, found by its check. */
struct change {
	enum change_kind kind;
	char *subject; /* a path, package, user, unit... */
	char *detail; /* a unified diff for files, or NULL */
};

struct step_ops {
	/*
	 * Returns STEP_DONE, STEP_TODO (after recording with step_change
	 * what would change), or STEP_ERROR with *cause set. Changes
	 * nothing on the host.
	 */
	int (*check)(struct engine *, struct step *, char **cause);
	/* Makes the check true. Returns 0, or -1 with *cause set. */
	int (*apply)(struct engine *, struct step *, char **cause);
	/* Frees step->arg, or NULL. */
	void (*free)(void *);
};

struct step {
	char *id; /* stable, e.g. "mariadb.secure", "chatd.start@2" */
	char *title; /* for people: "Start chatd instance 2" */
	const struct step_ops *ops;
	void *arg; /* the step's own data */
	const char *component; /* "mariadb", ..., or NULL */

	struct change *changes; /* filled by check */
	size_t nchanges;
	int changed; /* set by apply when something really changed */
	int gate; /* a probe, not a change: skipped by a plan */
};

enum engine_mode {
	ENGINE_PLAN, /* checks only */
	ENGINE_APPLY,
};

struct engine_counts {
	unsigned steps;
	unsigned changed;
	unsigned unchanged;
	unsigned failed;
};

struct engine {
	char *root; /* "" on a host; a directory in tests */
	enum engine_mode mode;
	const char *verb; /* "install", "uninstall": for the summary */
	const struct answers *answers; /* may be NULL in tests */
	json_t *vars; /* template variables (engine_vars) */
	char *templates; /* folder holding templates/<component>/ */
	char *version; /* the release being installed */
	unsigned long long mem_bytes; /* host facts */
	int ncpu;

	struct step **steps;
	size_t nsteps;

	char *state_dir; /* <root>/var/lib/chatstack */
	char *log_path; /* <root>/var/log/chatstack/install.log */
	int lock_fd;
	json_t *journal; /* journal_load */
	char *resume_from; /* failed step of the last run, or NULL */

	struct engine_counts counts;
	int preflight_errors; /* a plan found preflight errors */
	char *failed_step; /* id of the step that failed, or NULL */
	char *failure; /* its reason */
};

#define ENGINE_STATE_DIR "/var/lib/chatstack"
#define ENGINE_LOG_DIR "/var/log/chatstack"
#define ENGINE_LOG_FILE ENGINE_LOG_DIR "/install.log"

/* Creates an engine; root is "" or NULL for the host. */
struct engine *engine_create(const char *root, enum engine_mode);
void engine_free(struct engine *);

/*
 * Appends a step; id and title are copied. arg is owned by the step
 * (freed with ops->free). Returns the step.
 */
struct step *engine_add(struct engine *, const char *id, const char *title,
    const struct step_ops *, void *arg);
struct step *engine_find(struct engine *, const char *id);

/*
 * Takes the lock and loads the journal (both under state_dir). Returns 0,
 * -1 with *cause set, or -2 when another run holds the lock (*cause says
 * which pid).
 */
int engine_begin(struct engine *, char **cause);
/*
 * Runs the plan: each step's check, then (in ENGINE_APPLY mode) its apply
 * when the check says STEP_TODO, then the check again to confirm. Stops at
 * the first failure. Emits events for every step and a summary. Returns 0
 * or -1 (e->failed_step and e->failure say why).
 */
int engine_run(struct engine *);

/* Returns root + path, allocated. */
char *engine_path(const struct engine *, const char *path);
/* Records one thing a step would change; detail may be NULL. */
void step_change(
    struct step *, enum change_kind, const char *subject, const char *detail);
void step_changes_clear(struct step *);
const char *change_kind_name(enum change_kind);

/*
 * Compares the file at path (under the root) with data. Returns
 * STEP_DONE when it has this content, owner and mode; otherwise records a
 * file change with a unified diff (or "contents hidden" when secret) and
 * returns STEP_TODO. STEP_ERROR with *cause set when it cannot tell.
 */
int engine_check_file(struct engine *, struct step *, const char *path,
    const char *data, size_t len, mode_t mode, uid_t uid, gid_t gid, int secret,
    char **cause);
/* Writes it atomically (creating parents); sets step->changed. */
int engine_write_file(struct engine *, struct step *, const char *path,
    const char *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
    char **cause);

/* Journal (journal.c): finished steps, last failure, pending restarts. */
int journal_load(struct engine *, char **cause);
int journal_save(struct engine *, char **cause);
void journal_step(
    struct engine *, const char *id, const char *state, const char *message);
/* Marks the run finished, ok or failed. */
void journal_finish(struct engine *, int ok);
/* Marks a unit to restart (its configuration changed), or clears it. */
void journal_set_pending(struct engine *, const char *unit, int pending);
int journal_pending(struct engine *, const char *unit);

#endif
