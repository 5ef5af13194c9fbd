/* The renewal unit templates through the real renderer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../installer/template.h"

static struct buf
render(const char *name)
{
	struct buf out = BUF_INIT;
	json_t *vars;
	char path[256], *cause = NULL;

	snprintf(path, sizeof path, "templates/certs/%s", name);
	vars = json_pack("{s:{s:s,s:s}}", "paths", "prefix",
	    "/opt/chatstack/current", "etc", "/etc/chatstack");
	if (template_render_file(path, vars, &out, &cause) == -1)
		fail_msg("%s", cause);
	json_decref(vars);
	return out;
}

static void
test_certs_renew_service_renders(void **state)
{
	struct buf out;

	(void)state;
	out = render("chatstack-renew.service");
	assert_int_equal(strncmp(out.data, "[Unit]\n", 7), 0);
	assert_non_null(strstr(out.data,
	    "\nExecStart=/opt/chatstack/current/bin/chatstack --log-file "
	    "/var/log/chatstack/certs.log certs renew --tls-dir "
	    "/etc/chatstack/tls --reload\n"));
	assert_non_null(strstr(out.data,
	    "\nReadWritePaths=/etc/chatstack/tls -/var/log/chatstack\n"));
	assert_null(strchr(out.data, '{'));
	buf_free(&out);
}

static void
test_certs_renew_timer_renders(void **state)
{
	struct buf out;

	(void)state;
	out = render("chatstack-renew.timer");
	assert_int_equal(strncmp(out.data, "[Unit]\n", 7), 0);
	assert_non_null(strstr(out.data, "\nOnCalendar=*-*-* 00,12:00:00\n"));
	assert_non_null(strstr(out.data, "\nRandomizedDelaySec=12h\n"));
	assert_non_null(strstr(out.data, "\nWantedBy=timers.target\n"));
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_certs_renew_service_renders),
	    cmocka_unit_test(test_certs_renew_timer_renders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
