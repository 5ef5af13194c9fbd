/* cpu.cores, memory.total, disk.free, disk.inodes, swap, limits.nofile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_preflight_fixture.h"

static void
test_preflight_healthy_host_has_no_error_or_warning(void **state)
{
	struct preflight_report *rep;
	size_t i;

	(void)state;
	rep = fx_run(fx_answers(), -1);
	for (i = 0; i < rep->n; i++) {
		if (rep->results[i].status == PREFLIGHT_FAIL ||
		    rep->results[i].status == PREFLIGHT_WARN)
			fail_msg("%s: %s", rep->results[i].check->id,
			    rep->results[i].message);
	}
	assert_int_equal(preflight_report_errors(rep), 0);
	assert_int_equal(rep->n, preflight_check_count());
	preflight_report_free(rep);
}

static void
test_preflight_cpu_cores_pass_warn_fail(void **state)
{
	struct answers *a = fx_answers();
	char *msg;

	(void)state;
	fx_status(0, "0-7");
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "cpu.cores", NULL), PREFLIGHT_PASS);
	fx_status(0, "0-3,6");
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "cpu.cores", &msg), PREFLIGHT_WARN);
	assert_non_null(strstr(msg, "5 CPU cores"));
	free(msg);
	fx_status(0, "0-1");
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "cpu.cores", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "2 CPU cores, fewer than the 4"));
	free(msg);
	/* The same two cores are enough for the small profile. */
	assert_int_equal(
	    fx_check(a, PROFILE_SMALL, "cpu.cores", NULL), PREFLIGHT_PASS);
}

static void
test_preflight_cpu_cores_falls_back_to_sys_online(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	fx_write("/proc/self/status", "Name:\tx\nUid:\t0\t0\t0\t0\n");
	fx_write("/sys/devices/system/cpu/online", "0-2\n");
	rep = fx_run(fx_answers(), PROFILE_PRODUCTION);
	r = preflight_report_find(rep, "cpu.cores");
	assert_string_equal(r->measured, "3");
	assert_int_equal(r->status, PREFLIGHT_FAIL);
	assert_non_null(r->remedy);
	assert_non_null(strstr(r->remedy, "--profile small"));
	preflight_report_free(rep);
}

static void
test_preflight_memory_total_pass_warn_fail(void **state)
{
	struct answers *a = fx_answers();
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	/* A 16 GiB machine shows a little less than 16 GiB: still a pass. */
	fx_meminfo(16 * FX_GIB - 400 * 1024 * 1024, 0);
	assert_int_equal(fx_check(a, PROFILE_PRODUCTION, "memory.total", NULL),
	    PREFLIGHT_PASS);
	fx_meminfo(12 * FX_GIB, 0);
	assert_int_equal(fx_check(a, PROFILE_PRODUCTION, "memory.total", NULL),
	    PREFLIGHT_WARN);
	fx_meminfo(4 * FX_GIB, 0);
	rep = fx_run(a, PROFILE_PRODUCTION);
	r = preflight_report_find(rep, "memory.total");
	assert_int_equal(r->status, PREFLIGHT_FAIL);
	assert_string_equal(r->measured, "4.0 GiB");
	assert_non_null(strstr(r->required, "8.0 GiB or more"));
	assert_int_equal(
	    json_integer_value(json_object_get(r->data, "total_bytes")),
	    4 * FX_GIB);
	preflight_report_free(rep);
	assert_int_equal(
	    fx_check(a, PROFILE_SMALL, "memory.total", NULL), PREFLIGHT_PASS);
	fx_meminfo(1 * FX_GIB, 0);
	assert_int_equal(
	    fx_check(a, PROFILE_SMALL, "memory.total", NULL), PREFLIGHT_FAIL);
}

static void
test_preflight_disk_free_pass_warn_fail(void **state)
{
	struct answers *a = fx_answers();
	char *msg;

	(void)state;
	fx_statvfs("/ 1000000000000 600000000000 60000000 59000000\n");
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "disk.free", NULL), PREFLIGHT_PASS);
	fx_statvfs("/ 1000000000000 200000000000 60000000 59000000\n");
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "disk.free", &msg), PREFLIGHT_WARN);
	assert_non_null(strstr(msg, "200.0 GB free at /"));
	free(msg);
	fx_statvfs("/ 100000000000 40000000000 6000000 5900000\n");
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "disk.free", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "mariadb, redis, rabbitmq"));
	free(msg);
	assert_int_equal(
	    fx_check(a, PROFILE_SMALL, "disk.free", NULL), PREFLIGHT_PASS);
}

static void
test_preflight_disk_free_checks_each_data_filesystem(void **state)
{
	struct answers *a = fx_answers();
	struct preflight_report *rep;
	const struct preflight_result *r;
	json_t *fss;

	(void)state;
	/* MariaDB's data on its own small disk; the rest on a big one. */
	a->mariadb.data_dir = (char *)"/srv/db/mysql";
	fx_statvfs("/ 1000000000000 900000000000 60000000 59000000\n"
		   "/srv/db 100000000000 30000000000 6000000 5900000\n");
	rep = fx_run(a, PROFILE_PRODUCTION);
	r = preflight_report_find(rep, "disk.free");
	assert_int_equal(r->status, PREFLIGHT_FAIL);
	assert_non_null(strstr(r->message, "at /srv/db (mariadb)"));
	fss = json_object_get(r->data, "filesystems");
	assert_int_equal(json_array_size(fss), 2);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(fss, 0), "checked")),
	    "/srv/db");
	preflight_report_free(rep);
}

static void
test_preflight_disk_free_measures_a_missing_path_at_its_parent(void **state)
{
	struct answers *a = fx_answers();
	struct preflight_report *rep;
	const struct preflight_result *r;
	json_t *fs;

	(void)state;
	/* A real directory tree, measured with statvfs. */
	fx_remove("/.fixture/statvfs");
	fx_mkdir("/var/lib");
	rep = fx_run(a, PROFILE_SMALL);
	r = preflight_report_find(rep, "disk.free");
	fs = json_array_get(json_object_get(r->data, "filesystems"), 0);
	assert_non_null(fs);
	assert_string_equal(
	    json_string_value(json_object_get(fs, "checked")), "/var/lib");
	assert_true(json_integer_value(json_object_get(fs, "total_bytes")) > 0);
	preflight_report_free(rep);
}

static void
test_preflight_disk_inodes_pass_warn_fail(void **state)
{
	struct answers *a = fx_answers();

	(void)state;
	fx_statvfs("/ 1000000000000 900000000000 60000000 2000000\n");
	assert_int_equal(fx_check(a, PROFILE_PRODUCTION, "disk.inodes", NULL),
	    PREFLIGHT_PASS);
	fx_statvfs("/ 1000000000000 900000000000 60000000 500000\n");
	assert_int_equal(fx_check(a, PROFILE_PRODUCTION, "disk.inodes", NULL),
	    PREFLIGHT_WARN);
	fx_statvfs("/ 1000000000000 900000000000 60000000 1000\n");
	assert_int_equal(fx_check(a, PROFILE_PRODUCTION, "disk.inodes", NULL),
	    PREFLIGHT_FAIL);
	/* btrfs and the like have no fixed inode count: nothing to run out. */
	fx_statvfs("/ 1000000000000 900000000000 0 0\n");
	assert_int_equal(fx_check(a, PROFILE_PRODUCTION, "disk.inodes", NULL),
	    PREFLIGHT_PASS);
}

static void
test_preflight_swap_pass_info_warn(void **state)
{
	struct answers *a = fx_answers();

	(void)state;
	fx_meminfo(16 * FX_GIB, 2 * FX_GIB);
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "swap", NULL), PREFLIGHT_PASS);
	fx_meminfo(16 * FX_GIB, 0);
	assert_int_equal(
	    fx_check(a, PROFILE_PRODUCTION, "swap", NULL), PREFLIGHT_NOTE);
	fx_meminfo(2 * FX_GIB, 0);
	assert_int_equal(
	    fx_check(a, PROFILE_SMALL, "swap", NULL), PREFLIGHT_WARN);
}

static void
test_preflight_limits_nofile_pass_warn_skip(void **state)
{
	struct answers *a = fx_answers();

	(void)state;
	assert_int_equal(
	    fx_check(a, -1, "limits.nofile", NULL), PREFLIGHT_PASS);
	fx_write("/proc/sys/fs/nr_open", "4096\n");
	assert_int_equal(
	    fx_check(a, -1, "limits.nofile", NULL), PREFLIGHT_WARN);
	fx_remove("/proc/sys/fs/nr_open");
	assert_int_equal(
	    fx_check(a, -1, "limits.nofile", NULL), PREFLIGHT_SKIP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_preflight_healthy_host_has_no_error_or_warning, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_cpu_cores_pass_warn_fail, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_cpu_cores_falls_back_to_sys_online, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_memory_total_pass_warn_fail, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_disk_free_pass_warn_fail, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_disk_free_checks_each_data_filesystem, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_disk_free_measures_a_missing_path_at_its_parent,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_disk_inodes_pass_warn_fail, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_swap_pass_info_warn, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_limits_nofile_pass_warn_skip, fx_setup,
		fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
