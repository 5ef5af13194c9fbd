/* chatd's key = value configuration file. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../chat/server/config.h"

static void
test_chatd_config_defaults_are_private_and_sane(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.listen_address, "127.0.0.1");
	assert_int_equal(c.listen_port, 8081);
	assert_int_equal(c.trust_forwarded, 0);
	assert_null(c.db_password_file);
	config_free(&c);
}

static void
test_chatd_config_parses_keys_comments_and_spaces(void **state)
{
	struct config c;
	char *cause = NULL;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse(&c, "t.conf",
			     "# comment\n\n  listen_port = 9000 \n"
			     "instance_id=2\r\ntrust_forwarded = yes\n"
			     "db_password_file = /etc/x y\n",
			     &cause),
	    0);
	assert_int_equal(c.listen_port, 9000);
	assert_string_equal(c.instance_id, "2");
	assert_int_equal(c.trust_forwarded, 1);
	assert_string_equal(c.db_password_file, "/etc/x y");
	config_free(&c);
}

static void
test_chatd_config_errors_name_file_and_line(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"a = 1\n", "t.conf:1: unknown key 'a'"},
	    {"\nlisten_port = 0\n",
		"t.conf:2: 'listen_port' must be an "
		"integer from 1 to 65535"},
	    {"listen_port = 8x\n", "t.conf:1: 'listen_port' must be"},
	    {"trust_forwarded = maybe\n",
		"t.conf:1: 'trust_forwarded' "
		"must be yes or no"},
	    {"just words\n", "t.conf:1: expected 'key = value'"},
	    {"instance_id =\n", "t.conf:1: 'instance_id' is empty"},
	};
	struct config c;
	char *cause;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		config_defaults(&c);
		cause = NULL;
		assert_int_equal(
		    config_parse(&c, "t.conf", cases[i].text, &cause), -1);
		assert_non_null(strstr(cause, cases[i].want));
		free(cause);
		config_free(&c);
	}
}

static void
test_chatd_config_send_batch_is_bounded_by_the_batch_ceiling(void **state)
{
	struct config c;
	char *cause = NULL;

	(void)state;
	config_defaults(&c);
	assert_true(c.send_batch_max >= 1 && c.send_batch_max <= 64);
	assert_true(c.send_batch_workers >= 1);
	assert_int_equal(
	    config_parse(&c, "t.conf",
		"send_batch_max = 1\nsend_batch_workers = 3\n", &cause),
	    0);
	assert_int_equal(c.send_batch_max, 1);
	assert_int_equal(c.send_batch_workers, 3);
	assert_int_equal(
	    config_parse(&c, "t.conf", "send_batch_max = 65\n", &cause), -1);
	assert_non_null(strstr(cause, "from 1 to 64"));
	free(cause);
	config_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chatd_config_defaults_are_private_and_sane),
	    cmocka_unit_test(test_chatd_config_parses_keys_comments_and_spaces),
	    cmocka_unit_test(test_chatd_config_errors_name_file_and_line),
	    cmocka_unit_test(
		test_chatd_config_send_batch_is_bounded_by_the_batch_ceiling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
