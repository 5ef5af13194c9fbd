/* ports.free and existing.services against fixture /proc trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_preflight_fixture.h"

/* Kernel notation: addresses as 32-bit words in little-endian order. */
#define LO4 "0100007F"
#define ANY4 "00000000"
#define OTHER4 "0A0200C0" /* 192.0.2.10 */
#define ANY6 "00000000000000000000000000000000"
#define MAPPED_LO6 "0000000000000000FFFF00000100007F"

static void
fx_listen4(const char *addr, int port, int inode)
{
	char text[512];

	snprintf(text, sizeof text,
	    FX_TCP_HEADER
	    "   0: %s:%04X 00000000:0000 0A 00000000:00000000 00:00000000 "
	    "00000000     0        0 %d 1 0 100 0 0 10 0\n"
	    "   1: " LO4 ":0CEA " LO4 ":A000 01 00000000:00000000 "
	    "00:00000000 00000000     0        0 %d 1 0 100 0 0 10 0\n",
	    addr, port, inode, inode + 1);
	fx_write("/proc/net/tcp", text);
}

static void
fx_listen6(const char *addr, int port, int inode)
{
	char text[512];

	snprintf(text, sizeof text,
	    FX_TCP6_HEADER
	    "   0: %s:%04X 00000000000000000000000000000000:0000 0A "
	    "00000000:00000000 00:00000000 00000000     0        0 %d 1 0 "
	    "100 0 0 10 0\n",
	    addr, port, inode);
	fx_write("/proc/net/tcp6", text);
}

/* A process pid named comm holding socket inode on fd 7. */
static void
fx_process(int pid, const char *comm, int inode)
{
	char path[64], text[64];

	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	snprintf(text, sizeof text, "%s\n", comm);
	fx_write(path, text);
	if (inode == 0)
		return;
	snprintf(path, sizeof path, "/proc/%d/fd/0", pid);
	fx_symlink(path, "/dev/null");
	snprintf(path, sizeof path, "/proc/%d/fd/7", pid);
	snprintf(text, sizeof text, "socket:[%d]", inode);
	fx_symlink(path, text);
}

static void
test_preflight_ports_free_when_nothing_listens_there(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "ports.free");
	assert_int_equal(r->status, PREFLIGHT_PASS);
	/* 3306 6379 5672 25672 4369 8081 8082 80 443 */
	assert_int_equal(json_array_size(json_object_get(r->data, "ports")), 9);
	assert_non_null(strstr(r->required, "8081, 8082 on 127.0.0.1"));
	assert_non_null(strstr(r->required, "80, 443 on every address"));
	preflight_report_free(rep);
}

static void
test_preflight_ports_free_names_the_process_holding_a_port(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;
	json_t *p;

	(void)state;
	fx_listen4(ANY4, 443, 4242);
	fx_process(811, "bash", 0);
	fx_process(812, "nginx", 4242);
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "ports.free");
	assert_int_equal(r->status, PREFLIGHT_FAIL);
	assert_string_equal(r->message, "443/tcp is held by nginx (pid 812)");
	assert_non_null(strstr(r->remedy, "components.nginx.https_port"));
	p = json_array_get(json_object_get(r->data, "ports"), 8);
	assert_int_equal(json_integer_value(json_object_get(p, "port")), 443);
	assert_false(json_is_true(json_object_get(p, "free")));
	assert_int_equal(json_integer_value(json_object_get(p, "pid")), 812);
	assert_string_equal(
	    json_string_value(json_object_get(p, "process")), "nginx");
	/* A foreign nginx running is an existing.services error too. */
	assert_int_equal(preflight_report_errors(rep), 2);
	preflight_report_free(rep);
}

static void
test_preflight_ports_free_names_every_holder_in_one_report(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;

	(void)state;
	fx_write("/proc/net/tcp",
	    FX_TCP_HEADER
	    "   0: " LO4 ":0CEA 00000000:0000 0A 00000000:00000000 "
	    "00:00000000 00000000     0        0 501 1 0 100 0 0 10 0\n"
	    "   1: " ANY4 ":0050 00000000:0000 0A 00000000:00000000 "
	    "00:00000000 00000000     0        0 502 1 0 100 0 0 10 0\n"
	    "   2: " LO4 ":1F91 00000000:0000 0A 00000000:00000000 "
	    "00:00000000 00000000     0        0 503 1 0 100 0 0 10 0\n");
	fx_process(300, "mysqld", 501);
	fx_process(400, "apache2", 502);
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "ports.free");
	assert_int_equal(r->status, PREFLIGHT_FAIL);
	assert_string_equal(r->message,
	    "3306/tcp is held by mysqld (pid 300); 8081/tcp is held by a "
	    "process this user cannot see; 80/tcp is held by apache2 (pid "
	    "400)");
	assert_string_equal(r->measured,
	    "3 held: 3306 by mysqld, 8081 by ?, "
	    "80 by apache2");
	assert_non_null(strstr(r->remedy, "stop mysqld (pid 300"));
	preflight_report_free(rep);
}

static void
test_preflight_ports_free_gives_a_cut_process_name_in_full(void **state)
{
	char *msg;

	(void)state;
	/* comm stops at 15 characters; cmdline has the whole name. */
	fx_listen4(LO4, 3306, 4242);
	fx_process(812, "systemd-socket-", 4242);
	fx_write("/proc/812/cmdline", "/usr/bin/systemd-socket-activate");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", &msg), PREFLIGHT_FAIL);
	assert_string_equal(
	    msg, "3306/tcp is held by systemd-socket-activate (pid 812)");
	free(msg);
}

static void
test_preflight_ports_free_cleans_a_hostile_process_name(void **state)
{
	struct preflight_report *rep;
	const struct preflight_result *r;
	json_t *doc, *p;

	(void)state;
	/* A process may name itself with escape codes and broken UTF-8. */
	fx_listen4(LO4, 3306, 4242);
	fx_process(812, "\033[2Jevil\xff\xfe", 4242);
	rep = fx_run(fx_answers(), -1);
	r = preflight_report_find(rep, "ports.free");
	assert_string_equal(
	    r->message, "3306/tcp is held by ?[2Jevil?? (pid 812)");
	doc = preflight_report_json(rep);
	p = json_array_get(json_object_get(r->data, "ports"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(p, "process")), "?[2Jevil??");
	json_decref(doc);
	preflight_report_free(rep);
}

static void
test_preflight_ports_free_ignores_other_addresses(void **state)
{
	(void)state;
	/* MariaDB binds 127.0.0.1; something on 192.0.2.10:3306 is fine. */
	fx_listen4(OTHER4, 3306, 4242);
	fx_process(812, "socat", 4242);
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", NULL), PREFLIGHT_PASS);
	/* nginx binds every address, so 192.0.2.10:80 collides. */
	fx_listen4(OTHER4, 80, 4242);
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", NULL), PREFLIGHT_FAIL);
}

static void
test_preflight_ports_free_sees_ipv6_and_mapped_listeners(void **state)
{
	char *msg;

	(void)state;
	fx_listen6(ANY6, 6379, 5151);
	fx_process(900, "redis-server", 5151);
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", &msg), PREFLIGHT_FAIL);
	assert_string_equal(msg, "6379/tcp is held by redis-server (pid 900)");
	free(msg);
	fx_listen6(MAPPED_LO6, 5672, 5151);
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "5672/tcp"));
	free(msg);
}

static void
test_preflight_ports_free_accepts_chatstacks_own_services(void **state)
{
	char *msg;

	(void)state;
	fx_listen4(ANY4, 443, 4242);
	fx_process(812, "nginx", 4242);
	fx_write("/var/lib/chatstack/owned/nginx", "");
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", &msg), PREFLIGHT_PASS);
	assert_string_equal(msg,
	    "every port is free or held by the service "
	    "chatstack installed for it (1)");
	free(msg);
	/* Owned, but the holder is not nginx: still a conflict. */
	fx_process(812, "python3", 4242);
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", NULL), PREFLIGHT_FAIL);
}

static void
test_preflight_ports_free_says_when_the_holder_is_hidden(void **state)
{
	char *msg;

	(void)state;
	fx_listen4(LO4, 8082, 4242);
	assert_int_equal(
	    fx_check(fx_answers(), -1, "ports.free", &msg), PREFLIGHT_FAIL);
	assert_string_equal(
	    msg, "8082/tcp is held by a process this user cannot see");
	free(msg);
}

static void
test_preflight_ports_free_needs_a_local_bind_address(void **state)
{
	struct answers *a = fx_answers();
	char *msg;

	(void)state;
	a->bind_address = (char *)"10.9.9.9";
	assert_int_equal(fx_check(a, -1, "ports.free", &msg), PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "10.9.9.9 is not an address of this host"));
	free(msg);
	a->bind_address = (char *)"192.0.2.10";
	assert_int_equal(fx_check(a, -1, "ports.free", NULL), PREFLIGHT_PASS);
	a->bind_address = (char *)"::1";
	assert_int_equal(fx_check(a, -1, "ports.free", NULL), PREFLIGHT_PASS);
}

static void
test_preflight_existing_services_pass_warn_fail(void **state)
{
	char *msg;

	(void)state;
	/* nginx-common, and redis-server's left-over config: not a service. */
	assert_int_equal(fx_check(fx_answers(), -1, "existing.services", NULL),
	    PREFLIGHT_PASS);
	fx_write("/var/lib/dpkg/status",
	    "Package: mariadb-server\nStatus: install ok installed\n\n"
	    "Package: bash\nStatus: install ok installed\n");
	assert_int_equal(fx_check(fx_answers(), -1, "existing.services", &msg),
	    PREFLIGHT_WARN);
	assert_non_null(strstr(msg,
	    "MariaDB/MySQL is installed (package "
	    "mariadb-server)"));
	free(msg);
	fx_process(900, "mariadbd", 0);
	assert_int_equal(fx_check(fx_answers(), -1, "existing.services", &msg),
	    PREFLIGHT_FAIL);
	assert_non_null(strstr(msg, "MariaDB/MySQL runs (mariadbd, pid 900)"));
	free(msg);
	fx_write("/var/lib/chatstack/owned/mariadb", "");
	assert_int_equal(fx_check(fx_answers(), -1, "existing.services", NULL),
	    PREFLIGHT_PASS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_when_nothing_listens_there, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_names_the_process_holding_a_port,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_names_every_holder_in_one_report,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_gives_a_cut_process_name_in_full,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_cleans_a_hostile_process_name,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_ignores_other_addresses, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_sees_ipv6_and_mapped_listeners,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_accepts_chatstacks_own_services,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_says_when_the_holder_is_hidden,
		fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_ports_free_needs_a_local_bind_address, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_preflight_existing_services_pass_warn_fail, fx_setup,
		fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
