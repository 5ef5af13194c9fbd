/* Ed25519 keys for bundles: key files, trust, signing. */
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

#include "bundle.h"
#include "xmalloc.h"

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/test-bundle-keys-XXXXXX";

	assert_int_equal(tmpdir_make(tmpl), 0);
	return xstrdup(tmpl);
}

static void
rmdir_all(char *dir)
{
	assert_int_equal(tmpdir_remove(dir), 0);
	free(dir);
}

static void
test_bundle_keygen_writes_0600_private_and_public(void **state)
{
	char *dir = tmpdir(), *key, *pub, *cause = NULL;
	struct stat sb;

	(void)state;
	key = xasprintf("%s/k", dir);
	pub = xasprintf("%s/k.pub", dir);
	assert_int_equal(bundle_keygen(key, &cause), 0);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(pub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	/* An existing key is never overwritten. */
	assert_int_equal(bundle_keygen(key, &cause), -1);
	assert_non_null(strstr(cause, "cannot create"));
	free(cause);
	free(key);
	free(pub);
	rmdir_all(dir);
}

static void
test_bundle_sign_verify_and_wrong_key(void **state)
{
	char *dir = tmpdir(), *k1, *k2, *cause = NULL, *p;
	unsigned char sig[BUNDLE_SIG_LEN];
	struct bundle_keys *ks;
	const char *id = NULL;

	(void)state;
	k1 = xasprintf("%s/one", dir);
	k2 = xasprintf("%s/two", dir);
	assert_int_equal(bundle_keygen(k1, &cause), 0);
	assert_int_equal(bundle_keygen(k2, &cause), 0);
	assert_int_equal(bundle_sign(k1, "hello", 5, sig, &cause), 0);

	ks = bundle_keys_new();
	p = xasprintf("%s.pub", k2);
	assert_int_equal(bundle_keys_add_file(ks, p, &cause), 0);
	free(p);
	assert_int_equal(
	    bundle_keys_verify(ks, "hello", 5, sig, sizeof sig, &id, &cause),
	    -1);
	free(cause);
	/* A folder adds every *.pub file in it, and nothing else. */
	assert_int_equal(bundle_keys_add_dir(ks, dir, &cause), 0);
	assert_int_equal(bundle_keys_count(ks), 2);
	assert_int_equal(
	    bundle_keys_verify(ks, "hello", 5, sig, sizeof sig, &id, &cause),
	    0);
	assert_int_equal(strlen(id), 16);
	assert_int_equal(
	    bundle_keys_verify(ks, "hellO", 5, sig, sizeof sig, &id, &cause),
	    -1);
	assert_non_null(strstr(cause, "does not match"));
	free(cause);
	bundle_keys_free(ks);
	free(k1);
	free(k2);
	rmdir_all(dir);
}

static void
test_bundle_sign_refuses_key_readable_by_others(void **state)
{
	char *dir = tmpdir(), *k, *cause = NULL;
	unsigned char sig[BUNDLE_SIG_LEN];

	(void)state;
	k = xasprintf("%s/k", dir);
	assert_int_equal(bundle_keygen(k, &cause), 0);
	assert_int_equal(chmod(k, 0644), 0);
	assert_int_equal(bundle_sign(k, "x", 1, sig, &cause), -1);
	assert_non_null(strstr(cause, "readable by others"));
	free(cause);
	free(k);
	rmdir_all(dir);
}

static void
test_bundle_keys_refuse_non_ed25519_and_garbage(void **state)
{
	char *dir = tmpdir(), *p, *cmd, *cause = NULL;
	struct bundle_keys *ks = bundle_keys_new();
	FILE *f;

	(void)state;
	p = xasprintf("%s/ec.pub", dir);
	cmd = xasprintf("openssl genpkey -algorithm EC -pkeyopt "
			"ec_paramgen_curve:P-256 2>/dev/null | openssl pkey "
			"-pubout -out '%s' 2>/dev/null",
	    p);
	if (system(cmd) != 0) {
		free(cmd);
		free(p);
		bundle_keys_free(ks);
		rmdir_all(dir);
		skip();
	}
	assert_int_equal(bundle_keys_add_file(ks, p, &cause), -1);
	assert_non_null(strstr(cause, "not an Ed25519 key"));
	free(cause);
	assert_int_equal(unlink(p), 0);
	free(p);
	free(cmd);

	p = xasprintf("%s/junk.pub", dir);
	f = fopen(p, "w");
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(bundle_keys_add_dir(ks, dir, &cause), -1);
	assert_non_null(strstr(cause, "cannot read key"));
	free(cause);
	free(p);

	/* A missing folder trusts nothing and is no error. */
	assert_int_equal(
	    bundle_keys_add_dir(ks, "/nonexistent/chatstack", &cause), 0);
	assert_int_equal(bundle_keys_count(ks), 0);
	bundle_keys_free(ks);
	rmdir_all(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bundle_keygen_writes_0600_private_and_public),
	    cmocka_unit_test(test_bundle_sign_verify_and_wrong_key),
	    cmocka_unit_test(test_bundle_sign_refuses_key_readable_by_others),
	    cmocka_unit_test(test_bundle_keys_refuse_non_ed25519_and_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
