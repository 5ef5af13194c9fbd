/* The chatd configuration file: "key = value", '#' comments. */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "xmalloc.h"

enum ctype {
	C_STR,
	C_INT,
	C_BOOL,
};

static const struct centry {
	const char *key;
	enum ctype type;
	size_t off;
	long min, max;
} centries[] = {
#define S(k)                                                                   \
	{                                                                      \
#k, C_STR, offsetof(struct config, k), 0, 0                    \
	}
#define I(k, lo, hi)                                                           \
	{                                                                      \
#k, C_INT, offsetof(struct config, k), lo, hi                  \
	}
#define B(k)                                                                   \
	{                                                                      \
#k, C_BOOL, offsetof(struct config, k), 0, 1                   \
	}
    S(listen_address),
    I(listen_port, 1, 65535),
    S(instance_id),
    I(workers, 1, 64),
    I(send_batch_max, 1, 64),
    I(send_batch_workers, 1, 64),
    S(log_level),
    S(db_host),
    I(db_port, 1, 65535),
    S(db_name),
    S(db_user),
    S(db_password_file),
    S(redis_host),
    I(redis_port, 1, 65535),
    S(redis_user),
    S(redis_password_file),
    S(amqp_host),
    I(amqp_port, 1, 65535),
    S(amqp_vhost),
    S(amqp_user),
    S(amqp_password_file),
    I(max_frame_bytes, 1024, 16777216),
    I(max_body_bytes, 1024, 16777216),
    I(send_queue_max, 8, 1000000),
    I(send_rate, 1, 1000000),
    I(send_burst, 1, 1000000),
    I(login_rate, 1, 1000000),
    I(register_rate, 1, 1000000),
    B(trust_forwarded),
    I(session_ttl_days, 1, 3650),
    I(argon2_ops, 1, 10),
    I(argon2_mem_kib, 8, 1048576),
#undef S
#undef I
#undef B
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->listen_address = xstrdup("127.0.0.1");
	c->listen_port = 8081;
	c->instance_id = xstrdup("1");
	c->workers = 8;
	c->send_batch_max = 64;
	c->send_batch_workers = 2;
	c->log_level = xstrdup("info");
	c->db_host = xstrdup("127.0.0.1");
	c->db_port = 3306;
	c->db_name = xstrdup("chat");
	c->db_user = xstrdup("chatd");
	c->redis_host = xstrdup("127.0.0.1");
	c->redis_port = 6379;
	c->amqp_host = xstrdup("127.0.0.1");
	c->amqp_port = 5672;
	c->amqp_vhost = xstrdup("/");
	c->amqp_user = xstrdup("chatd");
	c->max_frame_bytes = 65536;
	c->max_body_bytes = 65536;
	c->send_queue_max = 1024;
	c->send_rate = 20;
	c->send_burst = 40;
	c->login_rate = 30;
	c->register_rate = 10;
	c->trust_forwarded = 0;
	c->session_ttl_days = 30;
	c->argon2_ops = 2;
	c->argon2_mem_kib = 19456;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
config_set(struct config *c, const struct centry *ce, const char *path,
    int line, const char *val, char **cause)
{
	char **sp;
	int *ip;
	char *end;
	long v;

	switch (ce->type) {
	case C_STR:
		sp = (char **)((char *)c + ce->off);
		if (*val == '\0') {
			*cause = xasprintf(
			    "%s:%d: '%s' is empty", path, line, ce->key);
			return -1;
		}
		free(*sp);
		*sp = xstrdup(val);
		return 0;
	case C_BOOL:
		ip = (int *)((char *)c + ce->off);
		if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0 ||
		    strcmp(val, "1") == 0)
			*ip = 1;
		else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 ||
		    strcmp(val, "0") == 0)
			*ip = 0;
		else {
			*cause = xasprintf("%s:%d: '%s' must be yes or no",
			    path, line, ce->key);
			return -1;
		}
		return 0;
	case C_INT:
		ip = (int *)((char *)c + ce->off);
		v = strtol(val, &end, 10);
		if (*val == '\0' || *end != '\0' || v < ce->min ||
		    v > ce->max) {
			*cause = xasprintf("%s:%d: '%s' must be an integer "
					   "from %ld to %ld",
			    path, line, ce->key, ce->min, ce->max);
			return -1;
		}
		*ip = (int)v;
		return 0;
	}
	return -1;
}

int
config_parse(struct config *c, const char *path, const char *text, char **cause)
{
	char *copy, *p, *next, *key, *val, *eq;
	int line = 0, rc = -1;
	size_t i;

	copy = xstrdup(text);
	for (p = copy; p != NULL; p = next) {
		line++;
		next = strchr(p, '\n');
		if (next != NULL)
			*next++ = '\0';
		key = trim(p);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			*cause = xasprintf(
			    "%s:%d: expected 'key = value'", path, line);
			goto out;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		for (i = 0; i < sizeof centries / sizeof centries[0]; i++) {
			if (strcmp(centries[i].key, key) == 0)
				break;
		}
		if (i == sizeof centries / sizeof centries[0]) {
			*cause = xasprintf(
			    "%s:%d: unknown key '%s'", path, line, key);
			goto out;
		}
		if (config_set(c, &centries[i], path, line, val, cause) != 0)
			goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

int
config_load(struct config *c, const char *path, char **cause)
{
	char *text = NULL;
	size_t len;
	int rc;

	if ((text = file_read(path, 1048576, &len, cause)) == NULL)
		return -1;
	rc = config_parse(c, path, text, cause);
	free(text);
	return rc;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < sizeof centries / sizeof centries[0]; i++) {
		if (centries[i].type == C_STR)
			free(*(char **)((char *)c + centries[i].off));
	}
	memset(c, 0, sizeof *c);
}

char *
config_read_secret(const char *path, char **cause)
{
	char *text = NULL, *nl;
	size_t len;

	if (path == NULL)
		return xstrdup("");
	if ((text = file_read(path, 65536, &len, cause)) == NULL)
		return NULL;
	if ((nl = strchr(text, '\n')) != NULL)
		*nl = '\0';
	return text;
}
