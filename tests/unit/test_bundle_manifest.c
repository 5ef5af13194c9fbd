/* The bundle manifest parser: strict, and every error names the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bundle.h"

#define HEAD                                                                   \
	"chatstack-bundle 1\ncomponent redis\nversion 5:7.0.15-1~deb12u1\n"    \
	"distro debian12\narch amd64\nbuilt 2026-12-03T18:00:00Z\n"
#define HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct bundle_manifest *
parse(const char *text, char **cause)
{
	*cause = NULL;
	return bundle_manifest_parse(text, strlen(text), cause);
}

static void
expect_error(const char *text, const char *needle)
{
	struct bundle_manifest *m;
	char *cause;

	m = parse(text, &cause);
	assert_null(m);
	assert_non_null(cause);
	if (strstr(cause, needle) == NULL)
		fail_msg("'%s' lacks '%s'", cause, needle);
	free(cause);
}

static void
test_bundle_manifest_parses_fields_and_files(void **state)
{
	struct bundle_manifest *m;
	char *cause, *again;
	size_t len;

	(void)state;
	m = parse(HEAD "package redis-server\npackage redis-tools\n"
		       "file 0644 0 " HASH " repo/b\n"
		       "file 0755 12 " HASH " repo/a\n",
	    &cause);
	assert_non_null(m);
	assert_string_equal(m->component, "redis");
	assert_string_equal(m->version, "5:7.0.15-1~deb12u1");
	assert_int_equal(m->npackages, 2);
	assert_int_equal(m->nfiles, 2);
	assert_string_equal(m->files[0].path, "repo/a"); /* sorted */
	assert_int_equal(m->files[0].mode, 0755);
	assert_int_equal(m->files[0].size, 12);
	assert_int_equal(m->total, 12);
	assert_non_null(bundle_manifest_find(m, "repo/b"));
	assert_null(bundle_manifest_find(m, "repo/c"));
	again = bundle_manifest_format(m, &len);
	assert_non_null(strstr(again, "file 0755 12 " HASH " repo/a\n"));
	free(again);
	bundle_manifest_free(m);
}

static void
test_bundle_manifest_errors_name_the_line(void **state)
{
	(void)state;
	expect_error(HEAD "colour blue\n", "line 7: unknown key 'colour'");
	expect_error(HEAD "component x\n", "line 7: 'component' appears twice");
	expect_error(HEAD "file 0644 1 " HASH " ../etc/passwd\n",
	    "line 7: bad path: the path leaves the bundle");
	expect_error(HEAD "file 0644 1 " HASH " /etc/passwd\n", "absolute");
	expect_error(HEAD "file 4755 1 " HASH " a\n", "mode '4755'");
	expect_error(HEAD "file 0644 -1 " HASH " a\n", "size");
	expect_error(HEAD "file 0644 1 abc a\n", "SHA-256");
	expect_error(HEAD "file 0644 1 " HASH " a\nfile 0644 1 " HASH " a\n",
	    "lists 'a' twice");
	expect_error(HEAD "file 0644 1 " HASH " MANIFEST\n", "reserved");
	expect_error(HEAD "file 0644 1 " HASH " a//b\n", "empty component");
	expect_error(HEAD "file 0644 1 " HASH " a b\n", "character");
	expect_error("chatstack-bundle 2\n", "does not start with");
	expect_error(HEAD "package x", "newline");
	expect_error("chatstack-bundle 1\ncomponent redis\n", "no 'version'");
	expect_error(HEAD "built yesterday\n", "line 7: 'built' appears twice");
	expect_error("chatstack-bundle 1\ncomponent r\nversion 1\ndistro d\n"
		     "arch a\nbuilt 2026-13-03 18:00:00\n",
	    "bad value for 'built'");
	expect_error(HEAD "version 1\n", "appears twice");
}

static void
test_bundle_version_compare_follows_debian_order(void **state)
{
	(void)state;
	assert_true(bundle_version_compare("7.0.15-1", "7.0.15-1") == 0);
	assert_true(bundle_version_compare("7.0.15-1", "7.2.4-1") < 0);
	assert_true(bundle_version_compare("7.10", "7.9") > 0);
	assert_true(bundle_version_compare("1:1.0", "2.0") > 0);
	assert_true(bundle_version_compare("1.0~rc1", "1.0") < 0);
	assert_true(
	    bundle_version_compare("5:7.0.15-1~deb12u1", "5:7.0.15-1") < 0);
	assert_true(bundle_version_compare(
			"5:7.0.15-1~deb12u2", "5:7.0.15-1~deb12u1") > 0);
	assert_true(bundle_version_compare("1.0-1", "1.0+b1-1") < 0);
	assert_true(bundle_version_compare("1.0a", "1.0") > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bundle_manifest_parses_fields_and_files),
	    cmocka_unit_test(test_bundle_manifest_errors_name_the_line),
	    cmocka_unit_test(test_bundle_version_compare_follows_debian_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
