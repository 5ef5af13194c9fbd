/*
 * The answer file loader (answers.h, docs/answers.md). The schema is a
 * table: each key has a kind, where its value goes in struct answers, and
 * the check its value must pass. The walk follows the document, so errors
 * come out in file order; checks that involve several keys (TLS mode
 * needs, port clashes, files) run after it. Every error is kept; nothing
 * stops at the first.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "answers-value.h"
#include "answers.h"
#include "buf.h"
#include "fileio.h"
#include "xmalloc.h"
#include "yaml-doc.h"

#define ANSWERS_MAX_SIZE (1024 * 1024)
#define ANSWERS_MAX_ERRORS 100
#define ANSWERS_MAX_NAMES 100
#define ANSWERS_MAX_WAIVERS 256
#define ANSWERS_MAX_INSTANCES 32

#define ANSWERS_LE_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"

enum ans_kind {
	ANS_MAP, /* a mapping with the keys in children */
	ANS_INT, /* an int from min to max */
	ANS_STRING, /* a char * passing check */
	ANS_ENUM, /* an int: the index of the value in choices */
	ANS_NAMES, /* tls.extra_names: a list of host names */
	ANS_WAIVERS, /* preflight.waive: a list of {check, reason} */
};

enum ans_check {
	CHECK_NONE,
	CHECK_HOSTNAME,
	CHECK_ADDRESS,
	CHECK_PATH,
	CHECK_EMAIL,
	CHECK_URL,
	CHECK_TEXT,
	CHECK_CHECK_ID,
	CHECK_TOKEN,
	CHECK_CHOICE,
};

#define ANS_REQUIRED 0x1 /* must be in the file */
#define ANS_NULLABLE 0x2 /* null means "not set" */

struct ans_key {
	const char *name;
	enum ans_kind kind;
	size_t offset;
	enum ans_check check;
	int min;
	int max;
	const char *const *choices;
	const struct ans_key *children;
	int flags;
};

/* A key path seen in the file and where its value starts. */
struct ans_seen {
	char *path;
	int line;
	int column;
};

struct ans_ctx {
	const char *file;
	struct ydoc *yd;
	struct answers *a;
	struct answers_errors *errs;
	size_t nerrs; /* errors this parse added */
	struct ans_seen *seen;
	size_t nseen;
};

static const char *const ans_profiles[] = {"production", "small", NULL};
static const char *const ans_tls_modes[] = {
    "letsencrypt", "selfsigned", "provided", NULL};
static const char *const ans_key_types[] = {"ec256", "rsa2048", NULL};

#define A(f) offsetof(struct answers, f)
#define PORT(n, f)                                                             \
	{                                                                      \
		.name = n, .kind = ANS_INT, .offset = A(f), .min = 1,          \
		.max = 65535                                                   \
	}
#define STR(n, f, chk, fl)                                                     \
	{                                                                      \
		.name = n, .kind = ANS_STRING, .offset = A(f), .check = chk,   \
		.flags = fl                                                    \
	}

static const struct ans_key ans_letsencrypt_keys[] = {
    STR("email", tls.email, CHECK_EMAIL, ANS_NULLABLE),
    STR("directory", tls.directory, CHECK_URL, 0),
    STR("ca_file", tls.ca_file, CHECK_PATH, ANS_NULLABLE),
    STR("eab_kid", tls.eab_kid, CHECK_TOKEN, ANS_NULLABLE),
    STR("eab_hmac_key_file", tls.eab_hmac_key_file, CHECK_PATH, ANS_NULLABLE),
    {.name = "key_type",
	.kind = ANS_STRING,
	.offset = A(tls.key_type),
	.check = CHECK_CHOICE,
	.choices = ans_key_types},
    {.name = NULL},
};

static const struct ans_key ans_provided_keys[] = {
    STR("cert", tls.cert, CHECK_PATH, ANS_NULLABLE),
    STR("key", tls.key, CHECK_PATH, ANS_NULLABLE),
    STR("chain", tls.chain, CHECK_PATH, ANS_NULLABLE),
    {.name = NULL},
};

static const struct ans_key ans_tls_keys[] = {
    {.name = "mode",
	.kind = ANS_ENUM,
	.offset = A(tls.mode),
	.check = CHECK_CHOICE,
	.choices = ans_tls_modes},
    {.name = "extra_names", .kind = ANS_NAMES},
    {.name = "letsencrypt", .kind = ANS_MAP, .children = ans_letsencrypt_keys},
    {.name = "provided", .kind = ANS_MAP, .children = ans_provided_keys},
    {.name = NULL},
};

static const struct ans_key ans_mariadb_keys[] = {
    PORT("port", mariadb.port),
    STR("data_dir", mariadb.data_dir, CHECK_PATH, 0),
    {.name = NULL},
};

static const struct ans_key ans_redis_keys[] = {
    PORT("port", redis.port),
    STR("data_dir", redis.data_dir, CHECK_PATH, 0),
    {.name = NULL},
};

static const struct ans_key ans_rabbitmq_keys[] = {
    PORT("port", rabbitmq.port),
    PORT("dist_port", rabbitmq.dist_port),
    PORT("epmd_port", rabbitmq.epmd_port),
    STR("data_dir", rabbitmq.data_dir, CHECK_PATH, 0),
    {.name = NULL},
};

static const struct ans_key ans_chatd_keys[] = {
    {.name = "instances",
	.kind = ANS_INT,
	.offset = A(chatd.instances),
	.min = 1,
	.max = ANSWERS_MAX_INSTANCES},
    PORT("port", chatd.port),
    {.name = NULL},
};

static const struct ans_key ans_nginx_keys[] = {
    PORT("http_port", nginx.http_port),
    PORT("https_port", nginx.https_port),
    {.name = NULL},
};

static const struct ans_key ans_component_keys[] = {
    {.name = "mariadb", .kind = ANS_MAP, .children = ans_mariadb_keys},
    {.name = "redis", .kind = ANS_MAP, .children = ans_redis_keys},
    {.name = "rabbitmq", .kind = ANS_MAP, .children = ans_rabbitmq_keys},
    {.name = "chatd", .kind = ANS_MAP, .children = ans_chatd_keys},
    {.name = "nginx", .kind = ANS_MAP, .children = ans_nginx_keys},
    {.name = NULL},
};

static const struct ans_key ans_waiver_keys[] = {
    {.name = "check",
	.kind = ANS_STRING,
	.offset = offsetof(struct answers_waiver, check),
	.check = CHECK_CHECK_ID,
	.flags = ANS_REQUIRED},
    {.name = "reason",
	.kind = ANS_STRING,
	.offset = offsetof(struct answers_waiver, reason),
	.check = CHECK_TEXT,
	.flags = ANS_REQUIRED},
    {.name = NULL},
};

static const struct ans_key ans_preflight_keys[] = {
    {.name = "waive", .kind = ANS_WAIVERS},
    {.name = NULL},
};

static const struct ans_key ans_top_keys[] = {
    {.name = "version",
	.kind = ANS_INT,
	.offset = A(version),
	.min = 1,
	.max = 1,
	.flags = ANS_REQUIRED},
    {.name = "profile",
	.kind = ANS_ENUM,
	.offset = A(profile),
	.check = CHECK_CHOICE,
	.choices = ans_profiles},
    STR("hostname", hostname, CHECK_HOSTNAME, 0),
    STR("bind_address", bind_address, CHECK_ADDRESS, 0),
    {.name = "tls", .kind = ANS_MAP, .children = ans_tls_keys},
    {.name = "components", .kind = ANS_MAP, .children = ans_component_keys},
    {.name = "preflight", .kind = ANS_MAP, .children = ans_preflight_keys},
    {.name = NULL},
};

static void ans_walk_map(struct ans_ctx *, yaml_node_t *,
    const struct ans_key *, const char *, void *);

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

static void __attribute__((format(printf, 5, 6))) ans_error(struct ans_ctx *c,
    int line, int column, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ans_verror(c, line, column, key, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 4, 5)))
ans_node_error(struct ans_ctx *c, const yaml_node_t *n, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ans_verror(c, ydoc_line(n), ydoc_column(n), key, fmt, ap);
	va_end(ap);
}

static void
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

static int
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
static int
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

static void __attribute__((format(printf, 3, 4)))
ans_path_error(struct ans_ctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int line, column;

	ans_mark(c, path, &line, &column);
	va_start(ap, fmt);
	ans_verror(c, line, column, path, fmt, ap);
	va_end(ap);
}

static char *
ans_join(const char *path, const char *name)
{
	if (*path == '\0')
		return xstrdup(name);
	return xasprintf("%s.%s", path, name);
}

static char *
ans_choices(const char *const *choices)
{
	struct buf b;

	buf_init(&b);
	for (; *choices != NULL; choices++) {
		if (b.len != 0)
			buf_adds(&b, choices[1] == NULL ? " or " : ", ");
		buf_adds(&b, *choices);
	}
	return buf_detach(&b, NULL);
}

static char *
ans_key_names(const struct ans_key *keys)
{
	struct buf b;

	buf_init(&b);
	for (; keys->name != NULL; keys++) {
		if (b.len != 0)
			buf_adds(&b, ", ");
		buf_adds(&b, keys->name);
	}
	return buf_detach(&b, NULL);
}

/* What a key accepts, for "expected ...". Returns an allocated string. */
static char *
ans_expected(const struct ans_key *k)
{
	char *s, *r;

	switch (k->kind) {
	case ANS_MAP:
		s = ans_key_names(k->children);
		r = xasprintf("a mapping with the keys %s", s);
		free(s);
		return r;
	case ANS_INT:
		if (k->min == k->max)
			return xasprintf("%d", k->min);
		if (k->min == 1 && k->max == 65535)
			return xstrdup("a port number from 1 to 65535");
		return xasprintf("an integer from %d to %d", k->min, k->max);
	case ANS_ENUM:
		s = ans_choices(k->choices);
		r = xasprintf("one of %s", s);
		free(s);
		return r;
	case ANS_NAMES:
		return xstrdup("a list of host names");
	case ANS_WAIVERS:
		return xstrdup("a list of { check: ID, reason: TEXT }");
	case ANS_STRING:
		break;
	}
	switch (k->check) {
	case CHECK_HOSTNAME:
		return xstrdup("a host name (letters, digits and '-' in "
			       "dot-separated labels of 1 to 63 characters, "
			       "253 at most, not an IP address)");
	case CHECK_ADDRESS:
		return xstrdup("an IPv4 or IPv6 address of this host such as "
			       "127.0.0.1 (not a wildcard such as 0.0.0.0)");
	case CHECK_PATH:
		return xstrdup("an absolute path (letters, digits and "
			       "'/._-+@', no '..')");
	case CHECK_EMAIL:
		return xstrdup("an e-mail address such as ops@example.com");
	case CHECK_URL:
		return xstrdup("an https:// URL such as "
			       "https://acme-v02.api.letsencrypt.org/"
			       "directory");
	case CHECK_TEXT:
		return xasprintf(
		    "text on one line, 1 to %d characters", ANSWERS_TEXT_MAX);
	case CHECK_CHECK_ID:
		return xstrdup("a preflight check id such as cpu.cores "
			       "(lowercase letters, digits, '_' and '-' in "
			       "dot-separated parts)");
	case CHECK_TOKEN:
		return xstrdup("an identifier of letters, digits, '_' and "
			       "'-'");
	case CHECK_CHOICE:
		s = ans_choices(k->choices);
		r = xasprintf("one of %s", s);
		free(s);
		return r;
	case CHECK_NONE:
		break;
	}
	return xstrdup("text");
}

static int
ans_choice(const char *const *choices, const char *s)
{
	int i;

	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(choices[i], s) == 0)
			return i;
	}
	return -1;
}

static int
ans_valid(const struct ans_key *k, const char *s)
{
	switch (k->check) {
	case CHECK_HOSTNAME:
		return answers_valid_hostname(s);
	case CHECK_ADDRESS:
		return answers_valid_address(s);
	case CHECK_PATH:
		return answers_valid_path(s);
	case CHECK_EMAIL:
		return answers_valid_email(s);
	case CHECK_URL:
		return answers_valid_url(s);
	case CHECK_TEXT:
		return answers_valid_text(s);
	case CHECK_CHECK_ID:
		return answers_valid_check_id(s);
	case CHECK_TOKEN:
		return answers_valid_token(s);
	case CHECK_CHOICE:
		return ans_choice(k->choices, s) != -1;
	case CHECK_NONE:
		break;
	}
	return answers_valid_text(s);
}

/* Reports a value of the wrong kind or with a bad value at n. */
static void
ans_bad_value(struct ans_ctx *c, const yaml_node_t *n, const char *path,
    const struct ans_key *k, const char *why)
{
	char *found, *expected;

	found = ydoc_describe(n);
	expected = ans_expected(k);
	ans_node_error(c, n, path, "found %s%s, expected %s", found,
	    why != NULL ? why : "", expected);
	free(expected);
	free(found);
}

/*
 * Returns the text of a scalar meant as a string, or NULL after reporting
 * what was there instead.
 */
static const char *
ans_string_node(struct ans_ctx *c, const yaml_node_t *n, const char *path,
    const struct ans_key *k)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE) {
		ans_bad_value(c, n, path, k, NULL);
		return NULL;
	}
	if (ydoc_has_tag(n)) {
		ans_bad_value(c, n, path, k, " with a YAML tag");
		return NULL;
	}
	if ((s = ydoc_scalar(n)) == NULL) {
		ans_bad_value(c, n, path, k, " holding a NUL byte");
		return NULL;
	}
	switch (ydoc_scalar_kind(n)) {
	case YDOC_INT:
	case YDOC_FLOAT:
		ans_bad_value(c, n, path, k,
		    " (a number; quote it to make "
		    "it text)");
		return NULL;
	case YDOC_BOOL:
		ans_bad_value(c, n, path, k,
		    " (a boolean; quote it to make "
		    "it text)");
		return NULL;
	default:
		break;
	}
	return s;
}

static void
ans_walk_int(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path, void *base)
{
	const char *s;
	char *end;
	long v;

	s = ydoc_scalar(n);
	if (s == NULL || ydoc_has_tag(n) || ydoc_scalar_kind(n) != YDOC_INT) {
		ans_bad_value(c, n, path, k,
		    s != NULL && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE
			? " (quoted, so text)"
			: NULL);
		return;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < k->min || v > k->max) {
		ans_bad_value(c, n, path, k, NULL);
		return;
	}
	*(int *)((char *)base + k->offset) = (int)v;
}

static void
ans_walk_string(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path, void *base)
{
	char **slot = (char **)((char *)base + k->offset);
	const char *s;

	if ((s = ans_string_node(c, n, path, k)) == NULL)
		return;
	if (!ans_valid(k, s)) {
		ans_bad_value(c, n, path, k, NULL);
		return;
	}
	free(*slot);
	*slot = xstrdup(s);
}

static void
ans_walk_enum(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path, void *base)
{
	const char *s;
	int i;

	if ((s = ans_string_node(c, n, path, k)) == NULL)
		return;
	if ((i = ans_choice(k->choices, s)) == -1) {
		ans_bad_value(c, n, path, k, NULL);
		return;
	}
	*(int *)((char *)base + k->offset) = i;
}

static void
ans_walk_names(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path)
{
	static const struct ans_key name_key = {
	    .name = "extra_names", .kind = ANS_STRING, .check = CHECK_HOSTNAME};
	struct answers_tls *tls = &c->a->tls;
	yaml_node_item_t *item;
	yaml_node_t *in;
	const char *s;
	char *ipath;
	size_t i;

	if (n->type != YAML_SEQUENCE_NODE || ydoc_has_tag(n)) {
		ans_bad_value(c, n, path, k, NULL);
		return;
	}
	for (item = n->data.sequence.items.start;
	     item < n->data.sequence.items.top; item++) {
		if ((in = ydoc_node(c->yd, *item)) == NULL)
			continue;
		i = (size_t)(item - n->data.sequence.items.start);
		ipath = xasprintf("%s[%zu]", path, i);
		ans_seen_add(c, ipath, in);
		if (i >= ANSWERS_MAX_NAMES) {
			ans_node_error(c, in, ipath,
			    "found name number %zu, expected at most %d "
			    "names",
			    i + 1, ANSWERS_MAX_NAMES);
			free(ipath);
			break;
		}
		if ((s = ans_string_node(c, in, ipath, &name_key)) != NULL) {
			if (!answers_valid_hostname(s))
				ans_bad_value(c, in, ipath, &name_key, NULL);
			else {
				tls->extra_names = xreallocarray(
				    tls->extra_names, tls->nextra_names + 1,
				    sizeof *tls->extra_names);
				tls->extra_names[tls->nextra_names++] =
				    xstrdup(s);
			}
		}
		free(ipath);
	}
}

static void
ans_walk_waivers(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path)
{
	struct answers *a = c->a;
	struct answers_waiver *w;
	yaml_node_item_t *item;
	yaml_node_t *in;
	char *ipath;
	size_t i;

	if (n->type != YAML_SEQUENCE_NODE || ydoc_has_tag(n)) {
		ans_bad_value(c, n, path, k, NULL);
		return;
	}
	for (item = n->data.sequence.items.start;
	     item < n->data.sequence.items.top; item++) {
		if ((in = ydoc_node(c->yd, *item)) == NULL)
			continue;
		i = (size_t)(item - n->data.sequence.items.start);
		ipath = xasprintf("%s[%zu]", path, i);
		ans_seen_add(c, ipath, in);
		if (i >= ANSWERS_MAX_WAIVERS) {
			ans_node_error(c, in, ipath,
			    "found waiver number %zu, expected at most %d",
			    i + 1, ANSWERS_MAX_WAIVERS);
			free(ipath);
			break;
		}
		a->waivers = xreallocarray(
		    a->waivers, a->nwaivers + 1, sizeof *a->waivers);
		w = &a->waivers[a->nwaivers++];
		w->check = w->reason = NULL;
		ans_walk_map(c, in, ans_waiver_keys, ipath, w);
		if (w->check == NULL || w->reason == NULL) {
			free(w->check);
			free(w->reason);
			a->nwaivers--;
		}
		free(ipath);
	}
}

static void
ans_walk_value(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path, void *base)
{
	char **slot;

	if (n->type == YAML_SCALAR_NODE && ydoc_scalar_kind(n) == YDOC_NULL &&
	    !ydoc_has_tag(n)) {
		/* An empty section is all defaults; an empty value is not. */
		if (k->kind == ANS_MAP || k->kind == ANS_NAMES ||
		    k->kind == ANS_WAIVERS)
			return;
		if (k->kind == ANS_STRING && (k->flags & ANS_NULLABLE)) {
			slot = (char **)((char *)base + k->offset);
			free(*slot);
			*slot = NULL;
			return;
		}
		ans_bad_value(c, n, path, k, NULL);
		return;
	}
	switch (k->kind) {
	case ANS_MAP:
		ans_walk_map(c, n, k->children, path, base);
		break;
	case ANS_INT:
		ans_walk_int(c, n, k, path, base);
		break;
	case ANS_STRING:
		ans_walk_string(c, n, k, path, base);
		break;
	case ANS_ENUM:
		ans_walk_enum(c, n, k, path, base);
		break;
	case ANS_NAMES:
		ans_walk_names(c, n, k, path);
		break;
	case ANS_WAIVERS:
		ans_walk_waivers(c, n, k, path);
		break;
	}
}

static void
ans_unknown_key(struct ans_ctx *c, const yaml_node_t *kn, const char *name,
    const struct ans_key *keys, const char *path)
{
	const struct ans_key *k;
	char *want, *names, *shown;

	/* Never echo the value: an unknown key may hold a secret. */
	shown = str_escape(name);
	want = xasprintf("%s_file", name);
	for (k = keys; k->name != NULL; k++) {
		if (strcmp(k->name, want) == 0)
			break;
	}
	if (k->name != NULL) {
		ans_node_error(c, kn, path,
		    "found the secret '%s' written inline, expected a file "
		    "holding it named by '%s' (secrets never go in the "
		    "answer file)",
		    shown, want);
	} else {
		names = ans_key_names(keys);
		ans_node_error(c, kn, path,
		    "found unknown key '%s', expected one of %s", shown, names);
		free(names);
	}
	free(want);
	free(shown);
}

static const struct ans_key *
ans_find_key(const struct ans_key *keys, const char *name)
{
	for (; keys->name != NULL; keys++) {
		if (strcmp(keys->name, name) == 0)
			return keys;
	}
	return NULL;
}

static void
ans_walk_map(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *keys,
    const char *path, void *base)
{
	const struct ans_key *k;
	yaml_node_pair_t *pair, *q;
	yaml_node_t *kn, *vn, *qn = NULL;
	const char *name, *other;
	char *child, *expected, *found;

	if (n->type != YAML_MAPPING_NODE || ydoc_has_tag(n)) {
		found = ydoc_describe(n);
		expected = ans_key_names(keys);
		ans_node_error(c, n, *path == '\0' ? NULL : path,
		    "found %s, expected a mapping with the keys %s", found,
		    expected);
		free(expected);
		free(found);
		return;
	}
	for (pair = n->data.mapping.pairs.start;
	     pair < n->data.mapping.pairs.top; pair++) {
		/* Past the cap nothing is reported: stop the quadratic work. */
		if (c->nerrs > ANSWERS_MAX_ERRORS)
			break;
		kn = ydoc_node(c->yd, pair->key);
		vn = ydoc_node(c->yd, pair->value);
		if (kn == NULL || vn == NULL)
			continue;
		name = ydoc_scalar(kn);
		if (name == NULL || ydoc_scalar_kind(kn) == YDOC_NULL) {
			found = ydoc_describe(kn);
			ans_node_error(c, kn, *path == '\0' ? NULL : path,
			    "found %s as a key, expected a key name", found);
			free(found);
			continue;
		}
		child = ans_join(path, name);
		for (q = n->data.mapping.pairs.start; q < pair; q++) {
			qn = ydoc_node(c->yd, q->key);
			other = qn != NULL ? ydoc_scalar(qn) : NULL;
			if (other != NULL && strcmp(other, name) == 0)
				break;
		}
		if (q != pair) {
			ans_node_error(c, kn, child,
			    "found the key a second time, expected each key "
			    "once (first at line %d)",
			    ydoc_line(qn));
		} else if ((k = ans_find_key(keys, name)) == NULL)
			ans_unknown_key(c, kn, name, keys, child);
		else {
			ans_seen_add(c, child, vn);
			ans_walk_value(c, vn, k, child, base);
		}
		free(child);
	}

	for (k = keys; k->name != NULL; k++) {
		if (!(k->flags & ANS_REQUIRED))
			continue;
		child = ans_join(path, k->name);
		if (!ans_seen(c, child)) {
			expected = ans_expected(k);
			ans_node_error(c, n, child,
			    "found no value, expected %s", expected);
			free(expected);
		}
		free(child);
	}
}

/* Checks that a referenced file is there, and private if it is secret. */
static void
ans_check_file(
    struct ans_ctx *c, const char *path, const char *file, int secret)
{
	struct stat sb;

	if (file == NULL)
		return;
	if (stat(file, &sb) == -1) {
		ans_path_error(c, path,
		    "found '%s', which cannot be read (%s), "
		    "expected an existing file",
		    file, strerror(errno));
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		ans_path_error(c, path,
		    "found '%s', which is not a regular "
		    "file, expected a file",
		    file);
		return;
	}
	if (secret && (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		ans_path_error(c, path,
		    "found '%s' with mode %04o, which lets other users read "
		    "a secret, expected a file only its owner can read (run "
		    "'chmod 600 %s')",
		    file, (unsigned)(sb.st_mode & 07777), file);
	}
}

static void
ans_check_tls(struct ans_ctx *c)
{
	struct answers *a = c->a;
	struct answers_tls *t = &a->tls;

	switch (t->mode) {
	case TLS_MODE_LETSENCRYPT:
		if (t->email == NULL && !ans_failed(c, "tls.letsencrypt.email"))
			ans_path_error(c, "tls.letsencrypt.email",
			    "found no value, expected an e-mail address for "
			    "the ACME account (tls.mode is letsencrypt)");
		if (strchr(a->hostname, '.') == NULL &&
		    !ans_failed(c, "hostname"))
			ans_path_error(c, "hostname",
			    "found '%s', expected a public name with a dot "
			    "for Let's Encrypt (tls.mode is letsencrypt)",
			    a->hostname);
		if ((t->eab_kid == NULL) != (t->eab_hmac_key_file == NULL) &&
		    !ans_failed(c, "tls.letsencrypt.eab_kid") &&
		    !ans_failed(c, "tls.letsencrypt.eab_hmac_key_file"))
			ans_path_error(c,
			    t->eab_kid == NULL ? "tls.letsencrypt.eab_kid"
					       : "tls.letsencrypt."
						 "eab_hmac_key_file",
			    "found no value, expected eab_kid and "
			    "eab_hmac_key_file together (External Account "
			    "Binding needs both)");
		ans_check_file(c, "tls.letsencrypt.ca_file", t->ca_file, 0);
		ans_check_file(c, "tls.letsencrypt.eab_hmac_key_file",
		    t->eab_hmac_key_file, 1);
		break;
	case TLS_MODE_PROVIDED:
		if (t->cert == NULL && !ans_failed(c, "tls.provided.cert"))
			ans_path_error(c, "tls.provided.cert",
			    "found no value, expected the path of the "
			    "certificate (tls.mode is provided)");
		if (t->key == NULL && !ans_failed(c, "tls.provided.key"))
			ans_path_error(c, "tls.provided.key",
			    "found no value, expected the path of the "
			    "private key (tls.mode is provided)");
		ans_check_file(c, "tls.provided.cert", t->cert, 0);
		ans_check_file(c, "tls.provided.key", t->key, 1);
		ans_check_file(c, "tls.provided.chain", t->chain, 0);
		break;
	case TLS_MODE_SELFSIGNED:
		break;
	}
}

struct ans_port {
	const char *path;
	int port;
	int last; /* the end of a range (chatd instances) */
};

static void
ans_check_ports(struct ans_ctx *c)
{
	struct answers *a = c->a;
	struct ans_port ports[] = {
	    {"components.mariadb.port", a->mariadb.port, a->mariadb.port},
	    {"components.redis.port", a->redis.port, a->redis.port},
	    {"components.rabbitmq.port", a->rabbitmq.port, a->rabbitmq.port},
	    {"components.rabbitmq.dist_port", a->rabbitmq.dist_port,
		a->rabbitmq.dist_port},
	    {"components.rabbitmq.epmd_port", a->rabbitmq.epmd_port,
		a->rabbitmq.epmd_port},
	    {"components.chatd.port", a->chatd.port,
		a->chatd.port + a->chatd.instances - 1},
	    {"components.nginx.http_port", a->nginx.http_port,
		a->nginx.http_port},
	    {"components.nginx.https_port", a->nginx.https_port,
		a->nginx.https_port},
	};
	const size_t n = sizeof ports / sizeof ports[0];
	const struct ans_port *p, *q, *later;
	size_t i, j;

	if (a->chatd.port + a->chatd.instances - 1 > 65535) {
		ans_path_error(c, "components.chatd.port",
		    "found %d, expected a port that leaves room for %d "
		    "instances (at most %d)",
		    a->chatd.port, a->chatd.instances,
		    65536 - a->chatd.instances);
		ports[5].last = 65535;
	}
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			p = &ports[i];
			q = &ports[j];
			if (p->port > q->last || q->port > p->last)
				continue;
			if (ans_failed(c, p->path) || ans_failed(c, q->path))
				continue;
			/* Report at whichever the file names later. */
			later = q;
			if (ans_seen(c, p->path) && !ans_seen(c, q->path))
				later = p;
			ans_path_error(c, later->path,
			    "found port %d, which %s also uses%s, expected "
			    "each port used once",
			    later->port, later == q ? p->path : q->path,
			    p->port != p->last || q->port != q->last
				? " (chatd instance N listens on port+N-1)"
				: "");
		}
	}
}

static void
ans_check_data_dirs(struct ans_ctx *c)
{
	struct answers *a = c->a;
	const char *paths[] = {"components.mariadb.data_dir",
	    "components.redis.data_dir", "components.rabbitmq.data_dir"};
	const char *dirs[] = {
	    a->mariadb.data_dir, a->redis.data_dir, a->rabbitmq.data_dir};
	size_t i, j;

	for (i = 0; i < 3; i++) {
		for (j = i + 1; j < 3; j++) {
			if (strcmp(dirs[i], dirs[j]) != 0 ||
			    ans_failed(c, paths[i]) || ans_failed(c, paths[j]))
				continue;
			ans_path_error(c, paths[j],
			    "found '%s', which %s also uses, expected a "
			    "directory of its own",
			    dirs[j], paths[i]);
		}
	}
}

static void
ans_check_waivers(struct ans_ctx *c)
{
	struct answers *a = c->a;
	char *path;
	size_t i, j;

	for (i = 0; i < a->nwaivers; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(a->waivers[i].check, a->waivers[j].check) !=
			    0)
				continue;
			path = xasprintf("preflight.waive[%zu].check", i);
			ans_path_error(c, path,
			    "found '%s' waived a second time, expected each "
			    "check waived once",
			    a->waivers[i].check);
			free(path);
			break;
		}
	}
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
		ans_walk_map(&c, root, ans_top_keys, "", c.a);
		ans_check_tls(&c);
		ans_check_ports(&c);
		ans_check_data_dirs(&c);
		ans_check_waivers(&c);
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

const char *
answers_profile_name(enum answers_profile p)
{
	if ((size_t)p < sizeof ans_profiles / sizeof ans_profiles[0] - 1)
		return ans_profiles[p];
	return "unknown";
}

const char *
answers_tls_mode_name(enum answers_tls_mode m)
{
	if ((size_t)m < sizeof ans_tls_modes / sizeof ans_tls_modes[0] - 1)
		return ans_tls_modes[m];
	return "unknown";
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
