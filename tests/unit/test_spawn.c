#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spawn.h"

static void
test_spawn_captures_output_and_status(void **state)
{
	char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	struct spawn sp = {.argv = argv};
	char *cause = NULL, *desc;

	(void)state;
	assert_int_equal(spawn_run(&sp, &cause), 0);
	assert_int_equal(sp.status, 3);
	assert_string_equal(sp.out.data, "out\n");
	assert_string_equal(sp.err.data, "err\n");
	desc = spawn_describe(&sp);
	assert_string_equal(desc,
	    "'sh -c echo out; echo err >&2; exit 3' "
	    "exited with status 3: err");
	free(desc);
	spawn_free(&sp);
}

static void
test_spawn_passes_secret_on_stdin(void **state)
{
	char *argv[] = {"cat", NULL};
	struct spawn sp = {.argv = argv, .input = "s3cret", .inputlen = 6};
	char *cause = NULL;

	(void)state;
	assert_int_equal(spawn_run(&sp, &cause), 0);
	assert_int_equal(sp.status, 0);
	assert_string_equal(sp.out.data, "s3cret");
	spawn_free(&sp);
}

static void
test_spawn_large_input_and_output(void **state)
{
	char *argv[] = {"cat", NULL};
	struct spawn sp = {.argv = argv};
	char *cause = NULL, *big;
	size_t n = 1 << 20;

	(void)state;
	big = malloc(n);
	memset(big, 'a', n);
	sp.input = big;
	sp.inputlen = n;
	sp.max_output = 2 * n;
	assert_int_equal(spawn_run(&sp, &cause), 0);
	assert_int_equal(sp.out.len, n);
	spawn_free(&sp);
	free(big);
}

static void
test_spawn_timeout_kills(void **state)
{
	char *argv[] = {"sleep", "30", NULL};
	struct spawn sp = {.argv = argv, .timeout_ms = 200};
	char *cause = NULL;

	(void)state;
	assert_int_equal(spawn_run(&sp, &cause), 0);
	assert_true(sp.timed_out);
	assert_true(sp.status > 128);
	spawn_free(&sp);
}

static void
test_spawn_missing_program_is_an_error(void **state)
{
	char *argv[] = {"/nonexistent/program", NULL};
	struct spawn sp = {.argv = argv};
	char *cause = NULL;

	(void)state;
	assert_int_equal(spawn_run(&sp, &cause), -1);
	assert_non_null(strstr(cause, "cannot run '/nonexistent/program'"));
	free(cause);
	spawn_free(&sp);
}

static void
test_spawn_environment_is_minimal(void **state)
{
	char *argv[] = {
	    "sh", "-c", "env | grep -c . ; echo ${HOME:-none}", NULL};
	struct spawn sp = {.argv = argv};
	char *cause = NULL;

	(void)state;
	setenv("CHATSTACK_TEST_LEAK", "x", 1);
	assert_int_equal(spawn_run(&sp, &cause), 0);
	assert_null(strstr(sp.out.data, "CHATSTACK_TEST_LEAK"));
	assert_non_null(strstr(sp.out.data, "none"));
	spawn_free(&sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spawn_captures_output_and_status),
	    cmocka_unit_test(test_spawn_passes_secret_on_stdin),
	    cmocka_unit_test(test_spawn_large_input_and_output),
	    cmocka_unit_test(test_spawn_timeout_kills),
	    cmocka_unit_test(test_spawn_missing_program_is_an_error),
	    cmocka_unit_test(test_spawn_environment_is_minimal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
