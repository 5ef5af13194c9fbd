/*
 * chatd: the reference chat server. One process per instance:
 *   chatd -c /etc/chatstack/chatd-1.conf
 * Logs go to stderr (journald); readiness and stopping are told to
 * systemd with sd_notify.
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <mysql.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "chatd.h"
#include "db.h"
#include "log.h"
#include "xmalloc.h"

struct config cfg;
uv_loop_t *loop;
int shutting_down;

static uv_signal_t sigterm, sigint;
static uv_timer_t stop_timer;
static int stopped;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: chatd [-t] -c FILE\n"
	    "  -c FILE   configuration (docs/chatd.md)\n"
	    "  -t        check the configuration and exit\n");
}

static void
stop_timer_cb(uv_timer_t *t)
{
	(void)t;
	server_destroy();
	route_stop();
	amqp_stop();
	uv_close((uv_handle_t *)&stop_timer, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	(void)s;
	if (stopped)
		return;
	stopped = 1;
	log_info("signal %d: closing sockets and stopping", signum);
	sd_notify(0, "STOPPING=1");
	server_shutdown();
	/* Let close frames go out before the context goes. */
	uv_timer_start(&stop_timer, stop_timer_cb, 300, 0);
}

static enum log_level
level_of(const char *s)
{
	if (strcmp(s, "debug") == 0)
		return LOG_LEVEL_DEBUG;
	if (strcmp(s, "warn") == 0)
		return LOG_LEVEL_WARN;
	if (strcmp(s, "error") == 0)
		return LOG_LEVEL_ERROR;
	return LOG_LEVEL_INFO;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	char *cause = NULL, *dbpw = NULL, *redispw = NULL, *amqppw = NULL;
	char threads[16];
	struct rlimit rl;
	int ch, test = 0, rc = 1;

	log_init("chatd");
	while ((ch = getopt(argc, argv, "c:th")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (path == NULL) {
		usage();
		return 2;
	}
	config_defaults(&cfg);
	if (config_load(&cfg, path, &cause) != 0)
		goto out;
	log_set_level(level_of(cfg.log_level));
	if ((dbpw = config_read_secret(cfg.db_password_file, &cause)) == NULL ||
	    (redispw = config_read_secret(cfg.redis_password_file, &cause)) ==
		NULL ||
	    (amqppw = config_read_secret(cfg.amqp_password_file, &cause)) ==
		NULL)
		goto out;
	if (test) {
		printf("configuration '%s' is valid\n", path);
		rc = 0;
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	/* Every socket is a descriptor: use all the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open files limit");
	}
	if (sodium_init() < 0) {
		cause = xstrdup("cannot initialise libsodium");
		goto out;
	}
	/* The worker pool is libuv's; size it before its first use. */
	snprintf(threads, sizeof threads, "%d", cfg.workers);
	setenv("UV_THREADPOOL_SIZE", threads, 1);
	mysql_library_init(0, NULL, NULL);
	db_setup(&cfg, dbpw);
	if (db_migrate(&cause) != 0)
		goto out;
	db_reset();
	store_init();
	route_cleanup_stale(redispw);

	loop = uv_default_loop();
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_timer_init(loop, &stop_timer);
	uv_signal_start(&sigterm, signal_cb, SIGTERM);
	uv_signal_start(&sigint, signal_cb, SIGINT);
	if (route_init(redispw, &cause) != 0 || amqp_start(amqppw, &cause) != 0)
		goto out;
	if (server_start(&cause) != 0)
		goto out;
	log_info("instance %s listening on %s:%d", cfg.instance_id,
	    cfg.listen_address, cfg.listen_port);
	sd_notify(0, "READY=1");

	uv_run(loop, UV_RUN_DEFAULT);
	if (uv_loop_close(loop) != 0)
		log_debug("the loop still had handles at exit");
	log_info("instance %s stopped", cfg.instance_id);
	rc = 0;
out:
	if (cause != NULL) {
		log_error("%s", cause);
		free(cause);
	}
	if (dbpw != NULL)
		sodium_memzero(dbpw, strlen(dbpw));
	if (amqppw != NULL)
		sodium_memzero(amqppw, strlen(amqppw));
	free(dbpw);
	free(redispw);
	free(amqppw);
	config_free(&cfg);
	return rc;
}
