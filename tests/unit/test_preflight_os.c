/*
 * privileges, os.distro, os.arch, os.kernel, systemd.pid1, security.mac,
 * tmp.noexec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_preflight_fixture.h"

static void
test_preflight_privileges_root_passes_user_fails(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	assert_int_equal(
	    fx_check(fx_answers(), -1, "privileges", NULL), PREFLIGHT_PASS);
	fx_status(1000, "0-7");
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "privileges");
	assert_int_equal(r->status, PREFLIGHT_FAIL);
	assert_string_equal(r->measured, "uid 1000");
	assert_non_null(strstr(r->remedy, "sudo"));
	preflight_report_free(rep);
}

static void
test_preflight_os_distro_debian12_passes(void **state)
{
	char *msg;

	(void)state;
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.distro", &msg), PREFLIGHT_PASS);
	assert_string_equal(msg, "Debian GNU/Linux 12 (bookworm)");
	free(msg);
}

static void
test_preflight_os_distro_ubuntu_and_debian11_fail(void **state)
{
	char *msg;

	(void)state;
	fx_write("/etc/os-release",
	    "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\n"
	    "VERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.distro", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "'Ubuntu 22.04.4 LTS' is not supported"));
	assert_non_null(strstr(msg, "Debian 12"));
	free(msg);
	fx_write("/etc/os-release",
	    "PRETTY_NAME='Debian GNU/Linux 11 (bullseye)'\nVERSION_ID=11\n"
	    "ID=debian\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.distro", NULL), PREFLIGHT_FAIL);
}

static void
test_preflight_os_distro_reads_usr_lib_when_etc_is_missing(void **state)
{
	(void)state;
	fx_remove("/etc/os-release");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.distro", NULL), PREFLIGHT_FAIL);
	fx_write("/usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.distro", NULL), PREFLIGHT_PASS);
}

static void
test_preflight_os_arch_pass_fail(void **state)
{
	char *msg;

	(void)state;
#if defined(__x86_64__)
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.arch", NULL), PREFLIGHT_PASS);
	fx_write("/proc/sys/kernel/arch", "aarch64\n");
#else
	fx_write("/proc/sys/kernel/arch", "riscv64\n");
#endif
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.arch", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "this machine is"));
	free(msg);
	fx_remove("/proc/sys/kernel/arch");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.arch", NULL), PREFLIGHT_WARN);
}

static void
test_preflight_os_kernel_pass_warn_fail(void **state)
{
	(void)state;
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.kernel", NULL), PREFLIGHT_PASS);
	fx_write("/proc/sys/kernel/osrelease", "4.19.0-27-amd64\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.kernel", NULL), PREFLIGHT_WARN);
	fx_write("/proc/sys/kernel/osrelease", "3.10.0-1160.el7.x86_64\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "os.kernel", NULL), PREFLIGHT_FAIL);
}

static void
test_preflight_systemd_pid1_pass_fail(void **state)
{
	char *msg;

	(void)state;
	assert_int_equal(
	    fx_check(fx_answers(), -1, "systemd.pid1", NULL), PREFLIGHT_PASS);
	fx_write("/proc/1/comm", "tini\n");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "systemd.pid1", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "PID 1 is 'tini', not systemd"));
	free(msg);
	/* systemd as PID 1 but not booted as the system manager. */
	fx_write("/proc/1/comm", "systemd\n");
	fx_remove("/run/systemd/system");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "systemd.pid1", NULL), PREFLIGHT_FAIL);
}

static void
test_preflight_security_mac_pass_info_warn(void **state)
{
	struct answers *a = fx_answers();

	(void)state;
	assert_int_equal(fx_check(a, -1, "security.mac", NULL), PREFLIGHT_PASS);
	fx_write("/sys/module/apparmor/parameters/enabled", "Y\n");
	assert_int_equal(fx_check(a, -1, "security.mac", NULL), PREFLIGHT_NOTE);
	a->mariadb.data_dir = (char *)"/srv/mysql";
	assert_int_equal(fx_check(a, -1, "security.mac", NULL), PREFLIGHT_WARN);
	a->mariadb.data_dir = NULL;
	fx_write("/sys/fs/selinux/enforce", "1\n");
	assert_int_equal(fx_check(a, -1, "security.mac", NULL), PREFLIGHT_WARN);
}

static void
test_preflight_tmp_noexec_pass_warn(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	assert_int_equal(
	    fx_check(fx_answers(), -1, "tmp.noexec", NULL), PREFLIGHT_PASS);
	/* A later /tmp mount (escaped as /proc shows it) hides /. */
	fx_write("/proc/self/mounts",
	    "/dev/vda1 / ext4 rw,relatime 0 0\n"
	    "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,size=1g 0 0\n"
	    "tmpfs /tmp\\040old tmpfs rw 0 0\n");
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "tmp.noexec");
	assert_int_equal(r->status, PREFLIGHT_WARN);
	assert_non_null(strstr(r->remedy, "mount -o remount,exec /tmp"));
	preflight_report_free(rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_preflight_privileges_root_passes_user_fails, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_os_distro_debian12_passes, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_os_distro_ubuntu_and_debian11_fail, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_os_distro_reads_usr_lib_when_etc_is_missing,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_os_arch_pass_fail, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_os_kernel_pass_warn_fail, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_systemd_pid1_pass_fail, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_security_mac_pass_info_warn, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_tmp_noexec_pass_warn, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
