#include <sys/stat.h>

#include <fcntl.h>
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

#include "../../installer/secrets.h"
#include "fileio.h"

static char top[] = "/tmp/chatstack-test-secrets-XXXXXX";
static char dir[300];

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(top) != 0)
		return -1;
	/* Below a parent that does not exist yet, as on a fresh host. */
	snprintf(dir, sizeof dir, "%s/etc/chatstack/secrets", top);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(top);
}

static char *
in_dir(const char *name)
{
	return tmpdir_path(dir, name);
}

static void
test_secrets_created_private_in_private_dir(void **state)
{
	struct stat sb;
	char *cause = NULL, *v, tmp[64];
	int created = -1;
	size_t i;

	(void)state;
	assert_int_equal(
	    secret_ensure(dir, "mariadb-root", 32, &created, &cause), 0);
	assert_int_equal(created, 1);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(lstat(in_dir("mariadb-root"), &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, 33);
	/* The temporary file it was written through is gone. */
	snprintf(tmp, sizeof tmp, ".mariadb-root.new-%ld", (long)getpid());
	assert_int_equal(access(in_dir(tmp), F_OK), -1);

	v = secret_read(dir, "mariadb-root", &cause);
	assert_non_null(v);
	assert_int_equal(strlen(v), 32);
	for (i = 0; v[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789",
		    v[i]));
	explicit_bzero(v, strlen(v));
	free(v);
}

static void
test_secrets_existing_is_kept(void **state)
{
	char *cause = NULL, *a, *b;
	int created = -1;

	(void)state;
	assert_int_equal(secret_ensure(dir, "redis", 24, &created, &cause), 0);
	assert_int_equal(created, 1);
	a = secret_read(dir, "redis", &cause);
	assert_non_null(a);
	assert_int_equal(secret_ensure(dir, "redis", 24, &created, &cause), 0);
	assert_int_equal(created, 0);
	/* Even when asked for another length: nothing is regenerated. */
	assert_int_equal(secret_ensure(dir, "redis", 40, &created, &cause), 0);
	assert_int_equal(created, 0);
	b = secret_read(dir, "redis", &cause);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

static void
test_secrets_differ_each_time(void **state)
{
	char *cause = NULL, *a, *b;
	int created;

	(void)state;
	assert_int_equal(secret_ensure(dir, "one", 32, &created, &cause), 0);
	assert_int_equal(secret_ensure(dir, "two", 32, &created, &cause), 0);
	a = secret_read(dir, "one", &cause);
	b = secret_read(dir, "two", &cause);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void
test_secrets_group_readable_is_refused(void **state)
{
	char *cause = NULL;
	int created;

	(void)state;
	assert_int_equal(secret_ensure(dir, "shared", 16, &created, &cause), 0);
	assert_int_equal(chmod(in_dir("shared"), 0640), 0);
	assert_null(secret_read(dir, "shared", &cause));
	assert_non_null(strstr(cause,
	    "has mode 0640, so other users can "
	    "read it"));
	free(cause);
	cause = NULL;
	assert_int_equal(
	    secret_ensure(dir, "shared", 16, &created, &cause), -1);
	assert_int_equal(created, 0);
	assert_non_null(strstr(cause, "has mode 0640"));
	free(cause);
}

static void
test_secrets_symlink_is_refused(void **state)
{
	char target[400], *cause = NULL;
	int created, fd;

	(void)state;
	assert_int_equal(secret_ensure(dir, "x", 8, &created, &cause), 0);
	snprintf(target, sizeof target, "%s/elsewhere", top);
	assert_true((fd = open(target, O_WRONLY | O_CREAT, 0600)) != -1);
	assert_int_equal(write(fd, "planted\n", 8), 8);
	close(fd);
	assert_int_equal(symlink(target, in_dir("linked")), 0);

	assert_int_equal(
	    secret_ensure(dir, "linked", 16, &created, &cause), -1);
	assert_int_equal(created, 0);
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);
	cause = NULL;
	assert_null(secret_read(dir, "linked", &cause));
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);
}

static void
test_secrets_dir_symlink_or_open_mode_is_refused(void **state)
{
	char other[400], link[400], *cause = NULL;
	int created;

	(void)state;
	snprintf(other, sizeof other, "%s/open", top);
	assert_int_equal(mkdir(other, 0755), 0);
	assert_int_equal(secret_ensure(other, "a", 8, &created, &cause), -1);
	assert_non_null(strstr(cause, "has mode 0755"));
	free(cause);
	cause = NULL;

	assert_int_equal(chmod(other, 0700), 0);
	snprintf(link, sizeof link, "%s/link", top);
	assert_int_equal(symlink(other, link), 0);
	assert_int_equal(secret_ensure(link, "a", 8, &created, &cause), -1);
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);
}

static void
test_secrets_bad_names_and_lengths_are_refused(void **state)
{
	char *cause = NULL;
	int created;

	(void)state;
	assert_int_equal(
	    secret_ensure(dir, "../etc/passwd", 8, &created, &cause), -1);
	assert_string_equal(cause,
	    "'../etc/passwd' is not a valid secret "
	    "name");
	free(cause);
	cause = NULL;
	assert_int_equal(secret_ensure(dir, "", 8, &created, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(secret_ensure(dir, "a", 0, &created, &cause), -1);
	free(cause);
	cause = NULL;
	assert_null(secret_read(dir, "a/b", &cause));
	free(cause);
}

static void
test_secrets_empty_or_missing_file_is_an_error(void **state)
{
	char *cause = NULL;
	int created, fd;

	(void)state;
	assert_int_equal(secret_ensure(dir, "y", 8, &created, &cause), 0);
	assert_true(
	    (fd = open(in_dir("empty"), O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
	assert_null(secret_read(dir, "empty", &cause));
	assert_non_null(strstr(cause, "is empty"));
	free(cause);
	cause = NULL;
	assert_int_equal(secret_ensure(dir, "empty", 8, &created, &cause), -1);
	free(cause);
	cause = NULL;
	assert_null(secret_read(dir, "nothing-here", &cause));
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
}

static void
test_secrets_read_strips_one_newline_only(void **state)
{
	char *cause = NULL, *v;
	int created, fd;

	(void)state;
	assert_int_equal(secret_ensure(dir, "z", 8, &created, &cause), 0);
	assert_true(
	    (fd = open(in_dir("given"), O_WRONLY | O_CREAT, 0600)) != -1);
	assert_int_equal(write(fd, "s3cr3t", 6), 6);
	close(fd);
	v = secret_read(dir, "given", &cause);
	assert_string_equal(v, "s3cr3t");
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secrets_created_private_in_private_dir),
	    cmocka_unit_test(test_secrets_existing_is_kept),
	    cmocka_unit_test(test_secrets_differ_each_time),
	    cmocka_unit_test(test_secrets_group_readable_is_refused),
	    cmocka_unit_test(test_secrets_symlink_is_refused),
	    cmocka_unit_test(test_secrets_dir_symlink_or_open_mode_is_refused),
	    cmocka_unit_test(test_secrets_bad_names_and_lengths_are_refused),
	    cmocka_unit_test(test_secrets_empty_or_missing_file_is_an_error),
	    cmocka_unit_test(test_secrets_read_strips_one_newline_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
