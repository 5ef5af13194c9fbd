/*
 * The backends, locked down and checked: MariaDB (root by unix socket
 * only, no anonymous users, no test database, a chat database and a
 * least-privilege user), RabbitMQ (no guest), and a health gate after
 * every start that waits, bounded, until the service really answers.
 *
 * The lockdown's SQL goes to the mariadb client on standard input, never
 * in argv, since it can hold a password; the gates log in through
 * libmariadb, hiredis, rabbitmq-c and libcurl (probe.h).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answers.h"
#include "buf.h"
#include "engine.h"
#include "event.h"
#include "log.h"
#include "probe.h"
#include "secrets.h"
#include "steps.h"
#include "xmalloc.h"

/* Debian's MariaDB socket, where root logs in by unix_socket. */
#define MARIADB_SOCKET "/run/mysqld/mysqld.sock"

/* What chatd may do in its own database, and nothing elsewhere. */
#define MARIADB_GRANTS                                                         \
	"SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, "         \
	"REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES"

static const char *
step_bind(struct engine *e)
{
	const char *s;

	s = json_string_value(json_object_get(e->vars, "bind_address"));
	return s != NULL ? s : "127.0.0.1";
}

static int
step_port(struct engine *e, const char *component, const char *key)
{
	json_t *c;

	c = json_object_get(json_object_get(e->vars, "components"), component);
	return (int)json_integer_value(json_object_get(c, key));
}

static char *
step_secret(struct engine *e, const char *name, char **cause)
{
	char *dir, *s;

	dir = engine_path(e, SECRETS_DIR);
	s = secret_read(dir, name, cause);
	free(dir);
	return s;
}

static void
step_secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

int
step_sql(const char *sql, struct buf *out, char **cause)
{
	char *argv[] = {
	    "mariadb", "--protocol=socket", "-u", "root", "-N", "-B", NULL};

	return step_run(argv, sql, strlen(sql), 60000, out, cause);
}

static char *
step_mariadb_state_sql(struct engine *e, const char *pw)
{
	return xasprintf(
	    "SELECT CONCAT_WS(' ',"
	    " (SELECT COUNT(*) FROM mysql.global_priv WHERE User=''),"
	    " (SELECT COUNT(*) FROM information_schema.SCHEMATA"
	    "  WHERE SCHEMA_NAME='test'),"
	    " (SELECT COUNT(*) FROM mysql.global_priv WHERE User='root'"
	    "  AND (Host<>'localhost' OR JSON_VALUE(Priv,'$.plugin')"
	    "  <> 'unix_socket' OR JSON_SEARCH(JSON_EXTRACT(Priv,"
	    "  '$.auth_or'),'one','%%') IS NOT NULL)),"
	    " (SELECT COUNT(*) FROM information_schema.SCHEMATA"
	    "  WHERE SCHEMA_NAME='chat'),"
	    " (SELECT COUNT(*) FROM mysql.user WHERE User='chatd'"
	    "  AND Host='%s' AND authentication_string=PASSWORD('%s')),"
	    " (SELECT COUNT(*) FROM mysql.db WHERE User='chatd'"
	    "  AND Host='%s' AND Db='chat' AND Select_priv='Y'"
	    "  AND Insert_priv='Y' AND Update_priv='Y' AND Delete_priv='Y'"
	    "  AND Create_priv='Y' AND Alter_priv='Y' AND Index_priv='Y'"
	    "  AND Drop_priv='Y' AND References_priv='Y'"
	    "  AND Grant_priv='N'),"
	    " (SELECT COUNT(*) FROM mysql.user WHERE User='chatd'"
	    "  AND (Select_priv='Y' OR Super_priv='Y' OR File_priv='Y'"
	    "  OR Grant_priv='Y')));\n",
	    step_bind(e), pw, step_bind(e));
}

static int
step_mariadb_check(struct engine *e, struct step *s, char **cause)
{
	struct buf out = BUF_INIT;
	char *pw = NULL, *sql = NULL;
	int anon, test, root, db, user, grants, global, rc = STEP_ERROR;

	if ((pw = step_secret(e, SECRET_MARIADB, cause)) == NULL)
		goto todo_all;
	sql = step_mariadb_state_sql(e, pw);
	if (step_sql(sql, &out, cause) == -1)
		goto todo_all;
	if (out.data == NULL ||
	    sscanf(out.data, "%d %d %d %d %d %d %d", &anon, &test, &root, &db,
		&user, &grants, &global) != 7) {
		*cause = xstrdup("cannot read MariaDB's user tables");
		goto out;
	}
	rc = STEP_DONE;
	if (anon > 0) {
		step_change(s, CHANGE_USER, "MariaDB anonymous users", "drop");
		rc = STEP_TODO;
	}
	if (test > 0) {
		step_change(s, CHANGE_DATABASE, "test", "drop");
		rc = STEP_TODO;
	}
	if (root > 0) {
		step_change(s, CHANGE_USER, "MariaDB root",
		    "unix socket only, localhost only");
		rc = STEP_TODO;
	}
	if (db == 0) {
		step_change(s, CHANGE_DATABASE, "chat", "create");
		rc = STEP_TODO;
	}
	if (user == 0 || grants == 0 || global > 0) {
		step_change(s, CHANGE_USER, "MariaDB chatd",
		    "create, password, privileges on chat.* only");
		rc = STEP_TODO;
	}
	goto out;

todo_all:
	/* Not running or not installed yet: all of it is to do. */
	free(*cause);
	*cause = NULL;
	step_change(s, CHANGE_DATABASE, "chat", "create");
	step_change(s, CHANGE_USER, "MariaDB chatd",
	    "create, privileges on chat.* only");
	step_change(s, CHANGE_USER, "MariaDB root",
	    "unix socket only; anonymous users and test database dropped");
	rc = STEP_TODO;
out:
	if (sql != NULL) {
		explicit_bzero(sql, strlen(sql));
		free(sql);
	}
	step_secret_free(pw);
	buf_free(&out);
	return rc;
}

static int
step_mariadb_apply(struct engine *e, struct step *s, char **cause)
{
	char *pw, *sql;
	const char *host = step_bind(e);
	int rc;

	(void)s;
	if ((pw = step_secret(e, SECRET_MARIADB, cause)) == NULL)
		return -1;
	sql = xasprintf(
	    "DELETE FROM mysql.global_priv WHERE User='';\n"
	    "DELETE FROM mysql.db WHERE User='';\n"
	    "DELETE FROM mysql.global_priv WHERE User='root'"
	    " AND Host<>'localhost';\n"
	    "DROP DATABASE IF EXISTS test;\n"
	    "DELETE FROM mysql.db WHERE Db='test' OR Db='test\\_%%';\n"
	    "FLUSH PRIVILEGES;\n"
	    "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;\n"
	    "CREATE DATABASE IF NOT EXISTS chat"
	    " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
	    "CREATE USER IF NOT EXISTS 'chatd'@'%s' IDENTIFIED BY '%s';\n"
	    "ALTER USER 'chatd'@'%s' IDENTIFIED BY '%s';\n"
	    "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'chatd'@'%s';\n"
	    "GRANT " MARIADB_GRANTS " ON chat.* TO 'chatd'@'%s';\n"
	    "FLUSH PRIVILEGES;\n",
	    host, pw, host, pw, host, host);
	rc = step_sql(sql, NULL, cause);
	explicit_bzero(sql, strlen(sql));
	free(sql);
	step_secret_free(pw);
	if (rc == 0)
		log_info("secured MariaDB: root by unix socket only, database "
			 "'chat', user 'chatd'@'%s'",
		    host);
	return rc;
}

static const struct step_ops step_mariadb_ops = {
    .check = step_mariadb_check,
    .apply = step_mariadb_apply,
};

struct step *
step_add_mariadb_secure(struct engine *e)
{
	struct step *s;

	s = engine_add(e, "mariadb.secure",
	    "Secure MariaDB and create the chat database and user",
	    &step_mariadb_ops, NULL);
	s->component = "mariadb";
	return s;
}

/*
 * RabbitMQ's guest: gone when the broker refuses guest/guest. A broker
 * that does not answer (not installed or started yet) proves nothing,
 * so the step stays to do.
 */
static int
step_guest_probe(struct engine *e, char **cause)
{
	return probe_amqp(step_bind(e), step_port(e, "rabbitmq", "port"), "/",
	    "guest", "guest", cause);
}

static int
step_guest_check(struct engine *e, struct step *s, char **cause)
{
	char *why = NULL;
	int rc;

	(void)cause;
	rc = step_guest_probe(e, &why);
	if (rc == PROBE_REFUSED) {
		free(why);
		return STEP_DONE;
	}
	if (rc == -1) {
		log_debug("guest login not tried: %s", why);
		free(why);
	}
	step_change(s, CHANGE_USER, "RabbitMQ guest", "delete");
	return STEP_TODO;
}

/* Deleting a guest that is gone already is no failure: the probe says. */
static int
step_guest_apply(struct engine *e, struct step *s, char **cause)
{
	char *argv[] = {"rabbitmqctl", "delete_user", "guest", NULL};
	char *why = NULL;

	(void)s;
	if (step_run(argv, NULL, 0, 60000, NULL, cause) == 0)
		return 0;
	if (step_guest_probe(e, &why) == PROBE_REFUSED) {
		free(why);
		free(*cause);
		*cause = NULL;
		return 0;
	}
	free(why);
	return -1;
}

static const struct step_ops step_guest_ops = {
    .check = step_guest_check,
    .apply = step_guest_apply,
};

struct step *
step_add_rabbitmq_guest(struct engine *e)
{
	struct step *s;

	s = engine_add(e, "rabbitmq.guest", "Remove RabbitMQ's guest user",
	    &step_guest_ops, NULL);
	s->component = "rabbitmq";
	return s;
}

/* The Erlang cookie: the generated secret, 0400, owned by rabbitmq. */
static int
step_cookie_io(struct engine *e, struct step *s, int apply, char **cause)
{
	char *cookie;
	int rc;

	if ((cookie = step_secret(e, SECRET_COOKIE, cause)) == NULL) {
		if (apply)
			return -1;
		free(*cause);
		*cause = NULL;
		step_change(s, CHANGE_FILE, RABBITMQ_COOKIE,
		    "(new file, contents hidden)");
		return STEP_TODO;
	}
	if (apply) {
		journal_set_pending(e, "rabbitmq-server.service", 1);
		if ((rc = journal_save(e, cause)) == 0)
			rc = engine_write_file(e, s, RABBITMQ_COOKIE, cookie,
			    strlen(cookie), 0400, step_uid("rabbitmq"),
			    step_gid("rabbitmq"), cause);
	} else
		rc = engine_check_file(e, s, RABBITMQ_COOKIE, cookie,
		    strlen(cookie), 0400, step_uid("rabbitmq"),
		    step_gid("rabbitmq"), 1, cause);
	step_secret_free(cookie);
	return rc;
}

static int
step_cookie_check(struct engine *e, struct step *s, char **cause)
{
	return step_cookie_io(e, s, 0, cause);
}

static int
step_cookie_apply(struct engine *e, struct step *s, char **cause)
{
	return step_cookie_io(e, s, 1, cause);
}

static const struct step_ops step_cookie_ops = {
    .check = step_cookie_check,
    .apply = step_cookie_apply,
};

struct step *
step_add_rabbitmq_cookie(struct engine *e)
{
	struct step *s;

	s = engine_add(e, "rabbitmq.cookie", "Write the Erlang cookie",
	    &step_cookie_ops, NULL);
	s->component = "rabbitmq";
	return s;
}

/*
 * Health gates. Each polls its probe until it answers or the time is up;
 * then the step fails with the probe's last answer and the unit's last
 * journal lines.
 */
struct step_gate {
	char *unit;
	int timeout_s;
	int instance;
	int (*probe)(struct engine *, struct step_gate *, char **);
};

static void
step_gate_free(void *arg)
{
	struct step_gate *g = arg;

	free(g->unit);
	free(g);
}

static int
gate_mariadb(struct engine *e, struct step_gate *g, char **cause)
{
	char *pw;
	int rc;

	(void)g;
	if ((pw = step_secret(e, SECRET_MARIADB, cause)) == NULL)
		return -1;
	rc = probe_mariadb(step_bind(e), step_port(e, "mariadb", "port"),
	    "chatd", pw, "chat", cause);
	step_secret_free(pw);
	return rc;
}

static int
gate_mariadb_root(struct engine *e, struct step_gate *g, char **cause)
{
	(void)e;
	(void)g;
	return probe_mariadb(MARIADB_SOCKET, 0, "root", NULL, NULL, cause);
}

static int
gate_redis(struct engine *e, struct step_gate *g, char **cause)
{
	char *pw;
	int rc, port = step_port(e, "redis", "port");

	(void)g;
	if ((pw = step_secret(e, SECRET_REDIS, cause)) == NULL)
		return -1;
	rc = probe_redis(step_bind(e), port, "chatd", pw, cause);
	step_secret_free(pw);
	if (rc == 0)
		rc = probe_redis_noauth(step_bind(e), port, cause);
	return rc;
}

static int
gate_rabbitmq(struct engine *e, struct step_gate *g, char **cause)
{
	char *pw;
	int rc;

	(void)g;
	if ((pw = step_secret(e, SECRET_RABBITMQ, cause)) == NULL)
		return -1;
	rc = probe_amqp(step_bind(e), step_port(e, "rabbitmq", "port"), "chat",
	    "chatd", pw, cause);
	step_secret_free(pw);
	return rc;
}

static int
gate_chatd(struct engine *e, struct step_gate *g, char **cause)
{
	json_t *c;
	int port;

	c = json_object_get(json_object_get(e->vars, "components"), "chatd");
	port = (int)json_integer_value(json_object_get(c, "port"));
	return probe_http(
	    step_bind(e), port + g->instance - 1, "/readyz", cause);
}

static int
step_gate_check(struct engine *e, struct step *s, char **cause)
{
	struct step_gate *g = s->arg;
	struct timespec start, now, pause = {0, 250 * 1000 * 1000};
	char *why = NULL, *msg;
	int waited = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		free(why);
		why = NULL;
		if (g->probe(e, g, &why) == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= g->timeout_s) {
			*cause = xasprintf("%s did not answer within %d s: %s",
			    g->unit, g->timeout_s, why ? why : "no answer");
			free(why);
			step_journal_tail(g->unit, cause);
			return STEP_ERROR;
		}
		if (!waited) {
			msg = xasprintf("waiting for %s to answer (at most "
					"%d s)",
			    g->unit, g->timeout_s);
			event_step_progress(s->id, 0, 0, msg);
			free(msg);
			waited = 1;
		}
		nanosleep(&pause, NULL);
	}
	free(why);
	return STEP_DONE;
}

static int
step_gate_apply(struct engine *e, struct step *s, char **cause)
{
	(void)e;
	(void)s;
	*cause = xstrdup("a health gate cannot be applied");
	return -1;
}

static const struct step_ops step_gate_ops = {
    .check = step_gate_check,
    .apply = step_gate_apply,
    .free = step_gate_free,
};

static const struct {
	const char *name;
	const char *title;
	int (*probe)(struct engine *, struct step_gate *, char **);
	int timeout_s;
} step_gates[] = {
    {"mariadb-root", "MariaDB answers its root over the unix socket",
	gate_mariadb_root, 60},
    {"mariadb", "MariaDB answers chatd's login", gate_mariadb, 30},
    {"redis", "Redis answers PING after AUTH, and nothing without", gate_redis,
	30},
    {"rabbitmq", "RabbitMQ accepts chatd's AMQP login", gate_rabbitmq, 120},
    {"chatd", "chatd answers /readyz", gate_chatd, 60},
};

struct step *
step_add_gate(
    struct engine *e, const char *name, const char *unit, int instance)
{
	struct step_gate *g;
	struct step *s;
	char *id, *title;
	size_t i;

	for (i = 0; i < sizeof step_gates / sizeof step_gates[0]; i++) {
		if (strcmp(step_gates[i].name, name) == 0)
			break;
	}
	if (i == sizeof step_gates / sizeof step_gates[0])
		abort();
	g = xcalloc(1, sizeof *g);
	g->unit = xstrdup(unit);
	g->timeout_s = step_gates[i].timeout_s;
	g->probe = step_gates[i].probe;
	g->instance = instance;
	if (instance > 0) {
		id = xasprintf("health.%s@%d", name, instance);
		title = xasprintf(
		    "%s (instance %d)", step_gates[i].title, instance);
	} else {
		id = xasprintf("health.%s", name);
		title = xstrdup(step_gates[i].title);
	}
	s = engine_add(e, id, title, &step_gate_ops, g);
	s->gate = 1;
	free(id);
	free(title);
	return s;
}

int
step_probe(struct engine *e, const char *name, int instance, char **cause)
{
	struct step_gate g;
	size_t i;

	for (i = 0; i < sizeof step_gates / sizeof step_gates[0]; i++) {
		if (strcmp(step_gates[i].name, name) != 0)
			continue;
		memset(&g, 0, sizeof g);
		g.instance = instance;
		return step_gates[i].probe(e, &g, cause);
	}
	*cause = xasprintf("no probe named '%s'", name);
	return -1;
}
