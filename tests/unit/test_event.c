#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "event.h"
#include "log.h"

static char *mem;
static size_t memlen;
static FILE *memf;

static int
setup(void **state)
{
	(void)state;
	log_init("test");
	log_set_quiet(1);
	if ((memf = open_memstream(&mem, &memlen)) == NULL)
		return -1;
	event_clear_sinks();
	event_add_sink(event_sink_json, memf);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	event_clear_sinks();
	fclose(memf);
	free(mem);
	return 0;
}

/* Returns the events written since the last call, one JSON object each. */
static json_t *
take_events(void)
{
	json_t *list, *o;
	json_error_t err;
	char *line, *nl;

	event_remove_sink(event_sink_json, memf);
	fclose(memf);
	list = json_array();
	for (line = mem; line != NULL && *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		o = json_loads(line, 0, &err);
		if (o == NULL)
			fail_msg("not JSON: '%s': %s", line, err.text);
		assert_true(json_is_object(o));
		json_array_append_new(list, o);
	}
	free(mem);
	mem = NULL;
	assert_non_null(memf = open_memstream(&mem, &memlen));
	event_add_sink(event_sink_json, memf);
	return list;
}

static const char *
field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		fail_msg("no '%s' in event", key);
	return json_string_value(v);
}

static json_int_t
number(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void
test_event_json_one_object_a_line_with_timestamp(void **state)
{
	json_t *l, *o;
	const char *ts;

	(void)state;
	event_step_started("mariadb.install", "Install MariaDB", 3, 12);
	event_step_finished("mariadb.install", 0, NULL);
	l = take_events();
	assert_int_equal(json_array_size(l), 2);
	o = json_array_get(l, 0);
	ts = field(o, "ts");
	/* 2026-01-02T03:04:05.678Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	json_decref(l);
}

static void
test_event_json_step_fields(void **state)
{
	json_t *l, *o;

	(void)state;
	event_step_started(
	    "redis.config", "Render the Redis configuration", 2, 9);
	event_step_progress("redis.config", 512, 2048, "copied 512 of 2048");
	event_step_progress("redis.config", 7, 0, NULL);
	event_step_finished("redis.config", 1, "rendered /etc/redis.conf");
	event_step_failed("redis.start", "redis did not answer PING in 30 s");
	l = take_events();
	assert_int_equal(json_array_size(l), 5);

	o = json_array_get(l, 0);
	assert_string_equal(field(o, "type"), "step.started");
	assert_string_equal(field(o, "step"), "redis.config");
	assert_string_equal(
	    field(o, "title"), "Render the Redis configuration");
	assert_int_equal(number(o, "index"), 2);
	assert_int_equal(number(o, "total"), 9);

	o = json_array_get(l, 1);
	assert_string_equal(field(o, "type"), "step.progress");
	assert_int_equal(number(o, "current"), 512);
	assert_int_equal(number(o, "total"), 2048);
	assert_string_equal(field(o, "message"), "copied 512 of 2048");

	o = json_array_get(l, 2);
	assert_int_equal(number(o, "current"), 7);
	assert_null(json_object_get(o, "total"));
	assert_null(json_object_get(o, "message"));

	o = json_array_get(l, 3);
	assert_string_equal(field(o, "type"), "step.finished");
	assert_true(json_is_true(json_object_get(o, "changed")));
	assert_string_equal(field(o, "message"), "rendered /etc/redis.conf");

	o = json_array_get(l, 4);
	assert_string_equal(field(o, "type"), "step.failed");
	assert_string_equal(field(o, "step"), "redis.start");
	assert_string_equal(
	    field(o, "message"), "redis did not answer PING in 30 s");
	json_decref(l);
}

static void
test_event_json_log_check_plan_summary(void **state)
{
	struct event ev;
	json_t *l, *o, *data;

	(void)state;
	log_warn("disk %s is %d%% full", "/var", 91);
	log_debug("below the level: not an event");

	data = json_pack("{s:[{s:s, s:s}]}", "steps", "id", "nginx.install",
	    "title", "Install nginx");
	memset(&ev, 0, sizeof ev);
	ev.type = EVENT_PLAN;
	ev.data = data;
	event_emit(&ev);
	json_decref(data);

	data = json_pack("{s:s, s:s}", "id", "cpu.cores", "status", "warn");
	memset(&ev, 0, sizeof ev);
	ev.type = EVENT_CHECK;
	ev.data = data;
	event_emit(&ev);
	json_decref(data);

	data = json_pack("{s:i, s:i}", "changed", 0, "ok", 14);
	memset(&ev, 0, sizeof ev);
	ev.type = EVENT_SUMMARY;
	ev.message = "0 changed, 14 ok";
	ev.data = data;
	event_emit(&ev);
	json_decref(data);

	l = take_events();
	assert_int_equal(json_array_size(l), 4);
	o = json_array_get(l, 0);
	assert_string_equal(field(o, "type"), "log");
	assert_string_equal(field(o, "level"), "warning");
	assert_string_equal(field(o, "message"), "disk /var is 91% full");

	o = json_array_get(l, 1);
	assert_string_equal(field(o, "type"), "plan");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(
		    json_object_get(json_object_get(o, "data"), "steps"), 0),
		"id")),
	    "nginx.install");

	o = json_array_get(l, 2);
	assert_string_equal(field(o, "type"), "check");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(o, "data"), "id")),
	    "cpu.cores");

	o = json_array_get(l, 3);
	assert_string_equal(field(o, "type"), "summary");
	assert_string_equal(field(o, "message"), "0 changed, 14 ok");
	assert_int_equal(number(json_object_get(o, "data"), "ok"), 14);
	json_decref(l);
}

static void
test_event_json_escapes_hostile_text(void **state)
{
	json_t *l, *o;

	(void)state;
	event_step_failed("x", "line one\nline two \"quoted\" \x01");
	event_step_failed("x", "caf\xc3\xa9 and a bad byte \xff here");
	fflush(memf);
	/* One line an event: the newline inside stays escaped. */
	assert_int_equal(
	    strchr(mem, '\n') - mem + 1, (long)(strchr(mem, '}') - mem + 2));
	l = take_events();
	assert_int_equal(json_array_size(l), 2);
	o = json_array_get(l, 0);
	assert_string_equal(
	    field(o, "message"), "line one\nline two \"quoted\" \x01");
	/* Not UTF-8: kept, with the non-ASCII bytes replaced. */
	o = json_array_get(l, 1);
	assert_string_equal(field(o, "message"), "caf?? and a bad byte ? here");
	json_decref(l);
}

static void
test_event_type_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(event_type_name(EVENT_PLAN), "plan");
	assert_string_equal(
	    event_type_name(EVENT_STEP_STARTED), "step.started");
	assert_string_equal(
	    event_type_name(EVENT_STEP_PROGRESS), "step.progress");
	assert_string_equal(
	    event_type_name(EVENT_STEP_FINISHED), "step.finished");
	assert_string_equal(event_type_name(EVENT_STEP_FAILED), "step.failed");
	assert_string_equal(event_type_name(EVENT_LOG), "log");
	assert_string_equal(event_type_name(EVENT_CHECK), "check");
	assert_string_equal(event_type_name(EVENT_SUMMARY), "summary");
}

static void
test_event_text_sink_for_people(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(f = open_memstream(&buf, &len));
	event_add_sink(event_sink_text, f);
	event_step_started("nginx.config", "Render the nginx site", 4, 10);
	event_step_finished("nginx.config", 1, NULL);
	event_step_started("nginx.start", NULL, 5, 10);
	event_step_failed("nginx.start", "port 443 is in use by apache2");
	event_remove_sink(event_sink_text, f);
	fclose(f);
	assert_string_equal(buf,
	    "[4/10] Render the nginx site\n"
	    "      changed\n"
	    "[5/10] nginx.start\n"
	    "      FAILED: port 443 is in use by apache2\n");
	free(buf);
	json_decref(take_events());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_json_one_object_a_line_with_timestamp),
	    cmocka_unit_test(test_event_json_step_fields),
	    cmocka_unit_test(test_event_json_log_check_plan_summary),
	    cmocka_unit_test(test_event_json_escapes_hostile_text),
	    cmocka_unit_test(test_event_type_names_are_stable),
	    cmocka_unit_test(test_event_text_sink_for_people),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
