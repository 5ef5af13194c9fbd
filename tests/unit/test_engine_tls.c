/*
 * The engine's TLS side: the renewal units in the install and uninstall
 * plans, the local CA published by nginx, and what the install's summary
 * says about the certificate.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tmpdir.h"

#include "../../certs/certs.h"
#include "../../certs/localca.h"
#include "../../installer/answers.h"
#include "../../installer/engine.h"
#include "../../installer/steps.h"
#include "../../installer/template.h"
#include "buf.h"
#include "event.h"
#include "fileio.h"
#include "xmalloc.h"

static char root[] = "/tmp/chatstack-test-etls-XXXXXX";
static struct answers *answers;
static struct engine *engine;

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(root) != 0)
		return -1;
	event_clear_sinks();
	answers = answers_defaults();
	free(answers->hostname);
	answers->hostname = xstrdup("chat.example.com");
	engine = engine_create(root, ENGINE_PLAN);
	engine->answers = answers;
	engine->mem_bytes = 4ULL << 30;
	engine->ncpu = 2;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	engine_free(engine);
	answers_free(answers);
	return tmpdir_remove(root);
}

static void
vars(enum answers_tls_mode mode)
{
	char *cause = NULL;

	answers->tls.mode = mode;
	json_decref(engine->vars);
	engine->vars = NULL;
	if (engine_vars(engine, &cause) == -1) {
		print_error("%s\n", cause);
		fail();
	}
}

static char *
render(const char *name)
{
	struct buf out = BUF_INIT;
	char *path, *cause = NULL;

	path = xasprintf("templates/%s", name);
	if (template_render_file(path, engine->vars, &out, &cause) == -1) {
		print_error("%s\n", cause);
		fail();
	}
	free(path);
	return buf_detach(&out, NULL);
}

static int
count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void
test_engine_tls_nginx_publishes_the_local_ca_in_selfsigned_mode(void **state)
{
	char *s;

	(void)state;
	vars(TLS_MODE_SELFSIGNED);
	s = render("nginx/chatstack.conf");
	/* Over plain HTTP and over HTTPS. */
	assert_int_equal(count(s, "location = " STEP_TLS_CA_PATH " {"), 2);
	assert_int_equal(count(s, "alias /etc/chatstack/tls/ca.crt;"), 2);
	assert_non_null(strstr(s, "application/x-x509-ca-cert"));
	free(s);
	vars(TLS_MODE_LETSENCRYPT);
	s = render("nginx/chatstack.conf");
	assert_null(strstr(s, STEP_TLS_CA_PATH));
	assert_non_null(strstr(s, "location ^~ /.well-known/acme-challenge/"));
	/* Outside the state directory, which nginx's workers cannot enter. */
	assert_non_null(strstr(s, "root " CHATSTACK_ACME_WEBROOT ";"));
	assert_null(strstr(CHATSTACK_ACME_WEBROOT, ENGINE_STATE_DIR "/"));
	free(s);
}

static int
has_step(const char *id)
{
	return engine_find(engine, id) != NULL;
}

static void
build(void)
{
	struct plan_opts o;
	char *cause = NULL;

	memset(&o, 0, sizeof o);
	o.release = ".";
	o.online = 1;
	o.skip_verify = 1;
	if (plan_build(engine, &o, &cause) == -1) {
		print_error("%s\n", cause);
		fail();
	}
}

/* A fresh plan for tls.mode m. */
static void
rebuild(enum answers_tls_mode m)
{
	engine_free(engine);
	engine = engine_create(root, ENGINE_PLAN);
	engine->answers = answers;
	answers->tls.mode = m;
	build();
}

/* Whether step id exists and its title starts with verb. */
static int
step_does(const char *id, const char *verb)
{
	struct step *s = engine_find(engine, id);

	return s != NULL && strncmp(s->title, verb, strlen(verb)) == 0;
}

static void
test_engine_tls_plan_runs_the_renewal_timer_unless_provided(void **state)
{
	(void)state;
	rebuild(TLS_MODE_LETSENCRYPT);
	assert_true(has_step("chatstack.release"));
	assert_true(step_does("units.certs-renew", "Write "));
	assert_true(step_does("units.certs-renew-timer", "Write "));
	assert_true(has_step("service." STEP_RENEW_TIMER));

	rebuild(TLS_MODE_SELFSIGNED);
	assert_true(has_step("service." STEP_RENEW_TIMER));

	rebuild(TLS_MODE_PROVIDED);
	assert_false(has_step("service." STEP_RENEW_TIMER));
	assert_true(has_step("stop." STEP_RENEW_TIMER));
	/* The same ids remove the units a former mode left. */
	assert_true(step_does("units.certs-renew", "Remove "));
	assert_true(step_does("units.certs-renew-timer", "Remove "));
}

static void
test_engine_tls_timer_starts_after_nginx(void **state)
{
	size_t i, nginx = 0, timer = 0;

	(void)state;
	answers->tls.mode = TLS_MODE_LETSENCRYPT;
	build();
	for (i = 0; i < engine->nsteps; i++) {
		if (strcmp(engine->steps[i]->id, "service.nginx.service") == 0)
			nginx = i;
		if (strcmp(engine->steps[i]->id, "service." STEP_RENEW_TIMER) ==
		    0)
			timer = i;
	}
	assert_true(nginx > 0);
	assert_true(timer > nginx);
}

static void
test_engine_tls_uninstall_removes_the_renewal_units(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(plan_build_uninstall(engine, 0, &cause), 0);
	assert_true(has_step("stop." STEP_RENEW_TIMER));
	assert_true(has_step("remove./etc/systemd/system/" STEP_RENEW_TIMER));
	assert_true(has_step("remove./etc/systemd/system/" STEP_RENEW_SERVICE));
}

static void
selfsigned_certificate(void)
{
	static char *addresses[] = {"192.0.2.20"};
	struct certs_opts o;
	struct certs_result r;
	char *tls, *cause = NULL;

	tls = xasprintf("%s/etc/chatstack/tls", root);
	memset(&o, 0, sizeof o);
	o.tls_dir = tls;
	o.addresses = addresses;
	o.naddresses = 1;
	answers->tls.mode = TLS_MODE_SELFSIGNED;
	if (certs_ensure(answers, &o, &r, &cause) == -1) {
		print_error("%s\n", cause);
		fail();
	}
	certs_result_free(&r);
	free(tls);
}

static void
test_engine_tls_summary_has_the_ca_fingerprint_and_address(void **state)
{
	json_t *j;
	char *tls, *fp, *cause = NULL;

	(void)state;
	assert_null(step_tls_summary(engine));
	selfsigned_certificate();
	j = step_tls_summary(engine);
	assert_non_null(j);
	tls = xasprintf("%s/etc/chatstack/tls", root);
	fp = localca_fingerprint(tls, &cause);
	assert_non_null(fp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "ca_fingerprint")), fp);
	assert_string_equal(json_string_value(json_object_get(j, "ca_url")),
	    "http://chat.example.com" STEP_TLS_CA_PATH);
	assert_string_equal(
	    json_string_value(json_object_get(j, "mode")), "selfsigned");
	assert_int_equal(json_array_size(json_object_get(j, "warnings")), 0);
	json_decref(j);

	answers->nginx.http_port = 8080;
	j = step_tls_summary(engine);
	assert_string_equal(json_string_value(json_object_get(j, "ca_url")),
	    "http://chat.example.com:8080" STEP_TLS_CA_PATH);
	json_decref(j);
	free(fp);
	free(tls);
}

/* Replaces fullchain.pem with a certificate valid for days more. */
static void
short_certificate(int days)
{
	EVP_PKEY *key;
	X509 *x;
	X509_NAME *name;
	FILE *f;
	char *path;

	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(key);
	x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"chat.example.com", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	path = xasprintf("%s/etc/chatstack/tls/fullchain.pem", root);
	f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	free(path);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
set_mode(const char *mode)
{
	struct atomic_opts o = ATOMIC_OPTS(0644);
	char *path, *text, *cause = NULL;

	path = xasprintf("%s/etc/chatstack/tls/certs.json", root);
	text = xasprintf("{\"mode\": \"%s\"}\n", mode);
	assert_int_equal(
	    atomic_write(path, text, strlen(text), &o, NULL, &cause), 0);
	free(text);
	free(path);
}

static void
test_engine_tls_summary_warns_of_a_certificate_expiring_soon(void **state)
{
	json_t *j, *w;

	(void)state;
	selfsigned_certificate();
	short_certificate(5);
	set_mode("provided");
	j = step_tls_summary(engine);
	w = json_object_get(j, "warnings");
	assert_int_equal(json_array_size(w), 1);
	assert_non_null(
	    strstr(json_string_value(json_array_get(w, 0)), "within 14 days"));
	assert_non_null(
	    strstr(json_string_value(json_array_get(w, 0)), "tls.provided"));
	assert_null(json_object_get(j, "ca_fingerprint"));
	json_decref(j);

	set_mode("letsencrypt");
	j = step_tls_summary(engine);
	w = json_object_get(j, "warnings");
	assert_int_equal(json_array_size(w), 1);
	assert_non_null(strstr(
	    json_string_value(json_array_get(w, 0)), "not been renewed"));
	json_decref(j);

	short_certificate(60);
	set_mode("provided");
	j = step_tls_summary(engine);
	assert_int_equal(json_array_size(json_object_get(j, "warnings")), 0);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_engine_tls_nginx_publishes_the_local_ca_in_selfsigned_mode,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_tls_plan_runs_the_renewal_timer_unless_provided,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_tls_timer_starts_after_nginx, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_tls_uninstall_removes_the_renewal_units, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_tls_summary_has_the_ca_fingerprint_and_address,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_tls_summary_warns_of_a_certificate_expiring_soon,
		setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
