/*
 * The answer file loader (answers.h, docs/answers.md): the public calls
 * and the error list. The schema and the walk that follows the document
 * are in answers-schema.c, checks that involve several keys (TLS mode
 * needs, port clashes, files) in answers-check.c. Every error is kept;
 * nothing stops at the first, and they come out sorted by place.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "answers-int.h"
#include "answers.h"
#include "fileio.h"
#include "xmalloc.h"
#include "yaml-doc.h"

#define ANSWERS_MAX_SIZE (1024 * 1024)

#define ANSWERS_LE_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"

static void
ans_verror(struct ans_ctx *c, int line, int column, const char *key,
    const char *fmt, va_list ap)
{
	struct answers_errors *e = c->errs;
	struct answers_error *err;

	if (c->nerrs > ANSWERS_MAX_ERRORS)
		return;
	e->list = xreallocarray(e->list, e->n + 1, sizeof *e->list);
	err = &e->list[e->n++];
	err->file = xstrdup(c->file);
	err->line = line;
	err->column = column;
	err->key = key != NULL ? xstrdup(key) : NULL;
	if (c->nerrs++ == ANSWERS_MAX_ERRORS) {
		err->message = xstrdup("too many errors; stopped reporting");
		return;
	}
	err->message = xvasprintf(fmt, ap);
}

void
ans_error(struct ans_ctx *c, int line, int column, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ans_verror(c, line, column, key, fmt, ap);
	va_end(ap);
}

void
ans_node_error(struct ans_ctx *c, const yaml_node_t *n, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ans_verror(c, ydoc_line(n), ydoc_column(n), key, fmt, ap);
	va_end(ap);
}

void
ans_seen_add(struct ans_ctx *c, const char *path, const yaml_node_t *n)
{
	struct ans_seen *s;

	c->seen = xreallocarray(c->seen, c->nseen + 1, sizeof *c->seen);
	s = &c->seen[c->nseen++];
	s->path = xstrdup(path);
	s->line = ydoc_line(n);
	s->column = ydoc_column(n);
}

/* Where path (or its nearest parent in the file) starts; 1:1 if nowhere. */
static void
ans_mark(struct ans_ctx *c, const char *path, int *line, int *column)
{
	char *p, *dot;
	size_t i;

	p = xstrdup(path);
	for (;;) {
		for (i = 0; i < c->nseen; i++) {
			if (strcmp(c->seen[i].path, p) == 0) {
				*line = c->seen[i].line;
				*column = c->seen[i].column;
				free(p);
				return;
			}
		}
		if ((dot = strrchr(p, '.')) == NULL)
			break;
		*dot = '\0';
	}
	free(p);
	*line = *column = 1;
}

int
ans_seen(struct ans_ctx *c, const char *path)
{
	size_t i;

	for (i = 0; i < c->nseen; i++) {
		if (strcmp(c->seen[i].path, path) == 0)
			return 1;
	}
	return 0;
}

/* Whether the walk already reported path: cross checks then keep quiet. */
int
ans_failed(struct ans_ctx *c, const char *path)
{
	struct answers_errors *e = c->errs;
	size_t i;

	for (i = e->n - c->nerrs; i < e->n; i++) {
		if (e->list[i].key != NULL && strcmp(e->list[i].key, path) == 0)
			return 1;
	}
	return 0;
}

void
ans_path_error(struct ans_ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int line, column;

	ans_mark(c, path, &line, &column);
	va_start(ap, fmt);
	ans_verror(c, line, column, path, fmt, ap);
	va_end(ap);
}

struct answers *
answers_defaults(void)
{
	struct answers *a;

	a = xcalloc(1, sizeof *a);
	a->version = 1;
	a->profile = PROFILE_PRODUCTION;
	a->hostname = xstrdup("localhost");
	a->bind_address = xstrdup("127.0.0.1");
	a->tls.mode = TLS_MODE_SELFSIGNED;
	a->tls.directory = xstrdup(ANSWERS_LE_DIRECTORY);
	a->tls.key_type = xstrdup("ec256");
	a->mariadb.port = 3306;
	a->mariadb.data_dir = xstrdup("/var/lib/mysql");
	a->redis.port = 6379;
	a->redis.data_dir = xstrdup("/var/lib/redis");
	a->rabbitmq.port = 5672;
	a->rabbitmq.dist_port = 25672;
	a->rabbitmq.epmd_port = 4369;
	a->rabbitmq.data_dir = xstrdup("/var/lib/rabbitmq");
	a->chatd.instances = 2;
	a->chatd.port = 8081;
	a->nginx.http_port = 80;
	a->nginx.https_port = 443;
	return a;
}

void
answers_free(struct answers *a)
{
	size_t i;

	if (a == NULL)
		return;
	free(a->path);
	free(a->hostname);
	free(a->bind_address);
	for (i = 0; i < a->tls.nextra_names; i++)
		free(a->tls.extra_names[i]);
	free(a->tls.extra_names);
	free(a->tls.email);
	free(a->tls.directory);
	free(a->tls.ca_file);
	free(a->tls.eab_kid);
	free(a->tls.eab_hmac_key_file);
	free(a->tls.key_type);
	free(a->tls.cert);
	free(a->tls.key);
	free(a->tls.chain);
	free(a->mariadb.data_dir);
	free(a->redis.data_dir);
	free(a->rabbitmq.data_dir);
	for (i = 0; i < a->nwaivers; i++) {
		free(a->waivers[i].check);
		free(a->waivers[i].reason);
	}
	free(a->waivers);
	free(a);
}

void
answers_errors_free(struct answers_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++) {
		free(errs->list[i].file);
		free(errs->list[i].key);
		free(errs->list[i].message);
	}
	free(errs->list);
	errs->list = NULL;
	errs->n = 0;
}

char *
answers_error_string(const struct answers_error *e)
{
	if (e->line == 0 && e->key == NULL)
		return xasprintf("%s: %s", e->file, e->message);
	if (e->line == 0)
		return xasprintf("%s: %s: %s", e->file, e->key, e->message);
	if (e->key == NULL)
		return xasprintf(
		    "%s:%d:%d: %s", e->file, e->line, e->column, e->message);
	return xasprintf("%s:%d:%d: %s: %s", e->file, e->line, e->column,
	    e->key, e->message);
}

/* Errors in file order (stable: the walk already found most in order). */
static void
ans_sort_errors(struct answers_error *list, size_t n)
{
	struct answers_error tmp;
	size_t i, j;

	for (i = 1; i < n; i++) {
		tmp = list[i];
		for (j = i; j > 0; j--) {
			if (list[j - 1].line < tmp.line ||
			    (list[j - 1].line == tmp.line &&
				list[j - 1].column <= tmp.column))
				break;
			list[j] = list[j - 1];
		}
		list[j] = tmp;
	}
}

struct answers *
answers_parse(
    const char *name, const char *data, size_t len, struct answers_errors *errs)
{
	struct ans_ctx c = {.file = name, .errs = errs};
	struct ydoc yd;
	yaml_node_t *root;
	size_t first, i;
	char *cause = NULL;
	int line, column;

	first = errs->n;
	c.a = answers_defaults();
	c.yd = &yd;
	if (ydoc_load(&yd, data, len, &line, &column, &cause) != 0) {
		ans_error(&c, line, column, NULL, "found %s", cause);
		free(cause);
		goto out;
	}
	if ((root = ydoc_root(&yd)) == NULL)
		ans_error(&c, 1, 1, "version",
		    "found an empty file, expected at least 'version: 1'");
	else {
		ans_walk(&c, root);
		ans_check(&c);
	}
	ydoc_free(&yd);

out:
	for (i = 0; i < c.nseen; i++)
		free(c.seen[i].path);
	free(c.seen);
	if (errs->n != first) {
		ans_sort_errors(errs->list + first, errs->n - first);
		answers_free(c.a);
		return NULL;
	}
	return c.a;
}

struct answers *
answers_load(const char *path, struct answers_errors *errs)
{
	struct ans_ctx c = {.file = path, .errs = errs};
	struct answers *a = NULL;
	struct stat sb;
	char *data = NULL, *cause = NULL;
	size_t len;
	int private = 1;

	if (stat(path, &sb) == -1) {
		ans_error(&c, 0, 0, NULL, "cannot read the answer file: %s",
		    strerror(errno));
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		ans_error(&c, 0, 0, NULL,
		    "found a special file, expected a regular answer file");
		return NULL;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		ans_error(&c, 0, 0, NULL,
		    "found mode %04o, which lets other users read or change "
		    "the answers and the secret files they name, expected a "
		    "file only its owner can read (run 'chmod 600 %s')",
		    (unsigned)(sb.st_mode & 07777), path);
		private = 0;
	}
	if ((data = file_read(path, ANSWERS_MAX_SIZE, &len, &cause)) == NULL) {
		ans_error(&c, 0, 0, NULL, "%s", cause);
		free(cause);
		return NULL;
	}
	a = answers_parse(path, data, len, errs);
	free(data);
	if (a != NULL && !private) {
		answers_free(a);
		a = NULL;
	}
	if (a != NULL)
		a->path = xstrdup(path);
	return a;
}

const struct answers_waiver *
answers_waiver(const struct answers *a, const char *check)
{
	size_t i;

	for (i = 0; i < a->nwaivers; i++) {
		if (strcmp(a->waivers[i].check, check) == 0)
			return &a->waivers[i];
	}
	return NULL;
}

static json_t *
ans_json_string(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
ans_json_backend(const struct answers_backend *b)
{
	return json_pack("{s:i, s:o}", "port", b->port, "data_dir",
	    ans_json_string(b->data_dir));
}

struct json_t *
answers_to_json(const struct answers *a)
{
	json_t *o, *names, *waive, *ports, *tls;
	size_t i;
	int p;

	names = json_array();
	for (i = 0; i < a->tls.nextra_names; i++)
		json_array_append_new(
		    names, json_string(a->tls.extra_names[i]));
	waive = json_array();
	for (i = 0; i < a->nwaivers; i++)
		json_array_append_new(waive,
		    json_pack("{s:s, s:s}", "check", a->waivers[i].check,
			"reason", a->waivers[i].reason));
	ports = json_array();
	for (p = 0; p < a->chatd.instances; p++)
		json_array_append_new(ports, json_integer(a->chatd.port + p));

	tls = json_pack("{s:s, s:o, s:{s:o, s:o, s:o, s:o, s:o, s:o}, "
			"s:{s:o, s:o, s:o}}",
	    "mode", answers_tls_mode_name(a->tls.mode), "extra_names", names,
	    "letsencrypt", "email", ans_json_string(a->tls.email), "directory",
	    ans_json_string(a->tls.directory), "ca_file",
	    ans_json_string(a->tls.ca_file), "eab_kid",
	    ans_json_string(a->tls.eab_kid), "eab_hmac_key_file",
	    ans_json_string(a->tls.eab_hmac_key_file), "key_type",
	    ans_json_string(a->tls.key_type), "provided", "cert",
	    ans_json_string(a->tls.cert), "key", ans_json_string(a->tls.key),
	    "chain", ans_json_string(a->tls.chain));

	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:o, "
		      "s:{s:o, s:o, s:{s:i, s:i, s:i, s:o}, "
		      "s:{s:i, s:i, s:o}, s:{s:i, s:i}}, s:{s:o}}",
	    "version", a->version, "profile", answers_profile_name(a->profile),
	    "hostname", a->hostname, "bind_address", a->bind_address,
	    "bind_host", a->bind_address, "tls", tls, "components", "mariadb",
	    ans_json_backend(&a->mariadb), "redis", ans_json_backend(&a->redis),
	    "rabbitmq", "port", a->rabbitmq.port, "dist_port",
	    a->rabbitmq.dist_port, "epmd_port", a->rabbitmq.epmd_port,
	    "data_dir", ans_json_string(a->rabbitmq.data_dir), "chatd",
	    "instances", a->chatd.instances, "port", a->chatd.port, "ports",
	    ports, "nginx", "http_port", a->nginx.http_port, "https_port",
	    a->nginx.https_port, "preflight", "waive", waive);
	/* An IPv6 address needs brackets before ":port". */
	if (o != NULL && strchr(a->bind_address, ':') != NULL)
		json_object_set_new(
		    o, "bind_host", json_sprintf("[%s]", a->bind_address));
	return o;
}
