/*
 * The health gates' probes against real services on loopback: Redis with
 * an ACL user and the default user off (and one with no auth at all),
 * RabbitMQ with a vhost and a user, MariaDB with a user and root by
 * unix_socket, python's http.server, a listener that never answers and a
 * port where nothing listens. Each service starts on the first test that
 * needs it and stops after the last; a missing binary skips its tests.
 * Our port range is 28000-28999.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
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
#include <openssl/rand.h>

#include "../../installer/probe.h"
#include "buf.h"
#include "spawn.h"
#include "tmpdir.h"
#include "xmalloc.h"

#define HOST "127.0.0.1"
#define PORT_REDIS 28379
#define PORT_REDIS_OPEN 28380
#define PORT_HTTP 28080
#define PORT_SILENT 28090
#define PORT_NOTHING 28099
#define PORT_MARIADB 28306
#define PORT_AMQP 28672
#define PORT_EPMD 28369
#define PORT_DIST 28670

#define REDIS_SERVER "/usr/bin/redis-server"
#define PYTHON "/usr/bin/python3"
#define MARIADBD "/usr/sbin/mariadbd"
#define MARIADB_INSTALL_DB "/usr/bin/mariadb-install-db"
#define MARIADB "/usr/bin/mariadb"
#define EPMD "/usr/bin/epmd"
#define RABBITMQ_SERVER "/usr/lib/rabbitmq/bin/rabbitmq-server"

extern char **environ;

/* One service we started: a process group led by pid. */
struct svc {
	const char *name;
	pid_t pid;
	int tried;
	char why[256]; /* set when it could not start: the skip's reason */
};

static char dir[] = "/tmp/test-probe-XXXXXX";
static char password[33], amqp_password[33], db_password[33];
static int silent_fd = -1;
static struct svc redis = {.name = "redis"}, redis_open = {.name = "redis"},
		  http = {.name = "http"}, mariadb = {.name = "mariadb"},
		  epmd = {.name = "epmd"}, rabbitmq = {.name = "rabbitmq"};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
random_hex(char *out, size_t n)
{
	unsigned char raw[16];
	size_t i;

	assert_int_equal(RAND_bytes(raw, sizeof raw), 1);
	for (i = 0; i < sizeof raw && 2 * i + 2 < n + 1; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static void
write_private(const char *name, const char *text)
{
	int fd;

	fd = open(tmpdir_path(dir, name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Starts argv in its own process group, its output into dir/NAME.log. */
static void
svc_spawn(struct svc *s, char *const argv[], char *const envp[])
{
	char log[512];
	int fd;

	snprintf(log, sizeof log, "%s/%s.log", dir, s->name);
	s->pid = fork();
	assert_true(s->pid != -1);
	if (s->pid == 0) {
		setsid();
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd == -1)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, 0);
		execve(argv[0], argv, envp != NULL ? envp : environ);
		_exit(127);
	}
}

static int
port_answers(int port)
{
	struct sockaddr_in sin;
	int fd, rc;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	rc = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return rc;
}

/* Waits until the service listens; 0, or -1 with s->why set. */
static int
svc_wait(struct svc *s, int port, int seconds)
{
	struct timespec pause = {0, 100 * 1000 * 1000};
	double end = now() + seconds;
	int status;

	while (now() < end) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			snprintf(s->why, sizeof s->why,
			    "%s exited before listening; see %s/%s.log",
			    s->name, dir, s->name);
			s->pid = 0;
			return -1;
		}
		if (port_answers(port))
			return 0;
		nanosleep(&pause, NULL);
	}
	snprintf(s->why, sizeof s->why, "%s did not listen on port %d in %d s",
	    s->name, port, seconds);
	return -1;
}

static void
svc_stop(struct svc *s)
{
	struct timespec pause = {0, 100 * 1000 * 1000};
	pid_t pid = s->pid;
	int i;

	if (pid <= 0)
		return;
	s->pid = 0;
	kill(-pid, SIGTERM);
	for (i = 0; i < 300; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			/* What the leader left in its group (rabbitmq's). */
			kill(-pid, SIGKILL);
			return;
		}
		nanosleep(&pause, NULL);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Skips the calling test when the service is not there. */
static int
svc_need(struct svc *s, const char *binary)
{
	if (access(binary, X_OK) != 0) {
		print_message("skipping: %s is not installed\n", binary);
		return -1;
	}
	if (s->why[0] != '\0') {
		print_message("skipping: %s\n", s->why);
		return -1;
	}
	return 0;
}

static int
need_redis(void)
{
	char conf[1024], *argv[] = {REDIS_SERVER, NULL, NULL};

	if (svc_need(&redis, REDIS_SERVER) == -1)
		return -1;
	if (redis.tried)
		return 0;
	redis.tried = redis_open.tried = 1;

	/* chatd's ACL user, as the installer writes it: default off. */
	snprintf(conf, sizeof conf,
	    "port %d\nbind %s\ndir %s\nsave \"\"\nappendonly no\n"
	    "user default off\nuser chatd on >%s ~* &* +@all\n",
	    PORT_REDIS, HOST, dir, password);
	write_private("redis.conf", conf);
	argv[1] = xstrdup(tmpdir_path(dir, "redis.conf"));
	svc_spawn(&redis, argv, NULL);
	free(argv[1]);

	snprintf(conf, sizeof conf,
	    "port %d\nbind %s\ndir %s\nsave \"\"\nappendonly no\n"
	    "protected-mode no\ndbfilename open.rdb\n",
	    PORT_REDIS_OPEN, HOST, dir);
	write_private("redis-open.conf", conf);
	argv[1] = xstrdup(tmpdir_path(dir, "redis-open.conf"));
	redis_open.name = "redis-open";
	svc_spawn(&redis_open, argv, NULL);
	free(argv[1]);

	if (svc_wait(&redis, PORT_REDIS, 20) == -1 ||
	    svc_wait(&redis_open, PORT_REDIS_OPEN, 20) == -1) {
		if (redis.why[0] == '\0')
			memcpy(redis.why, redis_open.why, sizeof redis.why);
		print_message("skipping: %s\n", redis.why);
		return -1;
	}
	return 0;
}

static int
need_http(void)
{
	char port[16],
	    *argv[] = {PYTHON, "-m", "http.server", "--bind", HOST,
		"--directory", NULL, port, NULL};

	if (svc_need(&http, PYTHON) == -1)
		return -1;
	if (http.tried)
		return 0;
	http.tried = 1;
	snprintf(port, sizeof port, "%d", PORT_HTTP);
	assert_int_equal(mkdir(tmpdir_path(dir, "www"), 0700), 0);
	write_private("www/readyz", "ready\n");
	argv[6] = xstrdup(tmpdir_path(dir, "www"));
	svc_spawn(&http, argv, NULL);
	free(argv[6]);
	if (svc_wait(&http, PORT_HTTP, 20) == -1) {
		print_message("skipping: %s\n", http.why);
		return -1;
	}
	return 0;
}

/* A socket that takes connections (the kernel's backlog) and never reads. */
static void
need_silent(void)
{
	struct sockaddr_in sin;
	int on = 1;

	if (silent_fd != -1)
		return;
	silent_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(silent_fd != -1);
	setsockopt(silent_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(PORT_SILENT);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(
	    bind(silent_fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(silent_fd, 16), 0);
}

static int
run_quiet(char *const argv[], const char *input, char **out)
{
	struct spawn sp = {
	    .argv = argv, .merge_stderr = 1, .timeout_ms = 60000};
	char *cause = NULL;
	int rc;

	sp.input = input;
	sp.inputlen = input != NULL ? strlen(input) : 0;
	if (spawn_run(&sp, &cause) == -1) {
		*out = cause;
		return -1;
	}
	rc = sp.status == 0 ? 0 : -1;
	*out = sp.out.data != NULL ? xstrdup(sp.out.data) : xstrdup("");
	spawn_free(&sp);
	return rc;
}

static int
need_mariadb(void)
{
	char datadir[512], sock[512], opt[5][600], port[16], sql[512], *out;
	char *install[] = {MARIADB_INSTALL_DB, "--no-defaults", opt[0],
	    "--user=root", "--skip-test-db",
	    "--auth-root-authentication-method=socket", NULL};
	char *server[] = {MARIADBD, "--no-defaults", opt[1], opt[2], opt[3],
	    "--bind-address=" HOST, "--user=root", opt[4],
	    "--innodb-buffer-pool-size=16M", "--skip-log-bin", NULL};
	char *client[] = {MARIADB, "--no-defaults", NULL, "-uroot", NULL};

	if (svc_need(&mariadb, MARIADBD) == -1 ||
	    svc_need(&mariadb, MARIADB_INSTALL_DB) == -1)
		return -1;
	if (mariadb.tried)
		return 0;
	mariadb.tried = 1;
	snprintf(datadir, sizeof datadir, "%s/mariadb", dir);
	snprintf(sock, sizeof sock, "%s/mariadb.sock", dir);
	snprintf(port, sizeof port, "%d", PORT_MARIADB);
	snprintf(opt[0], sizeof opt[0], "--datadir=%s", datadir);
	snprintf(opt[1], sizeof opt[1], "--datadir=%s", datadir);
	snprintf(opt[2], sizeof opt[2], "--socket=%s", sock);
	snprintf(opt[3], sizeof opt[3], "--port=%s", port);
	snprintf(
	    opt[4], sizeof opt[4], "--log-error=%s/mariadb-error.log", dir);
	if (run_quiet(install, NULL, &out) == -1) {
		snprintf(mariadb.why, sizeof mariadb.why,
		    "mariadb-install-db failed: %.180s", out);
		free(out);
		print_message("skipping: %s\n", mariadb.why);
		return -1;
	}
	free(out);
	svc_spawn(&mariadb, server, NULL);
	if (svc_wait(&mariadb, PORT_MARIADB, 60) == -1) {
		print_message("skipping: %s\n", mariadb.why);
		return -1;
	}
	/* The password goes on standard input, as the installer's does. */
	snprintf(sql, sizeof sql,
	    "CREATE DATABASE chat;\n"
	    "CREATE USER 'chatd'@'127.0.0.1' IDENTIFIED BY '%s';\n"
	    "GRANT SELECT ON chat.* TO 'chatd'@'127.0.0.1';\n",
	    db_password);
	snprintf(opt[0], sizeof opt[0], "--socket=%s", sock);
	client[2] = opt[0];
	if (run_quiet(client, sql, &out) == -1) {
		snprintf(mariadb.why, sizeof mariadb.why,
		    "cannot create the test user: %.180s", out);
		free(out);
		print_message("skipping: %s\n", mariadb.why);
		return -1;
	}
	free(out);
	return 0;
}

/* RabbitMQ's stored form: base64(salt, SHA-256(salt, password)). */
static char *
rabbit_hash(const char *pw)
{
	unsigned char in[4 + 64], out[4 + 32], text[128];
	unsigned int n;

	assert_int_equal(RAND_bytes(in, 4), 1);
	memcpy(out, in, 4);
	memcpy(in + 4, pw, strlen(pw));
	assert_int_equal(
	    EVP_Digest(in, 4 + strlen(pw), out + 4, &n, EVP_sha256(), NULL), 1);
	EVP_EncodeBlock(text, out, 36);
	return xstrdup((char *)text);
}

static int
need_rabbitmq(void)
{
	char port[16], *hash, *defs, *conf, *env[17];
	char *epmd_argv[] = {EPMD, "-port", port, "-address", HOST, NULL};
	char *rabbit_argv[] = {RABBITMQ_SERVER, NULL};
	char *why = NULL;
	double end;
	size_t i = 0;

	if (svc_need(&rabbitmq, RABBITMQ_SERVER) == -1 ||
	    svc_need(&rabbitmq, EPMD) == -1)
		return -1;
	if (rabbitmq.tried)
		return 0;
	rabbitmq.tried = 1;

	/* Our own epmd on our port, so that we can stop it after. */
	snprintf(port, sizeof port, "%d", PORT_EPMD);
	svc_spawn(&epmd, epmd_argv, NULL);
	if (svc_wait(&epmd, PORT_EPMD, 10) == -1) {
		memcpy(rabbitmq.why, epmd.why, sizeof rabbitmq.why);
		print_message("skipping: %s\n", rabbitmq.why);
		return -1;
	}

	assert_int_equal(mkdir(tmpdir_path(dir, "rabbitmq"), 0700), 0);
	hash = rabbit_hash(amqp_password);
	defs = xasprintf("{\"users\": [{\"name\": \"chatd\", \"tags\": \"\", "
			 "\"password_hash\": \"%s\", \"hashing_algorithm\": "
			 "\"rabbit_password_hashing_sha256\"}],"
			 " \"vhosts\": [{\"name\": \"chat\"}, {\"name\": "
			 "\"other\"}],"
			 " \"permissions\": [{\"user\": \"chatd\", \"vhost\": "
			 "\"chat\", \"configure\": \".*\", \"write\": \".*\", "
			 "\"read\": \".*\"}]}\n",
	    hash);
	write_private("rabbitmq/definitions.json", defs);
	conf = xasprintf("listeners.tcp.default = %s:%d\n"
			 "load_definitions = %s/rabbitmq/definitions.json\n"
			 "log.console = false\nlog.file.level = warning\n",
	    HOST, PORT_AMQP, dir);
	write_private("rabbitmq/rabbitmq.conf", conf);
	write_private("rabbitmq/enabled_plugins", "[].\n");
	write_private("rabbitmq/env.conf", "");
	free(hash);
	free(defs);
	free(conf);

	env[i++] = xstrdup("PATH=/usr/bin:/bin:/usr/sbin:/sbin");
	env[i++] = xasprintf("HOME=%s/rabbitmq", dir);
	env[i++] = xstrdup("RABBITMQ_NODENAME=probetest@localhost");
	env[i++] = xstrdup("RABBITMQ_NODE_IP_ADDRESS=" HOST);
	env[i++] = xasprintf("RABBITMQ_NODE_PORT=%d", PORT_AMQP);
	env[i++] = xasprintf("RABBITMQ_DIST_PORT=%d", PORT_DIST);
	env[i++] = xasprintf("ERL_EPMD_PORT=%d", PORT_EPMD);
	env[i++] = xstrdup("ERL_EPMD_ADDRESS=" HOST);
	env[i++] = xasprintf("RABBITMQ_MNESIA_BASE=%s/rabbitmq/mnesia", dir);
	env[i++] = xasprintf("RABBITMQ_LOG_BASE=%s/rabbitmq/log", dir);
	env[i++] =
	    xasprintf("RABBITMQ_CONFIG_FILE=%s/rabbitmq/rabbitmq.conf", dir);
	env[i++] = xasprintf(
	    "RABBITMQ_ENABLED_PLUGINS_FILE=%s/rabbitmq/enabled_plugins", dir);
	env[i++] =
	    xasprintf("RABBITMQ_CONF_ENV_FILE=%s/rabbitmq/env.conf", dir);
	env[i++] = xasprintf("RABBITMQ_PID_FILE=%s/rabbitmq/pid", dir);
	env[i++] = xstrdup("RABBITMQ_SERVER_ERL_ARGS=+A 4");
	env[i] = NULL;
	svc_spawn(&rabbitmq, rabbit_argv, env);
	while (i > 0)
		free(env[--i]);
	if (svc_wait(&rabbitmq, PORT_AMQP, 120) == -1) {
		print_message("skipping: %s\n", rabbitmq.why);
		return -1;
	}

	/* The listener may open before the definitions are in. */
	end = now() + 30;
	while (probe_amqp(HOST, PORT_AMQP, "chat", "chatd", amqp_password,
		   &why) == -1 &&
	    now() < end) {
		free(why);
		why = NULL;
		sleep(1);
	}
	if (why != NULL) {
		snprintf(rabbitmq.why, sizeof rabbitmq.why,
		    "rabbitmq never accepted the test user: %.180s", why);
		free(why);
		print_message("skipping: %s\n", rabbitmq.why);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (tmpdir_make(dir) == -1)
		return -1;
	random_hex(password, sizeof password - 1);
	random_hex(amqp_password, sizeof amqp_password - 1);
	random_hex(db_password, sizeof db_password - 1);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	svc_stop(&redis);
	svc_stop(&redis_open);
	svc_stop(&http);
	svc_stop(&mariadb);
	svc_stop(&rabbitmq);
	svc_stop(&epmd);
	if (silent_fd != -1)
		close(silent_fd);
	if (getenv("PROBE_TEST_KEEP") == NULL)
		tmpdir_remove(dir);
	return 0;
}

/* The cause contains want, and is printed so that a reader sees it. */
static void
assert_cause(char *cause, const char *want)
{
	assert_non_null(cause);
	int found;

	print_message("cause: %s\n", cause);
	found = strstr(cause, want) != NULL;
	free(cause);
	if (!found)
		fail_msg("the cause does not say '%s'", want);
}

/*
 * The bound a probe must keep against a silent peer: its own steps (at
 * most three timeouts) and some slack for a loaded machine. This is the
 * "never hangs" promise, not a speed figure.
 */
static void
assert_bounded(double start)
{
	double took = now() - start;

	print_message("gave up after %.1f s\n", took);
	assert_true(took < 3 * PROBE_TIMEOUT_S + 2);
}

static void
test_redis_user_with_right_password_answers(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_redis() == -1)
		skip();
	assert_int_equal(
	    probe_redis(HOST, PORT_REDIS, "chatd", password, &cause), 0);
	assert_null(cause);
}

static void
test_redis_wrong_password_is_refused_with_the_reason(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_redis() == -1)
		skip();
	assert_int_equal(
	    probe_redis(HOST, PORT_REDIS, "chatd", "not-it", &cause), -1);
	assert_cause(cause, "refused user 'chatd': WRONGPASS");
}

static void
test_redis_default_user_is_refused(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_redis() == -1)
		skip();
	assert_int_equal(
	    probe_redis(HOST, PORT_REDIS, "default", password, &cause), -1);
	assert_cause(cause, "refused user 'default'");
}

static void
test_redis_noauth_passes_when_redis_refuses_strangers(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_redis() == -1)
		skip();
	assert_int_equal(probe_redis_noauth(HOST, PORT_REDIS, &cause), 0);
	assert_null(cause);
}

static void
test_redis_noauth_fails_when_redis_answers_anyone(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_redis() == -1)
		skip();
	assert_int_equal(probe_redis_noauth(HOST, PORT_REDIS_OPEN, &cause), -1);
	assert_cause(cause, "answers PING without authentication: PONG");
}

static void
test_redis_nothing_listening_says_connection_refused(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(
	    probe_redis(HOST, PORT_NOTHING, "chatd", "x", &cause), -1);
	assert_cause(cause, "Connection refused");
	assert_int_equal(probe_redis_noauth(HOST, PORT_NOTHING, &cause), -1);
	assert_cause(cause, "Connection refused");
}

static void
test_redis_silent_listener_times_out(void **state)
{
	char *cause = NULL;
	double start;

	(void)state;
	need_silent();
	start = now();
	assert_int_equal(
	    probe_redis(HOST, PORT_SILENT, "chatd", "x", &cause), -1);
	assert_bounded(start);
	assert_cause(cause, "did not answer within");
	start = now();
	assert_int_equal(probe_redis_noauth(HOST, PORT_SILENT, &cause), -1);
	assert_bounded(start);
	assert_cause(cause, "did not answer within");
}

static void
test_http_200_answers(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_http() == -1)
		skip();
	assert_int_equal(probe_http(HOST, PORT_HTTP, "/readyz", &cause), 0);
	assert_null(cause);
}

static void
test_http_404_is_reported_with_status(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_http() == -1)
		skip();
	assert_int_equal(probe_http(HOST, PORT_HTTP, "/missing", &cause), -1);
	assert_cause(
	    cause, "GET /missing on 127.0.0.1 port 28080 answered 404");
}

static void
test_http_nothing_listening_says_connection_refused(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(probe_http(HOST, PORT_NOTHING, "/readyz", &cause), -1);
	assert_cause(cause, "Connection refused");
}

static void
test_http_silent_listener_times_out(void **state)
{
	char *cause = NULL;
	double start;

	(void)state;
	need_silent();
	start = now();
	assert_int_equal(probe_http(HOST, PORT_SILENT, "/readyz", &cause), -1);
	assert_bounded(start);
	assert_cause(cause, "did not answer within");
}

static void
test_mariadb_user_with_right_password_answers(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_mariadb() == -1)
		skip();
	assert_int_equal(probe_mariadb(HOST, PORT_MARIADB, "chatd", db_password,
			     "chat", &cause),
	    0);
	assert_null(cause);
}

static void
test_mariadb_wrong_password_is_refused_with_the_reason(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_mariadb() == -1)
		skip();
	assert_int_equal(probe_mariadb(HOST, PORT_MARIADB, "chatd", "not-it",
			     "chat", &cause),
	    -1);
	assert_cause(cause, "refused user 'chatd': Access denied");
}

static void
test_mariadb_root_answers_over_the_socket(void **state)
{
	char sock[512], *cause = NULL;

	(void)state;
	if (need_mariadb() == -1)
		skip();
	if (geteuid() != 0) {
		print_message(
		    "skipping: root's unix_socket login needs uid 0\n");
		skip();
	}
	snprintf(sock, sizeof sock, "%s/mariadb.sock", dir);
	assert_int_equal(probe_mariadb(sock, 0, "root", NULL, NULL, &cause), 0);
	assert_null(cause);
}

static void
test_mariadb_nothing_listening_says_connection_refused(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(
	    probe_mariadb(HOST, PORT_NOTHING, "chatd", "x", "chat", &cause),
	    -1);
	assert_cause(cause, "Connection refused");
}

static void
test_mariadb_silent_listener_times_out(void **state)
{
	char *cause = NULL;
	double start;

	(void)state;
	need_silent();
	start = now();
	assert_int_equal(
	    probe_mariadb(HOST, PORT_SILENT, "chatd", "x", "chat", &cause), -1);
	assert_bounded(start);
	assert_cause(cause, "did not answer within");
}

static void
test_amqp_login_to_vhost_answers(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_rabbitmq() == -1)
		skip();
	assert_int_equal(
	    probe_amqp(HOST, PORT_AMQP, "chat", "chatd", amqp_password, &cause),
	    0);
	assert_null(cause);
}

static void
test_amqp_wrong_password_is_refused_with_the_reason(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_rabbitmq() == -1)
		skip();
	assert_int_equal(
	    probe_amqp(HOST, PORT_AMQP, "chat", "chatd", "not-it", &cause),
	    PROBE_REFUSED);
	assert_cause(cause,
	    "refused user 'chatd' on vhost 'chat': "
	    "ACCESS_REFUSED");
}

static void
test_amqp_vhost_without_permission_is_refused(void **state)
{
	char *cause = NULL;

	(void)state;
	if (need_rabbitmq() == -1)
		skip();
	assert_int_equal(probe_amqp(HOST, PORT_AMQP, "other", "chatd",
			     amqp_password, &cause),
	    PROBE_REFUSED);
	assert_cause(cause,
	    "refused user 'chatd' on vhost 'other': "
	    "NOT_ALLOWED");
	assert_int_equal(probe_amqp(HOST, PORT_AMQP, "nosuch", "chatd",
			     amqp_password, &cause),
	    PROBE_REFUSED);
	assert_cause(cause,
	    "refused user 'chatd' on vhost 'nosuch': "
	    "NOT_ALLOWED");
}

static void
test_amqp_nothing_listening_says_connection_refused(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(
	    probe_amqp(HOST, PORT_NOTHING, "chat", "chatd", "x", &cause), -1);
	assert_cause(cause, "Connection refused");
}

static void
test_amqp_silent_listener_times_out(void **state)
{
	char *cause = NULL;
	double start;

	(void)state;
	need_silent();
	start = now();
	assert_int_equal(
	    probe_amqp(HOST, PORT_SILENT, "chat", "chatd", "x", &cause), -1);
	assert_bounded(start);
	assert_cause(cause, "did not answer within");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redis_user_with_right_password_answers),
	    cmocka_unit_test(
		test_redis_wrong_password_is_refused_with_the_reason),
	    cmocka_unit_test(test_redis_default_user_is_refused),
	    cmocka_unit_test(
		test_redis_noauth_passes_when_redis_refuses_strangers),
	    cmocka_unit_test(test_redis_noauth_fails_when_redis_answers_anyone),
	    cmocka_unit_test(
		test_redis_nothing_listening_says_connection_refused),
	    cmocka_unit_test(test_redis_silent_listener_times_out),
	    cmocka_unit_test(test_http_200_answers),
	    cmocka_unit_test(test_http_404_is_reported_with_status),
	    cmocka_unit_test(
		test_http_nothing_listening_says_connection_refused),
	    cmocka_unit_test(test_http_silent_listener_times_out),
	    cmocka_unit_test(test_mariadb_user_with_right_password_answers),
	    cmocka_unit_test(
		test_mariadb_wrong_password_is_refused_with_the_reason),
	    cmocka_unit_test(test_mariadb_root_answers_over_the_socket),
	    cmocka_unit_test(
		test_mariadb_nothing_listening_says_connection_refused),
	    cmocka_unit_test(test_mariadb_silent_listener_times_out),
	    cmocka_unit_test(test_amqp_login_to_vhost_answers),
	    cmocka_unit_test(
		test_amqp_wrong_password_is_refused_with_the_reason),
	    cmocka_unit_test(test_amqp_vhost_without_permission_is_refused),
	    cmocka_unit_test(
		test_amqp_nothing_listening_says_connection_refused),
	    cmocka_unit_test(test_amqp_silent_listener_times_out),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
