#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "fileio.h"

static char dir[] = "/tmp/chatstack-test-fileio-XXXXXX";

static int
setup(void **state)
{
	(void)state;
	return tmpdir_make(dir);
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static char *
path_in_dir(const char *name)
{
	return tmpdir_path(dir, name);
}

static void
test_atomic_write_creates_file_with_mode(void **state)
{
	struct atomic_opts o = ATOMIC_OPTS(0600);
	char *cause = NULL, *data;
	struct stat sb;
	int changed;

	(void)state;
	assert_int_equal(
	    atomic_write(path_in_dir("a"), "hello\n", 6, &o, &changed, &cause),
	    0);
	assert_int_equal(changed, 1);
	assert_int_equal(stat(path_in_dir("a"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	data = file_read(path_in_dir("a"), 0, NULL, &cause);
	assert_non_null(data);
	assert_string_equal(data, "hello\n");
	free(data);
}

static void
test_atomic_write_unchanged_file_is_not_rewritten(void **state)
{
	struct atomic_opts o = ATOMIC_OPTS(0644);
	struct stat before, after;
	char *cause = NULL;
	int changed;

	(void)state;
	assert_int_equal(
	    atomic_write(path_in_dir("b"), "x", 1, &o, &changed, &cause), 0);
	assert_int_equal(stat(path_in_dir("b"), &before), 0);
	assert_int_equal(
	    atomic_write(path_in_dir("b"), "x", 1, &o, &changed, &cause), 0);
	assert_int_equal(changed, 0);
	assert_int_equal(stat(path_in_dir("b"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);

	/* A different mode alone is a change. */
	o.mode = 0600;
	assert_int_equal(
	    atomic_write(path_in_dir("b"), "x", 1, &o, &changed, &cause), 0);
	assert_int_equal(changed, 1);
}

static void
test_atomic_write_failure_keeps_old_file(void **state)
{
	struct atomic_opts o = ATOMIC_OPTS(0644);
	char *cause = NULL, *data, *sub;
	int changed;

	(void)state;
	assert_int_equal(
	    atomic_write(path_in_dir("c"), "old", 3, &o, &changed, &cause), 0);
	/* A directory that cannot be written: the new file cannot be made. */
	if (geteuid() == 0) {
		/* root ignores modes; replace with a directory in the way. */
		sub = path_in_dir("c.d");
		assert_int_equal(mkdir(sub, 0755), 0);
		assert_int_equal(
		    atomic_write(sub, "new", 3, &o, &changed, &cause), -1);
		assert_non_null(cause);
		free(cause);
		cause = NULL;
		/* Writing into a missing directory fails the same way. */
		assert_int_equal(atomic_write(path_in_dir("nodir/c"), "new", 3,
				     &o, &changed, &cause),
		    -1);
		assert_non_null(strstr(cause, "temporary file"));
		free(cause);
	} else {
		assert_int_equal(chmod(dir, 0500), 0);
		assert_int_equal(atomic_write(path_in_dir("c"), "new", 3, &o,
				     &changed, &cause),
		    -1);
		free(cause);
		assert_int_equal(chmod(dir, 0700), 0);
	}
	cause = NULL;
	data = file_read(path_in_dir("c"), 0, NULL, &cause);
	assert_non_null(data);
	assert_string_equal(data, "old");
	free(data);
}

static void
test_file_read_refuses_oversize(void **state)
{
	struct atomic_opts o = ATOMIC_OPTS(0644);
	char *cause = NULL;
	int changed;

	(void)state;
	assert_int_equal(atomic_write(path_in_dir("d"), "0123456789", 10, &o,
			     &changed, &cause),
	    0);
	assert_null(file_read(path_in_dir("d"), 5, NULL, &cause));
	assert_non_null(strstr(cause, "larger than"));
	free(cause);
}

/* Larger than the first buffer, so it grows (and wipes) a few times. */
static void
test_file_read_large_file_comes_back_whole(void **state)
{
	struct atomic_opts o = ATOMIC_OPTS(0600);
	char *cause = NULL, *data, *back;
	size_t i, len = 100 * 1000, got;
	int changed;

	(void)state;
	data = malloc(len);
	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(
	    atomic_write(path_in_dir("big"), data, len, &o, &changed, &cause),
	    0);
	back = file_read(path_in_dir("big"), 0, &got, &cause);
	assert_non_null(back);
	assert_int_equal(got, len);
	assert_memory_equal(back, data, len);
	assert_int_equal(back[len], '\0');
	free(back);
	free(data);
}

static void
test_mkdir_p_makes_parents(void **state)
{
	char *cause = NULL;
	struct stat sb;

	(void)state;
	assert_int_equal(mkdir_p(path_in_dir("x/y/z"), 0700, &cause), 0);
	assert_int_equal(stat(path_in_dir("x/y/z"), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(mkdir_p(path_in_dir("x/y/z"), 0700, &cause), 0);
}

static void
test_mkdir_parent_makes_the_directory_a_file_goes_in(void **state)
{
	char *cause = NULL;
	struct stat sb;

	(void)state;
	assert_int_equal(
	    mkdir_parent(path_in_dir("p/q/file.json"), 0700, &cause), 0);
	assert_int_equal(stat(path_in_dir("p/q"), &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
	/* The file itself is not made. */
	assert_int_equal(stat(path_in_dir("p/q/file.json"), &sb), -1);
	/* A bare name has no directory to make. */
	assert_int_equal(mkdir_parent("file.json", 0700, &cause), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_atomic_write_creates_file_with_mode),
	    cmocka_unit_test(test_atomic_write_unchanged_file_is_not_rewritten),
	    cmocka_unit_test(test_atomic_write_failure_keeps_old_file),
	    cmocka_unit_test(test_file_read_refuses_oversize),
	    cmocka_unit_test(test_file_read_large_file_comes_back_whole),
	    cmocka_unit_test(test_mkdir_p_makes_parents),
	    cmocka_unit_test(
		test_mkdir_parent_makes_the_directory_a_file_goes_in),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
