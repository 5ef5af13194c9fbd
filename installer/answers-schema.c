/*
 * The answer file's schema as a table (docs/answers.md): each key has a
 * kind, where its value goes in struct answers, and the check its value
 * must pass. ans_walk follows the document, so errors come out in file
 * order.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "answers-int.h"
#include "answers-value.h"
#include "answers.h"
#include "buf.h"
#include "xmalloc.h"
#include "yaml-doc.h"

#define ANSWERS_MAX_NAMES 100
#define ANSWERS_MAX_WAIVERS 256
#define ANSWERS_MAX_INSTANCES 32

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

/* Takes one list item, in the file at ipath. */
typedef void (*ans_item_fn)(struct ans_ctx *, yaml_node_t *, const char *);

/*
 * Walks a list of at most max items, each at path[i], reporting anything
 * but a list and the first item past max (named by noun).
 */
static void
ans_walk_list(struct ans_ctx *c, yaml_node_t *n, const struct ans_key *k,
    const char *path, size_t max, const char *noun, ans_item_fn fn)
{
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
		if (i >= max) {
			ans_node_error(c, in, ipath,
			    "found %s number %zu, expected at most %zu %ss",
			    noun, i + 1, max, noun);
			free(ipath);
			break;
		}
		fn(c, in, ipath);
		free(ipath);
	}
}

static void
ans_walk_name(struct ans_ctx *c, yaml_node_t *in, const char *ipath)
{
	static const struct ans_key name_key = {
	    .name = "extra_names", .kind = ANS_STRING, .check = CHECK_HOSTNAME};
	struct answers_tls *tls = &c->a->tls;
	const char *s;

	if ((s = ans_string_node(c, in, ipath, &name_key)) == NULL)
		return;
	if (!answers_valid_hostname(s)) {
		ans_bad_value(c, in, ipath, &name_key, NULL);
		return;
	}
	tls->extra_names = xreallocarray(
	    tls->extra_names, tls->nextra_names + 1, sizeof *tls->extra_names);
	tls->extra_names[tls->nextra_names++] = xstrdup(s);
}

static void
ans_walk_waiver(struct ans_ctx *c, yaml_node_t *in, const char *ipath)
{
	struct answers *a = c->a;
	struct answers_waiver *w;

	a->waivers =
	    xreallocarray(a->waivers, a->nwaivers + 1, sizeof *a->waivers);
	w = &a->waivers[a->nwaivers++];
	w->check = w->reason = NULL;
	ans_walk_map(c, in, ans_waiver_keys, ipath, w);
	if (w->check == NULL || w->reason == NULL) {
		free(w->check);
		free(w->reason);
		a->nwaivers--;
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
		ans_walk_list(
		    c, n, k, path, ANSWERS_MAX_NAMES, "name", ans_walk_name);
		break;
	case ANS_WAIVERS:
		ans_walk_list(c, n, k, path, ANSWERS_MAX_WAIVERS, "waiver",
		    ans_walk_waiver);
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

/* Walks the document from its root, filling c->a and reporting errors. */
void
ans_walk(struct ans_ctx *c, yaml_node_t *root)
{
	ans_walk_map(c, root, ans_top_keys, "", c->a);
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
