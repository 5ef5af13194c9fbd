/*
 * The install plan: every step in the order it must run. The order is the
 * dependency order: configuration is written before a service first
 * starts (MariaDB's even before its package, whose maintainer script
 * creates the data directory with it), services start backends first,
 * chatd next and nginx last, each followed by its health gate.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "engine.h"
#include "steps.h"
#include "xmalloc.h"

/* Debian packages of the stack, from the bundles. */
static const char *plan_packages[] = {
    "mariadb-server",
    "mariadb-client",
    "redis-server",
    "rabbitmq-server",
    "nginx",
    NULL,
};

/* Files rendered from templates/, in order. */
static const struct plan_file {
	const char *id;
	const char *template;
	const char *dest;
	mode_t mode;
	const char *owner;
	const char *group;
	const char *unit; /* restarted when it changes */
} plan_files[] = {
    {"config.redis", "redis/redis.conf", "/etc/redis/redis.conf", 0640, "root",
	"redis", "redis-server.service"},
    {"config.redis-acl", "redis/users.acl", "/etc/redis/users.acl", 0640,
	"root", "redis", "redis-server.service"},
    {"config.rabbitmq", "rabbitmq/rabbitmq.conf", "/etc/rabbitmq/rabbitmq.conf",
	0644, "root", "rabbitmq", "rabbitmq-server.service"},
    {"config.rabbitmq-env", "rabbitmq/rabbitmq-env.conf",
	"/etc/rabbitmq/rabbitmq-env.conf", 0644, "root", "rabbitmq",
	"rabbitmq-server.service"},
    {"config.rabbitmq-definitions", "rabbitmq/definitions.json",
	"/etc/rabbitmq/definitions.json", 0640, "root", "rabbitmq",
	"rabbitmq-server.service"},
    {"units.epmd", "rabbitmq/epmd.socket.conf",
	"/etc/systemd/system/epmd.socket.d/chatstack.conf", 0644, "root",
	"root", "daemon-reload"},
    {"units.rabbitmq", "rabbitmq/rabbitmq-server.service.conf",
	"/etc/systemd/system/rabbitmq-server.service.d/chatstack.conf", 0644,
	"root", "root", "daemon-reload"},
    {"config.nginx", "nginx/chatstack.conf", "/etc/nginx/conf.d/chatstack.conf",
	0644, "root", "root", "nginx.service"},
    {"units.chatd", "chatd/chatd@.service",
	"/etc/systemd/system/chatd@.service", 0644, "root", "root",
	"daemon-reload"},
};

/*
 * Whether the renewal timer runs: letsencrypt and selfsigned certificates
 * are chatstack's to renew (a selfsigned server certificate lasts 397
 * days); a provided one is the operator's to replace.
 */
/* XXX provided: nothing notices new files until install runs again. */
static int
plan_renews(const struct engine *e)
{
	return e->answers == NULL || e->answers->tls.mode != TLS_MODE_PROVIDED;
}

/* The renewal units, written; or, when nothing is to renew, gone. */
static void
plan_renew_units(struct engine *e)
{
	static const struct {
		const char *id, *template, *dest;
	} units[] = {
	    {"units.certs-renew", "certs/" STEP_RENEW_SERVICE,
		"/etc/systemd/system/" STEP_RENEW_SERVICE},
	    {"units.certs-renew-timer", "certs/" STEP_RENEW_TIMER,
		"/etc/systemd/system/" STEP_RENEW_TIMER},
	};
	size_t i;

	if (!plan_renews(e))
		step_add_service_stop(e, STEP_RENEW_TIMER);
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (plan_renews(e))
			step_add_render(e, units[i].id, units[i].template,
			    units[i].dest, 0644, "root", "root",
			    "daemon-reload", NULL);
		else
			step_add_remove(
			    e, units[i].id, units[i].dest, "daemon-reload", 0);
	}
}

/* Services in start order, each with its gates. */
static void
plan_services(struct engine *e, int instances, int verify)
{
	static const char *nginx_test[] = {"nginx", "-t", "-q", NULL};
	char unit[64];
	int i;

	step_add_service(e, "mariadb.service", 0, NULL);
	step_add_gate(e, "mariadb-root", "mariadb.service", 0);
	step_add_mariadb_secure(e);
	step_add_gate(e, "mariadb", "mariadb.service", 0);

	step_add_service(e, "redis-server.service", 0, NULL);
	step_add_gate(e, "redis", "redis-server.service", 0);

	step_add_service(e, "rabbitmq-server.service", 0, NULL);
	step_add_gate(e, "rabbitmq", "rabbitmq-server.service", 0);
	step_add_rabbitmq_guest(e);

	for (i = 1; i <= instances; i++) {
		snprintf(unit, sizeof unit, "chatd@%d.service", i);
		step_add_service(e, unit, 0, NULL);
		step_add_gate(e, "chatd", unit, i);
	}
	step_add_service(e, "nginx.service", 1, nginx_test);
	if (plan_renews(e))
		step_add_service(e, STEP_RENEW_TIMER, 0, NULL);
	if (verify)
		step_add_e2e(e);
}

int
plan_build(struct engine *e, const struct plan_opts *o, char **cause)
{
	const struct plan_file *f;
	char id[64], dest[128], unit[64];
	size_t i;
	int instances;

	if (engine_vars(e, cause) == -1)
		return -1;
	instances = e->answers != NULL ? e->answers->chatd.instances : 2;

	step_add_preflight(e);
	step_add_render(e, "config.mariadb", "mariadb/60-chatstack.cnf",
	    "/etc/mysql/mariadb.conf.d/60-chatstack.cnf", 0644, "root", "root",
	    "mariadb.service", NULL);
	if (o->online)
		step_add_packages(e, plan_packages, 1);
	else
		step_add_bundles(e, o->release);
	step_add_directory(e, "dirs.etc", CHATSTACK_ETC, 0755, "root", "root");
	if (o->answers_path != NULL)
		step_add_copy(e, "answers.save", o->answers_path,
		    CHATSTACK_ANSWERS, 0600);
	step_add_directory(
	    e, "dirs.chatd", CHATSTACK_ETC "/chatd", 0755, "root", "root");
	step_add_directory(e, "dirs.log", ENGINE_LOG_DIR, 0750, "root", "adm");
	step_add_directory(
	    e, "dirs.acme", CHATSTACK_ACME_WEBROOT, 0755, "root", "root");
	step_add_secrets(e);
	/* chatstack first: once current flips, current/bin/chatstack runs. */
	step_add_chatstack_release(e, o->release);
	step_add_chatd_release(e, o->release);
	step_add_tls(e);

	for (i = 0; i < sizeof plan_files / sizeof plan_files[0]; i++) {
		f = &plan_files[i];
		step_add_render(e, f->id, f->template, f->dest, f->mode,
		    f->owner, f->group, f->unit, NULL);
	}
	plan_renew_units(e);
	step_add_remove(e, "config.nginx-default",
	    "/etc/nginx/sites-enabled/default", "nginx.service", 0);
	step_add_rabbitmq_cookie(e);
	for (i = 1; i <= (size_t)instances; i++) {
		snprintf(id, sizeof id, "config.chatd@%zu", i);
		snprintf(dest, sizeof dest, CHATSTACK_ETC "/chatd/%zu.conf", i);
		snprintf(unit, sizeof unit, "chatd@%zu.service", i);
		step_add_render(e, id, "chatd/chatd.conf", dest, 0644, "root",
		    "root", unit,
		    json_pack("{s:{s:i, s:i}}", "instance", "index", (int)i,
			"port",
			(e->answers != NULL ? e->answers->chatd.port : 8081) +
			    (int)i - 1));
	}
	step_add_reload(e);
	plan_services(e, instances, !o->skip_verify);
	return 0;
}

/* What uninstall removes; data and secrets only with purge. */
static const struct {
	const char *path;
	int tree;
	int purge_only;
} plan_remove[] = {
    {"/etc/systemd/system/chatd@.service", 0, 0},
    {"/etc/systemd/system/" STEP_RENEW_SERVICE, 0, 0},
    {"/etc/systemd/system/" STEP_RENEW_TIMER, 0, 0},
    {"/etc/systemd/system/epmd.socket.d/chatstack.conf", 0, 0},
    {"/etc/systemd/system/rabbitmq-server.service.d/chatstack.conf", 0, 0},
    {"/etc/nginx/conf.d/chatstack.conf", 0, 0},
    {"/etc/mysql/mariadb.conf.d/60-chatstack.cnf", 0, 0},
    {"/etc/redis/users.acl", 0, 0},
    {"/etc/rabbitmq/rabbitmq.conf", 0, 0},
    {"/etc/rabbitmq/rabbitmq-env.conf", 0, 0},
    {"/etc/rabbitmq/definitions.json", 0, 0},
    {CHATSTACK_ETC "/chatd", 1, 0},
    {CHATSTACK_PREFIX, 1, 0},
    {ENGINE_STATE_DIR "/files", 1, 0},
    {CHATSTACK_ACME_WEBROOT, 1, 0},
    {ENGINE_STATE_DIR "/owned", 1, 0},
    {ENGINE_STATE_DIR "/bundles-done", 1, 0},
    {"/var/lib/mysql", 1, 1},
    {"/var/lib/redis", 1, 1},
    {"/var/lib/rabbitmq", 1, 1},
    {CHATSTACK_ETC, 1, 1},
    {ENGINE_LOG_DIR, 1, 1},
};

int
plan_build_uninstall(struct engine *e, int purge, char **cause)
{
	char unit[64], id[300];
	size_t i;
	int instances;

	if (engine_vars(e, cause) == -1)
		return -1;
	instances = e->answers != NULL ? e->answers->chatd.instances : 2;
	step_add_service_stop(e, STEP_RENEW_TIMER);
	for (i = 1; i <= (size_t)instances; i++) {
		snprintf(unit, sizeof unit, "chatd@%zu.service", i);
		step_add_service_stop(e, unit);
	}
	step_add_service_stop(e, "nginx.service");
	step_add_service_stop(e, "rabbitmq-server.service");
	step_add_service_stop(e, "redis-server.service");
	step_add_service_stop(e, "mariadb.service");
	for (i = 0; i < sizeof plan_remove / sizeof plan_remove[0]; i++) {
		if (plan_remove[i].purge_only && !purge)
			continue;
		snprintf(id, sizeof id, "remove.%s", plan_remove[i].path);
		step_add_remove(e, id, plan_remove[i].path,
		    strncmp(plan_remove[i].path, "/etc/systemd/", 13) == 0
			? "daemon-reload"
			: NULL,
		    plan_remove[i].tree);
	}
	step_add_reload(e);
	step_add_packages_remove(e, plan_packages, purge);
	if (purge)
		step_add_remove(
		    e, "remove." ENGINE_STATE_DIR, ENGINE_STATE_DIR, NULL, 1);
	return 0;
}
