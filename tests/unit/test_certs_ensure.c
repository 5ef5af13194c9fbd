/* certs_check and certs_ensure as the engine's TLS step calls them. */
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

#include "../../certs/certs.h"
#include "../../installer/answers.h"
#include "xmalloc.h"

static char dir[] = "/tmp/chatstack-test-ensure-XXXXXX";
static char tls[256];
static char *addresses[] = {"192.0.2.20"};

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir) != 0)
		return -1;
	snprintf(tls, sizeof tls, "%s/tls", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static struct answers *
selfsigned_answers(void)
{
	struct answers *a;

	a = answers_defaults();
	free(a->hostname);
	a->hostname = xstrdup("chat.example.com");
	a->tls.mode = TLS_MODE_SELFSIGNED;
	return a;
}

static void
opts_init(struct certs_opts *o)
{
	memset(o, 0, sizeof *o);
	o->tls_dir = tls;
	o->addresses = addresses;
	o->naddresses = 1;
}

static void
test_certs_engine_step_converges_and_then_changes_nothing(void **state)
{
	struct answers *a;
	struct certs_opts o;
	struct certs_result r;
	struct stat sb;
	char *why = NULL, *fp;

	(void)state;
	a = selfsigned_answers();
	opts_init(&o);

	/* The check changes nothing and says what is missing. */
	assert_int_equal(certs_check(a, &o, &why), 0);
	assert_string_equal(why, "there is no certificate yet");
	free(why);
	why = NULL;
	assert_int_equal(stat(tls, &sb), -1);

	assert_int_equal(certs_ensure(a, &o, &r, &why), 0);
	assert_true(r.changed);
	assert_non_null(r.message);
	assert_non_null(strstr(r.message, "chat.example.com"));
	assert_non_null(r.ca_fingerprint);
	fp = xstrdup(r.ca_fingerprint);
	certs_result_free(&r);

	assert_int_equal(certs_check(a, &o, &why), 1);
	assert_int_equal(certs_ensure(a, &o, &r, &why), 0);
	assert_false(r.changed);
	assert_string_equal(r.ca_fingerprint, fp);
	certs_result_free(&r);

	/* A new name means a new certificate from the same CA. */
	a->tls.extra_names = xcalloc(1, sizeof(char *));
	a->tls.extra_names[0] = xstrdup("www.example.com");
	a->tls.nextra_names = 1;
	assert_int_equal(certs_check(a, &o, &why), 0);
	assert_non_null(strstr(why, "names differ"));
	free(why);
	why = NULL;
	assert_int_equal(certs_ensure(a, &o, &r, &why), 0);
	assert_true(r.changed);
	assert_string_equal(r.ca_fingerprint, fp);
	certs_result_free(&r);

	/* Asked for RSA, the ECDSA certificate no longer fits. */
	free(a->tls.key_type);
	a->tls.key_type = xstrdup("rsa2048");
	assert_int_equal(certs_check(a, &o, &why), 0);
	assert_non_null(strstr(why, "rsa2048"));
	free(why);

	free(fp);
	answers_free(a);
}

static void
test_certs_engine_status_reports_the_certificate(void **state)
{
	struct answers *a;
	struct certs_opts o;
	struct certs_result r;
	char *why = NULL;
	json_t *st;

	(void)state;
	a = selfsigned_answers();
	opts_init(&o);
	assert_int_equal(certs_ensure(a, &o, &r, &why), 0);
	st = certs_status(tls, &why);
	assert_non_null(st);
	assert_string_equal(
	    json_string_value(json_object_get(st, "mode")), "selfsigned");
	assert_false(json_is_true(json_object_get(st, "due")));
	assert_string_equal(
	    json_string_value(json_object_get(st, "ca_fingerprint")),
	    r.ca_fingerprint);
	json_decref(st);
	certs_result_free(&r);
	answers_free(a);
}

static void
test_certs_engine_provided_without_files_is_an_error(void **state)
{
	struct answers *a;
	struct certs_opts o;
	struct certs_result r;
	char *why = NULL;

	(void)state;
	a = selfsigned_answers();
	a->tls.mode = TLS_MODE_PROVIDED;
	opts_init(&o);
	assert_int_equal(certs_check(a, &o, &why), -1);
	assert_non_null(strstr(why, "tls.provided.cert"));
	free(why);
	why = NULL;
	a->tls.cert = xasprintf("%s/missing.pem", dir);
	a->tls.key = xasprintf("%s/missing.key", dir);
	assert_int_equal(certs_ensure(a, &o, &r, &why), -1);
	assert_non_null(strstr(why, "missing.pem"));
	free(why);
	answers_free(a);
}

static void
test_certs_engine_renew_without_state_says_what_to_run(void **state)
{
	struct certs_opts o;
	struct certs_result r;
	char *why = NULL;

	(void)state;
	memset(&o, 0, sizeof o);
	o.tls_dir = dir;
	assert_int_equal(certs_renew(NULL, &o, &r, &why), -1);
	assert_non_null(strstr(why, "no certificate to renew"));
	free(why);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_certs_engine_step_converges_and_then_changes_nothing),
	    cmocka_unit_test(test_certs_engine_status_reports_the_certificate),
	    cmocka_unit_test(
		test_certs_engine_provided_without_files_is_an_error),
	    cmocka_unit_test(
		test_certs_engine_renew_without_state_says_what_to_run),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
