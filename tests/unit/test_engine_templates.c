/*
 * The real plan and templates/ under a temporary root: every template
 * renders with the default answers, says what the issue asks of it, and
 * a plan of the whole install changes nothing.
 */
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

#include "../../installer/answers.h"
#include "../../installer/engine.h"
#include "../../installer/steps.h"
#include "../../installer/template.h"
#include "buf.h"
#include "event.h"
#include "xmalloc.h"

static char root[] = "/tmp/chatstack-test-tpl-XXXXXX";
static struct answers *answers;
static struct engine *engine;

static int
setup(void **state)
{
	char *cause = NULL;

	(void)state;
	strcpy(root + strlen(root) - 6, "XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	event_clear_sinks();
	answers = answers_defaults();
	engine = engine_create(root, ENGINE_PLAN);
	engine->answers = answers;
	engine->mem_bytes = 4ULL << 30;
	engine->ncpu = 2;
	if (engine_vars(engine, &cause) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	engine_free(engine);
	answers_free(answers);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Renders templates/name; the caller frees the result. */
static char *
render(const char *name, json_t *extra)
{
	struct buf out = BUF_INIT;
	json_t *vars;
	char *path, *cause = NULL;

	vars = json_copy(engine->vars);
	if (extra != NULL)
		json_object_update(vars, extra);
	path = xasprintf("templates/%s", name);
	if (template_render_file(path, vars, &out, &cause) == -1) {
		print_error("%s\n", cause);
		fail();
	}
	free(path);
	json_decref(vars);
	return buf_detach(&out, NULL);
}

static void
test_engine_templates_backends_bind_the_private_address(void **state)
{
	char *s;

	(void)state;
	s = render("mariadb/60-chatstack.cnf", NULL);
	assert_non_null(strstr(s, "bind-address = 127.0.0.1\n"));
	assert_non_null(strstr(s, "innodb_buffer_pool_size = 1638M\n"));
	free(s);
	s = render("redis/redis.conf", NULL);
	assert_non_null(strstr(s, "bind 127.0.0.1\n"));
	assert_non_null(strstr(s, "protected-mode yes\n"));
	assert_non_null(strstr(s, "appendonly yes\n"));
	assert_non_null(strstr(s, "maxmemory 409mb\n"));
	free(s);
	s = render("rabbitmq/rabbitmq.conf", NULL);
	assert_non_null(strstr(s, "listeners.tcp.1 = 127.0.0.1:5672\n"));
	assert_non_null(
	    strstr(s, "distribution.listener.interface = 127.0.0.1\n"));
	assert_non_null(strstr(s, "load_definitions = "));
	free(s);
	s = render("rabbitmq/rabbitmq-env.conf", NULL);
	assert_non_null(strstr(s, "ERL_EPMD_ADDRESS=127.0.0.1\n"));
	free(s);
}

static void
test_engine_templates_hold_hashes_never_passwords(void **state)
{
	json_error_t jerr;
	json_t *j, *user;
	char *s;

	(void)state;
	s = render("rabbitmq/definitions.json", NULL);
	j = json_loads(s, 0, &jerr);
	assert_non_null(j);
	user = json_array_get(json_object_get(j, "users"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(user, "name")), "chatd");
	assert_non_null(json_object_get(user, "password_hash"));
	assert_null(json_object_get(user, "password"));
	json_decref(j);
	free(s);
	s = render("redis/users.acl", NULL);
	assert_non_null(strstr(s, " #"));
	assert_null(strstr(s, "nopass"));
	free(s);
}

static void
test_engine_templates_nginx_is_mozilla_intermediate_with_proxies(void **state)
{
	char *s;

	(void)state;
	s = render("nginx/chatstack.conf", NULL);
	assert_non_null(strstr(s, "ssl_protocols TLSv1.2 TLSv1.3;"));
	assert_non_null(strstr(s, "Strict-Transport-Security"));
	assert_non_null(strstr(s, "/.well-known/acme-challenge/"));
	assert_non_null(strstr(s, "return 301 https://"));
	assert_non_null(strstr(s, "server 127.0.0.1:8081"));
	assert_non_null(strstr(s, "server 127.0.0.1:8082"));
	assert_non_null(strstr(s, "proxy_set_header Upgrade $http_upgrade;"));
	assert_non_null(strstr(s, "proxy_read_timeout 3600s;"));
	assert_non_null(strstr(s, "limit_req zone=chatstack_auth"));
	assert_null(strstr(s, "TLSv1.1"));
	free(s);
}

static void
test_engine_templates_chatd_unit_uses_credentials_not_env(void **state)
{
	json_t *extra;
	char *s;

	(void)state;
	s = render("chatd/chatd@.service", NULL);
	assert_non_null(strstr(s, "Type=notify\n"));
	assert_non_null(strstr(s, "Restart=on-failure\n"));
	assert_non_null(strstr(s, "DynamicUser=yes\n"));
	assert_non_null(strstr(s, "LoadCredential=mariadb-password:"));
	assert_null(strstr(s, "Environment="));
	free(s);
	extra =
	    json_pack("{s:{s:i, s:i}}", "instance", "index", 2, "port", 8082);
	s = render("chatd/chatd.conf", extra);
	assert_non_null(strstr(s, "listen_port = 8082\n"));
	assert_non_null(strstr(s, "/run/credentials/chatd@2.service/"));
	json_decref(extra);
	free(s);
}

static void
test_engine_plan_of_whole_install_changes_nothing(void **state)
{
	struct plan_opts o;
	struct stat sb;
	char *cause = NULL, path[512];
	size_t i, files = 0;

	(void)state;
	memset(&o, 0, sizeof o);
	o.release = ".";
	o.online = 1;
	o.skip_verify = 1;
	assert_int_equal(plan_build(engine, &o, &cause), 0);
	assert_int_equal(engine_begin(engine, &cause), 0);
	assert_int_equal(engine_run(engine), 0);
	for (i = 0; i < engine->nsteps; i++) {
		if (strncmp(engine->steps[i]->id, "config.", 7) == 0 &&
		    strcmp(engine->steps[i]->id, "config.nginx-default") != 0) {
			assert_true(engine->steps[i]->nchanges > 0);
			files++;
		}
	}
	assert_true(files >= 8);
	snprintf(path, sizeof path, "%s/etc", root);
	assert_int_equal(stat(path, &sb), -1);
	snprintf(path, sizeof path, "%s/var", root);
	assert_int_equal(stat(path, &sb), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_engine_templates_backends_bind_the_private_address, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_templates_hold_hashes_never_passwords, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_templates_nginx_is_mozilla_intermediate_with_proxies,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_templates_chatd_unit_uses_credentials_not_env,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_engine_plan_of_whole_install_changes_nothing, setup,
		teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
