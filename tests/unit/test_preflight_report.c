/* Waivers, the JSON document, the table, events, host parsing details. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../preflight/host.h"
#include "event.h"
#include "test_preflight_fixture.h"

static struct answers_waiver fx_waivers[2];

/* A host where systemd.pid1 fails (PID 1 is tini). */
static struct answers *
fx_answers_pid1_broken(void)
{
	fx_write("/proc/1/comm", "tini\n");
	return fx_answers();
}

static void
test_preflight_waiver_turns_error_into_warning_with_reason(void **state)
{
	struct answers *a = fx_answers_pid1_broken();
	struct preflight_report *rep;
	const struct preflight_result *r;
	json_t *doc, *c;
	size_t i;

	(void)state;
	fx_waivers[0].check = (char *)"systemd.pid1";
	fx_waivers[0].reason = (char *)"lab container, units run by hand";
	a->waivers = fx_waivers;
	a->nwaivers = 1;
	rep = fx_run(a, -1);
	r = preflight_report_find(rep, "systemd.pid1");
	assert_int_equal(r->status, PREFLIGHT_WARN);
	assert_int_equal(r->unwaived, PREFLIGHT_FAIL);
	assert_string_equal(r->waiver, "lab container, units run by hand");
	assert_int_equal(preflight_report_errors(rep), 0);
	assert_int_equal(rep->waived, 1);

	doc = preflight_report_json(rep);
	assert_true(json_is_true(json_object_get(doc, "ok")));
	c = NULL;
	for (i = 0; i < json_array_size(json_object_get(doc, "checks")); i++) {
		c = json_array_get(json_object_get(doc, "checks"), i);
		if (strcmp(json_string_value(json_object_get(c, "id")),
			"systemd.pid1") == 0)
			break;
	}
	assert_string_equal(
	    json_string_value(json_object_get(c, "status")), "warning");
	assert_string_equal(
	    json_string_value(json_object_get(c, "status_unwaived")), "error");
	assert_true(json_is_true(json_object_get(c, "waived")));
	assert_string_equal(json_string_value(json_object_get(c, "waiver")),
	    "lab container, units run by hand");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(doc, "counts"), "waived")),
	    1);
	json_decref(doc);
	preflight_report_free(rep);
}

static void
test_preflight_waiver_shows_in_the_table(void **state)
{
	struct answers *a = fx_answers_pid1_broken();
	struct preflight_report *rep;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	fx_waivers[0].check = (char *)"systemd.pid1";
	fx_waivers[0].reason = (char *)"lab container";
	a->waivers = fx_waivers;
	a->nwaivers = 1;
	rep = fx_run(a, -1);
	f = open_memstream(&text, &len);
	preflight_report_print(f, rep, 0);
	fclose(f);
	assert_non_null(strstr(text, "WAIVED   systemd.pid1"));
	assert_non_null(strstr(text,
	    "waived: lab container (an error, shown "
	    "as a warning)"));
	assert_non_null(strstr(text, "0 errors, 1 warning (1 waived)"));
	assert_null(strchr(text, '\033'));
	free(text);
	preflight_report_free(rep);
}

static void
test_preflight_waiver_of_unknown_check_is_refused(void **state)
{
	struct preflight_opts o = PREFLIGHT_OPTS_INIT;
	struct preflight_report *rep = NULL;
	struct answers *a = fx_answers();
	char *cause = NULL;

	(void)state;
	o.root = fx_root;
	o.events = 0;
	fx_waivers[0].check = (char *)"*";
	fx_waivers[0].reason = (char *)"ignore everything";
	a->waivers = fx_waivers;
	a->nwaivers = 1;
	assert_int_equal(preflight_run(a, &o, &rep, &cause), -1);
	assert_null(rep);
	assert_string_equal(
	    cause, "a waiver names '*', which is not a preflight check");
	free(cause);
	cause = NULL;

	fx_waivers[0].check = (char *)"cpu.cores";
	fx_waivers[0].reason = (char *)"";
	assert_int_equal(preflight_run(a, &o, &rep, &cause), -1);
	assert_string_equal(cause, "the waiver of 'cpu.cores' gives no reason");
	free(cause);
}

static void
test_preflight_json_has_every_check_with_its_fields(void **state)
{
	struct preflight_report *rep;
	json_t *doc, *checks, *c;
	size_t i;

	(void)state;
	fx_write("/proc/1/comm", "tini\n");
	rep = fx_run(fx_answers(), PROFILE_SMALL);
	doc = preflight_report_json(rep);
	assert_string_equal(
	    json_string_value(json_object_get(doc, "profile")), "small");
	assert_false(json_is_true(json_object_get(doc, "ok")));
	checks = json_object_get(doc, "checks");
	assert_int_equal(json_array_size(checks), preflight_check_count());
	for (i = 0; i < json_array_size(checks); i++) {
		c = json_array_get(checks, i);
		assert_string_equal(json_string_value(json_object_get(c, "id")),
		    preflight_check_id(i));
		assert_non_null(json_object_get(c, "status"));
		assert_non_null(json_object_get(c, "severity"));
		assert_true(json_is_string(json_object_get(c, "message")));
		assert_true(json_is_object(json_object_get(c, "data")));
	}
	c = json_array_get(checks, 4);
	assert_string_equal(
	    json_string_value(json_object_get(c, "id")), "systemd.pid1");
	assert_string_equal(
	    json_string_value(json_object_get(c, "status")), "error");
	assert_true(json_is_string(json_object_get(c, "remedy")));
	assert_true(json_is_string(json_object_get(c, "measured")));
	assert_true(json_is_string(json_object_get(c, "required")));
	json_decref(doc);
	preflight_report_free(rep);
}

static void
count_checks(const struct event *ev, void *arg)
{
	size_t *n = arg;

	if (ev->type == EVENT_CHECK && ev->data != NULL &&
	    json_object_get(ev->data, "status") != NULL)
		(*n)++;
}

static void
test_preflight_emits_one_check_event_per_check(void **state)
{
	struct preflight_opts o = PREFLIGHT_OPTS_INIT;
	struct preflight_report *rep = NULL;
	char *cause = NULL;
	size_t n = 0;

	(void)state;
	o.root = fx_root;
	o.network = 0;
	event_add_sink(count_checks, &n);
	assert_int_equal(preflight_run(fx_answers(), &o, &rep, &cause), 0);
	event_remove_sink(count_checks, &n);
	assert_int_equal(n, preflight_check_count());
	preflight_report_free(rep);
}

static void
test_preflight_table_is_coloured_only_when_asked(void **state)
{
	struct preflight_report *rep;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	rep = fx_run(fx_answers(), -1);
	f = open_memstream(&text, &len);
	preflight_report_print(f, rep, 1);
	fclose(f);
	assert_non_null(strstr(text, "\033[32mok"));
	assert_non_null(strstr(text, "Nothing stands in the way"));
	free(text);
	preflight_report_free(rep);
}

static void
test_preflight_profile_names_round_trip(void **state)
{
	(void)state;
	assert_int_equal(
	    preflight_profile_parse("production"), PROFILE_PRODUCTION);
	assert_int_equal(preflight_profile_parse("small"), PROFILE_SMALL);
	assert_int_equal(preflight_profile_parse("huge"), -1);
	assert_string_equal(preflight_profile_name(PROFILE_SMALL), "small");
	assert_true(preflight_check_known("ports.free"));
	assert_false(preflight_check_known("ports"));
}

static void
test_preflight_host_parses_cpu_lists(void **state)
{
	(void)state;
	assert_int_equal(host_parse_cpulist("0-7"), 8);
	assert_int_equal(host_parse_cpulist("0,2,4-5\n"), 4);
	assert_int_equal(host_parse_cpulist("3"), 1);
	assert_int_equal(host_parse_cpulist(""), -1);
	assert_int_equal(host_parse_cpulist("5-2"), -1);
	assert_int_equal(host_parse_cpulist("0-x"), -1);
}

static void
test_preflight_host_reads_real_proc_samples(void **state)
{
	struct host_listener *ls;
	struct host_addr *addrs;
	struct host *h;
	char *cause = NULL, text[64];
	size_t n, i;
	int seen_ssh6 = 0;

	(void)state;
	if (access("tests/fixtures/preflight/proc-net/proc/net/tcp", R_OK) ==
	    -1)
		skip();
	h = host_open("tests/fixtures/preflight/proc-net");
	assert_int_equal(host_listeners(h, &ls, &n, &cause), 0);
	/* Listeners only: established connections in the sample are not. */
	assert_int_equal(n, 4);
	assert_string_equal(
	    host_addr_string(ls[0].family, ls[0].addr, text, sizeof text),
	    "127.0.0.1");
	assert_int_equal(ls[0].port, 3306);
	assert_int_equal(ls[0].inode, 31337);
	for (i = 0; i < n; i++) {
		host_addr_string(ls[i].family, ls[i].addr, text, sizeof text);
		if (ls[i].port == 22 && strcmp(text, "::") == 0)
			seen_ssh6 = 1;
	}
	assert_true(seen_ssh6);
	free(ls);
	host_local_addrs(h, &addrs, &n);
	assert_int_equal(n, 4); /* 127.0.0.1, 192.0.2.2, ::1, fd00::2 */
	assert_string_equal(
	    host_addr_string(addrs[1].family, addrs[1].addr, text, sizeof text),
	    "192.0.2.2");
	assert_string_equal(
	    host_addr_string(addrs[3].family, addrs[3].addr, text, sizeof text),
	    "fd00::2");
	free(addrs);
	host_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_preflight_waiver_turns_error_into_warning_with_reason,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_waiver_shows_in_the_table, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_waiver_of_unknown_check_is_refused, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_json_has_every_check_with_its_fields, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_emits_one_check_event_per_check, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_table_is_coloured_only_when_asked, fx_setup,
		fx_teardown),
	    cmocka_unit_test(test_preflight_profile_names_round_trip),
	    cmocka_unit_test(test_preflight_host_parses_cpu_lists),
	    cmocka_unit_test(test_preflight_host_reads_real_proc_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
