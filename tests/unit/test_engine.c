/*
 * The engine with fake steps under a temporary root: order, idempotence,
 * resume after a failure, the lock, and a plan that changes nothing.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../installer/engine.h"
#include "event.h"
#include "fileio.h"
#include "../../installer/lock.h"
#include "xmalloc.h"

static char root[] = "/tmp/chatstack-test-engine-XXXXXX";

/* What happened, in order: "c:a" check of a, "a:a" apply of a. */
static char trace[4096];
static int fail_apply = -1; /* index of a step whose apply fails */
static int crash_apply = -1; /* index of a step whose apply is killed */
static int events_failed, events_finished_changed;
static char last_summary[1024];

struct fake {
	int index;
};

/* The fake host: a step's fact is a file under the root. */
static int
fact(int index)
{
	char path[512];

	snprintf(path, sizeof path, "%s/fact%d", root, index);
	return access(path, F_OK) == 0;
}

static void
fact_set(int index)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/fact%d", root, index);
	if ((f = fopen(path, "w")) != NULL)
		fclose(f);
}

static void
trace_add(const char *what, int index)
{
	char buf[16];

	snprintf(buf, sizeof buf, "%s%d ", what, index);
	strncat(trace, buf, sizeof trace - strlen(trace) - 1);
}

static int
fake_check(struct engine *e, struct step *s, char **cause)
{
	struct fake *f = s->arg;

	(void)e;
	(void)cause;
	trace_add("c", f->index);
	if (fact(f->index))
		return STEP_DONE;
	step_change(s, CHANGE_OTHER, s->id, NULL);
	return STEP_TODO;
}

static int
fake_apply(struct engine *e, struct step *s, char **cause)
{
	struct fake *f = s->arg;

	(void)e;
	trace_add("a", f->index);
	if (f->index == fail_apply) {
		*cause = xstrdup("the fake disk is full");
		return -1;
	}
	if (f->index == crash_apply)
		raise(SIGKILL);
	fact_set(f->index);
	return 0;
}

static const struct step_ops fake_ops = {
    .check = fake_check, .apply = fake_apply, .free = free};

/* A step that writes a real file under the root. */
static int
file_check(struct engine *e, struct step *s, char **cause)
{
	return engine_check_file(e, s, "/etc/chatstack/demo.conf", "a = 2\n", 6,
	    0644, (uid_t)-1, (gid_t)-1, 0, cause);
}

static int
file_apply(struct engine *e, struct step *s, char **cause)
{
	return engine_write_file(e, s, "/etc/chatstack/demo.conf", "a = 2\n", 6,
	    0644, (uid_t)-1, (gid_t)-1, cause);
}

static const struct step_ops file_ops = {
    .check = file_check, .apply = file_apply};

static void
sink(const struct event *ev, void *arg)
{
	(void)arg;
	if (ev->type == EVENT_STEP_FAILED)
		events_failed++;
	if (ev->type == EVENT_STEP_FINISHED && ev->changed)
		events_finished_changed++;
	if (ev->type == EVENT_SUMMARY && ev->message != NULL)
		snprintf(last_summary, sizeof last_summary, "%s", ev->message);
}

static struct engine *
make_engine(enum engine_mode mode, int nsteps)
{
	struct engine *e;
	struct fake *f;
	char id[32], title[32];
	int i;

	e = engine_create(root, mode);
	for (i = 0; i < nsteps; i++) {
		f = xmalloc(sizeof *f);
		f->index = i;
		snprintf(id, sizeof id, "fake.step%d", i);
		snprintf(title, sizeof title, "Fake step %d", i);
		engine_add(e, id, title, &fake_ops, f);
	}
	return e;
}

static int
setup(void **state)
{
	(void)state;
	strcpy(root + strlen(root) - 6, "XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	trace[0] = '\0';
	last_summary[0] = '\0';
	fail_apply = crash_apply = -1;
	events_failed = events_finished_changed = 0;
	event_clear_sinks();
	event_add_sink(sink, NULL);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	event_clear_sinks();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_engine_runs_steps_in_order_and_applies_what_checks_find(void **state)
{
	struct engine *e;
	char *cause = NULL;

	(void)state;
	fact_set(1);
	e = make_engine(ENGINE_APPLY, 3);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	/* Each applied step is checked again to confirm. */
	assert_string_equal(trace, "c0 a0 c0 c1 c2 a2 c2 ");
	assert_int_equal(e->counts.changed, 2);
	assert_int_equal(e->counts.unchanged, 1);
	assert_non_null(strstr(last_summary, "2 changed"));
	engine_free(e);
}

static void
test_engine_second_run_reports_zero_changed(void **state)
{
	struct engine *e;
	char *cause = NULL;

	(void)state;
	e = make_engine(ENGINE_APPLY, 4);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	engine_free(e);

	trace[0] = '\0';
	events_finished_changed = 0;
	e = make_engine(ENGINE_APPLY, 4);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	assert_string_equal(trace, "c0 c1 c2 c3 ");
	assert_int_equal(e->counts.changed, 0);
	assert_int_equal(events_finished_changed, 0);
	assert_non_null(strstr(last_summary, "0 changed"));
	engine_free(e);
}

static void
test_engine_failure_names_step_reason_log_and_resumes(void **state)
{
	struct engine *e;
	char *cause = NULL;

	(void)state;
	fail_apply = 2;
	e = make_engine(ENGINE_APPLY, 4);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), -1);
	assert_string_equal(e->failed_step, "fake.step2");
	assert_int_equal(events_failed, 1);
	assert_non_null(strstr(last_summary, "fake.step2"));
	assert_non_null(strstr(last_summary, "the fake disk is full"));
	assert_non_null(strstr(last_summary, "/var/log/chatstack/install.log"));
	assert_non_null(strstr(last_summary, "resumes"));
	/* Nothing after the failed step ran. */
	assert_string_equal(trace, "c0 a0 c0 c1 a1 c1 c2 a2 ");
	engine_free(e);

	/* The next run knows where it stopped, and converges. */
	fail_apply = -1;
	trace[0] = '\0';
	e = make_engine(ENGINE_APPLY, 4);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_non_null(e->resume_from);
	assert_string_equal(e->resume_from, "fake.step2");
	assert_int_equal(engine_run(e), 0);
	assert_string_equal(trace, "c0 c1 c2 a2 c2 c3 a3 c3 ");
	assert_int_equal(e->counts.changed, 2);
	engine_free(e);

	e = make_engine(ENGINE_APPLY, 4);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_null(e->resume_from);
	engine_free(e);
}

static void
test_engine_resumes_after_kill_mid_step(void **state)
{
	struct engine *e;
	char *cause = NULL;
	pid_t pid;
	int status;

	(void)state;
	/* A child runs the plan and is killed (-9) inside step 1's apply. */
	crash_apply = 1;
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		event_clear_sinks();
		e = make_engine(ENGINE_APPLY, 3);
		if (engine_begin(e, &cause) != 0)
			_exit(2);
		_exit(engine_run(e) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(fact(0));
	assert_false(fact(1));

	/* The lock died with it; the journal says where it stopped. */
	crash_apply = -1;
	trace[0] = '\0';
	e = make_engine(ENGINE_APPLY, 3);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_non_null(e->resume_from);
	assert_string_equal(e->resume_from, "fake.step1");
	assert_int_equal(engine_run(e), 0);
	assert_string_equal(trace, "c0 c1 a1 c1 c2 a2 c2 ");
	assert_true(fact(0) && fact(1) && fact(2));
	engine_free(e);
}

static void
test_engine_refuses_a_second_run_while_locked(void **state)
{
	struct engine *e1, *e2;
	char *cause = NULL;

	(void)state;
	e1 = make_engine(ENGINE_APPLY, 1);
	assert_int_equal(engine_begin(e1, &cause), 0);
	e2 = make_engine(ENGINE_APPLY, 1);
	assert_int_equal(engine_begin(e2, &cause), -2);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "holds the lock"));
	free(cause);
	cause = NULL;
	engine_free(e2);
	engine_free(e1);

	/* Released with the first engine. */
	e2 = make_engine(ENGINE_APPLY, 1);
	assert_int_equal(engine_begin(e2, &cause), 0);
	engine_free(e2);
}

static void
test_engine_plan_changes_nothing(void **state)
{
	struct engine *e;
	struct stat sb;
	char *cause = NULL, path[512];

	(void)state;
	e = make_engine(ENGINE_PLAN, 3);
	engine_add(e, "demo.config", "Write demo.conf", &file_ops, NULL);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	assert_string_equal(trace, "c0 c1 c2 ");
	assert_int_equal(e->counts.changed, 4);
	assert_false(fact(0) || fact(1) || fact(2));
	/* The plan shows the file as a diff. */
	assert_int_equal(e->steps[3]->nchanges, 1);
	assert_non_null(e->steps[3]->changes[0].detail);
	assert_non_null(strstr(e->steps[3]->changes[0].detail, "+a = 2"));
	assert_non_null(strstr(last_summary, "nothing was changed"));
	engine_free(e);

	/* No file, no journal, not even the state directory. */
	snprintf(path, sizeof path, "%s/etc", root);
	assert_int_equal(stat(path, &sb), -1);
	snprintf(path, sizeof path, "%s/var", root);
	assert_int_equal(stat(path, &sb), -1);
}

static void
test_engine_file_step_is_idempotent(void **state)
{
	struct engine *e;
	struct stat sb1, sb2;
	char *cause = NULL, path[512];

	(void)state;
	e = engine_create(root, ENGINE_APPLY);
	engine_add(e, "demo.config", "Write demo.conf", &file_ops, NULL);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	assert_int_equal(e->counts.changed, 1);
	engine_free(e);
	snprintf(path, sizeof path, "%s/etc/chatstack/demo.conf", root);
	assert_int_equal(stat(path, &sb1), 0);
	assert_int_equal(sb1.st_mode & 07777, 0644);

	e = engine_create(root, ENGINE_APPLY);
	engine_add(e, "demo.config", "Write demo.conf", &file_ops, NULL);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	assert_int_equal(e->counts.changed, 0);
	engine_free(e);
	assert_int_equal(stat(path, &sb2), 0);
	assert_int_equal(sb1.st_ino, sb2.st_ino);
	assert_int_equal(sb1.st_mtim.tv_nsec, sb2.st_mtim.tv_nsec);
}

static void
test_engine_journal_is_written_atomically_and_records_steps(void **state)
{
	struct engine *e;
	json_t *j;
	json_error_t jerr;
	char *cause = NULL, path[512];
	struct stat sb;

	(void)state;
	e = make_engine(ENGINE_APPLY, 2);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_int_equal(engine_run(e), 0);
	engine_free(e);

	snprintf(path, sizeof path, "%s/var/lib/chatstack/journal.json", root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	j = json_load_file(path, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(json_object_get(j, "steps"), "fake.step1"),
		"state")),
	    "done");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(j, "last_run"), "result")),
	    "ok");
	json_decref(j);
}

static void
test_engine_torn_journal_is_only_a_lost_hint(void **state)
{
	struct engine *e;
	char *cause = NULL, path[600], dir[512];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof dir, "%s/var/lib/chatstack", root);
	assert_int_equal(mkdir_p(dir, 0700, &cause), 0);
	snprintf(path, sizeof path, "%s/journal.json", dir);
	f = fopen(path, "w");
	fputs("{\"steps\": {\"fake.st", f);
	fclose(f);
	e = make_engine(ENGINE_APPLY, 2);
	assert_int_equal(engine_begin(e, &cause), 0);
	assert_null(e->resume_from);
	assert_int_equal(engine_run(e), 0);
	assert_int_equal(e->counts.changed, 2);
	engine_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_engine_runs_steps_in_order_and_applies_what_checks_find,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_second_run_reports_zero_changed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_failure_names_step_reason_log_and_resumes, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_resumes_after_kill_mid_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_refuses_a_second_run_while_locked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_plan_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_file_step_is_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_journal_is_written_atomically_and_records_steps,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_torn_journal_is_only_a_lost_hint, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
