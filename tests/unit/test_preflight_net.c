/* time.sync and hostname.resolves against fixture roots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_preflight_fixture.h"

static void
test_preflight_time_sync_pass_when_kernel_is_synchronised(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "time.sync");
	assert_int_equal(r->status, PREFLIGHT_PASS);
	assert_string_equal(r->message, "the clock is synchronised by chronyd");
	assert_string_equal(
	    r->measured, "synchronised, estimated error 1.5 ms");
	preflight_report_free(rep);
}

static void
test_preflight_time_sync_warns_on_large_error_or_no_sync(void **state)
{
	char *msg;

	(void)state;
	fx_write("/.fixture/clock", "synced 1\nesterror_us 5000000\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "time.sync", NULL), PREFLIGHT_WARN);
	fx_write("/.fixture/clock", "synced 0\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "time.sync", &msg), PREFLIGHT_WARN);
	assert_non_null(strstr(msg, "although chronyd runs"));
	free(msg);
	fx_remove("/proc/77/comm");
	fx_remove("/proc/77");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "time.sync", &msg), PREFLIGHT_WARN);
	assert_non_null(strstr(msg, "no time service runs"));
	free(msg);
}

static void
test_preflight_time_sync_fails_for_letsencrypt_without_time_service(
    void **state)
{
	struct answers *a = fx_answers();

	(void)state;
	a->tls.mode = TLS_MODE_LETSENCRYPT;
	fx_write("/.fixture/clock", "synced 0\n");
	fx_remove("/proc/77/comm");
	fx_remove("/proc/77");
	assert_int_equal(fx_check(a, -1, "time.sync", NULL), PREFLIGHT_FAIL);
	/* timesyncd's own flag file counts as synchronised. */
	fx_write("/run/systemd/timesync/synchronized", "");
	assert_int_equal(fx_check(a, -1, "time.sync", NULL), PREFLIGHT_PASS);
}

static void
test_preflight_hostname_resolves_pass_warn_fail_skip(void **state)
{
	struct answers *a = fx_answers();
	struct preflight_report *rep;
	const struct preflight_result *r;
	char *msg;

	(void)state;
	a->tls.mode = TLS_MODE_LETSENCRYPT;
	rep = fx_run(a, -1);
	r = preflight_report_find(rep, "hostname.resolves");
	assert_int_equal(r->status, PREFLIGHT_PASS);
	assert_string_equal(r->message,
	    "'chat.example.com' resolves to 192.0.2.10 (this host)");
	assert_true(json_is_true(json_object_get(r->data, "local")));
	preflight_report_free(rep);

	/* Let's Encrypt and a name pointing elsewhere: a warning. */
	fx_write("/etc/hosts", "203.0.113.5 chat.example.com\n");
	assert_int_equal(
	    fx_check(a, -1, "hostname.resolves", &msg), PREFLIGHT_WARN);
	assert_non_null(strstr(msg, "not an address of this host"));
	free(msg);
	/* The same is fine with a self-signed certificate. */
	a->tls.mode = TLS_MODE_SELFSIGNED;
	assert_int_equal(
	    fx_check(a, -1, "hostname.resolves", NULL), PREFLIGHT_PASS);

	fx_write("/etc/hosts", "127.0.0.1 localhost\n");
	assert_int_equal(
	    fx_check(a, -1, "hostname.resolves", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "'chat.example.com' does not resolve"));
	free(msg);

	a->hostname = NULL;
	assert_int_equal(
	    fx_check(a, -1, "hostname.resolves", NULL), PREFLIGHT_SKIP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_preflight_time_sync_pass_when_kernel_is_synchronised,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_time_sync_warns_on_large_error_or_no_sync,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_time_sync_fails_for_letsencrypt_without_time_service,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_hostname_resolves_pass_warn_fail_skip, fx_setup,
		fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
