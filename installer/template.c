/*
 * The template renderer (template.h). A template is first parsed whole
 * into a tree, so a malformed tag is an error even in a branch that is not
 * taken, then rendered against the variables. Output is built in a local
 * buffer and handed over only when rendering succeeded.
 *
 * A value that holds a newline or another control character is refused
 * when it is substituted: the answer loader already rejects such values,
 * and this is the second lock on the door against a line injected into a
 * configuration file.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "fileio.h"
#include "template.h"
#include "xmalloc.h"

#define TEMPLATE_MAX_DEPTH 32
#define TEMPLATE_MAX_SIZE (4 * 1024 * 1024)

enum tpl_token_type {
	TPL_TOKEN_TEXT,
	TPL_TOKEN_VAR, /* {{ ... }} */
	TPL_TOKEN_TAG, /* {% ... %} */
};

struct tpl_token {
	enum tpl_token_type type;
	int line;
	const char *start; /* text, or the inside of the tag */
	size_t len;
};

struct tpl_lexer {
	const char *name;
	struct tpl_token *list;
	size_t n;
	size_t size;
};

enum tpl_node_type {
	TPL_NODE_TEXT,
	TPL_NODE_VAR,
	TPL_NODE_IF,
	TPL_NODE_FOR,
};

enum tpl_op {
	TPL_OP_TRUTH,
	TPL_OP_EQ,
	TPL_OP_NE,
};

struct tpl_node;

struct tpl_nodes {
	struct tpl_node *list;
	size_t n;
};

struct tpl_node {
	enum tpl_node_type type;
	int line;
	const char *text; /* TPL_NODE_TEXT: points into the template */
	size_t len;
	char *path; /* the variable of VAR, IF and FOR */
	enum tpl_op op;
	char *literal; /* IF with == or != */
	char *item; /* FOR: the loop variable */
	struct tpl_nodes body;
	struct tpl_nodes orelse;
};

/* One open for loop while rendering. */
struct tpl_frame {
	const char *item;
	json_t *value;
	json_t *loop; /* {"index", "first", "last"} */
};

struct tpl_render {
	const char *name;
	json_t *vars;
	struct tpl_frame frames[TEMPLATE_MAX_DEPTH];
	int nframes;
	struct buf *out;
};

static void tpl_nodes_free(struct tpl_nodes *);

static int
tpl_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
tpl_lexer_add(struct tpl_lexer *lx, enum tpl_token_type type, int line,
    const char *start, size_t len)
{
	struct tpl_token *t;

	if (type == TPL_TOKEN_TEXT && len == 0)
		return;
	if (lx->n == lx->size) {
		lx->size = lx->size == 0 ? 32 : lx->size * 2;
		lx->list = xreallocarray(lx->list, lx->size, sizeof *lx->list);
	}
	t = &lx->list[lx->n++];
	t->type = type;
	t->line = line;
	t->start = start;
	t->len = len;
}

/*
 * When the tag at [tag, end) is alone on its line, drops the blanks before
 * it (from the last text token) and returns where the text after it starts,
 * past the blanks and the newline; otherwise returns end.
 */
static const char *
tpl_lexer_trim(struct tpl_lexer *lx, const char *text, const char *tag,
    const char *end, int *line)
{
	const char *p, *bol;
	struct tpl_token *t;

	for (bol = tag; bol > text && bol[-1] != '\n'; bol--)
		;
	for (p = bol; p < tag; p++) {
		if (!tpl_blank(*p))
			return end;
	}
	for (p = end; tpl_blank(*p); p++)
		;
	if (*p == '\r' && p[1] == '\n')
		p++;
	if (*p != '\n' && *p != '\0')
		return end;
	if (tag > bol && lx->n > 0) {
		/* The blanks can only be the tail of the last text token. */
		t = &lx->list[lx->n - 1];
		if (t->type == TPL_TOKEN_TEXT && t->len >= (size_t)(tag - bol))
			t->len -= (size_t)(tag - bol);
	}
	if (*p == '\n') {
		(*line)++;
		p++;
	}
	return p;
}

/* Whether the tag body [inner, inner + len) is the single word w. */
static int
tpl_tag_is(const char *inner, size_t len, const char *w)
{
	size_t wlen = strlen(w);

	while (len > 0 && isspace((unsigned char)*inner)) {
		inner++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)inner[len - 1]))
		len--;
	return len == wlen && memcmp(inner, w, wlen) == 0;
}

/*
 * Finds the {% endraw %} that closes a raw block whose text starts at p;
 * sets *close to the "%}" of that tag. Returns where the tag starts, or
 * NULL.
 */
static const char *
tpl_find_endraw(const char *p, const char **close)
{
	const char *q;

	for (; (p = strstr(p, "{%")) != NULL; p += 2) {
		if ((q = strstr(p + 2, "%}")) == NULL)
			return NULL;
		if (memchr(p + 2, '\n', (size_t)(q - p - 2)) == NULL &&
		    tpl_tag_is(p + 2, (size_t)(q - p - 2), "endraw")) {
			*close = q;
			return p;
		}
	}
	return NULL;
}

/* Counts the newlines in [p, end). */
static int
tpl_count_lines(const char *p, const char *end)
{
	int n = 0;

	for (; p < end; p++)
		n += *p == '\n';
	return n;
}

/*
 * Splits text into text, {{ }} and {% %} tokens; comments are dropped.
 * Between {% raw %} and {% endraw %} everything is text, so a shell
 * template can hold ${#var} or a literal "{{".
 */
static int
tpl_lex(struct tpl_lexer *lx, const char *text, char **cause)
{
	const char *p, *start, *close, *inner, *q;
	int line = 1, tag_line;
	char kind;

	start = p = text;
	for (;;) {
		while (*p != '\0' &&
		    !(p[0] == '{' &&
			(p[1] == '{' || p[1] == '%' || p[1] == '#'))) {
			if (*p == '\n')
				line++;
			p++;
		}
		tpl_lexer_add(
		    lx, TPL_TOKEN_TEXT, 0, start, (size_t)(p - start));
		if (*p == '\0')
			break;

		kind = p[1];
		tag_line = line;
		inner = p + 2;
		close = NULL;
		for (q = inner; *q != '\0'; q++) {
			if (kind == '{' && q[0] == '}' && q[1] == '}')
				close = q;
			else if (kind == '%' && q[0] == '%' && q[1] == '}')
				close = q;
			else if (kind == '#' && q[0] == '#' && q[1] == '}')
				close = q;
			if (close != NULL)
				break;
			if (*q == '\n') {
				if (kind != '#')
					break;
				line++;
			}
		}
		if (close == NULL && kind == '#') {
			*cause = xasprintf("%s:%d: comment '{#' is never "
					   "closed with '#}'",
			    lx->name, tag_line);
			return -1;
		}
		if (close == NULL) {
			*cause = xasprintf("%s:%d: '{%c' is not closed with "
					   "'%c}' on its line",
			    lx->name, tag_line, kind, kind == '{' ? '}' : '%');
			return -1;
		}
		if (kind == '{') {
			tpl_lexer_add(lx, TPL_TOKEN_VAR, tag_line, inner,
			    (size_t)(close - inner));
			start = p = close + 2;
			continue;
		}
		start = tpl_lexer_trim(lx, text, p, close + 2, &line);
		if (kind == '%' &&
		    tpl_tag_is(inner, (size_t)(close - inner), "raw")) {
			p = tpl_find_endraw(start, &close);
			if (p == NULL) {
				*cause = xasprintf("%s:%d: '{%% raw %%}' is "
						   "never closed with "
						   "'{%% endraw %%}'",
				    lx->name, tag_line);
				return -1;
			}
			tpl_lexer_add(
			    lx, TPL_TOKEN_TEXT, 0, start, (size_t)(p - start));
			line += tpl_count_lines(start, p);
			start = tpl_lexer_trim(lx, text, p, close + 2, &line);
		} else if (kind == '%')
			tpl_lexer_add(lx, TPL_TOKEN_TAG, tag_line, inner,
			    (size_t)(close - inner));
		p = start;
	}
	return 0;
}

/* Words of a tag, split on blanks; a "quoted" word keeps its quotes. */
struct tpl_words {
	char *word[6];
	int n;
};

static void
tpl_words_free(struct tpl_words *w)
{
	int i;

	for (i = 0; i < w->n; i++)
		free(w->word[i]);
	w->n = 0;
}

static int
tpl_split(const char *name, const struct tpl_token *t, struct tpl_words *w,
    char **cause)
{
	const char *p, *end, *s;

	w->n = 0;
	p = t->start;
	end = t->start + t->len;
	for (;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (p == end)
			return 0;
		if (w->n == (int)(sizeof w->word / sizeof w->word[0])) {
			*cause = xasprintf(
			    "%s:%d: too many words in tag", name, t->line);
			goto fail;
		}
		s = p;
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
			}
			if (p == end) {
				*cause = xasprintf("%s:%d: string is not "
						   "closed with '\"'",
				    name, t->line);
				goto fail;
			}
			p++;
		} else {
			while (p < end && !isspace((unsigned char)*p))
				p++;
		}
		w->word[w->n++] = xstrndup(s, (size_t)(p - s));
	}

fail:
	tpl_words_free(w);
	return -1;
}

/* Is s a variable path: name(.name)*, each name [A-Za-z_][A-Za-z0-9_]*? */
static int
tpl_valid_path(const char *s)
{
	int start = 1;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (start)
				return 0;
			start = 1;
			continue;
		}
		if (start && !(isalpha((unsigned char)*s) || *s == '_'))
			return 0;
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
		start = 0;
	}
	return !start;
}

static char *
tpl_describe(const char *s)
{
	char *e, *r;

	e = str_escape(s);
	if (strlen(e) > 40)
		strcpy(e + 37, "...");
	r = xasprintf("'%s'", e);
	free(e);
	return r;
}

static int
tpl_check_path(const char *name, int line, const char *s, char **cause)
{
	char *d;

	if (tpl_valid_path(s))
		return 0;
	d = tpl_describe(s);
	*cause = xasprintf("%s:%d: %s is not a variable name (names are "
			   "letters, digits and '_', joined by '.')",
	    name, line, d);
	free(d);
	return -1;
}

/* Unquotes a "string" literal with \" and \\ escapes. */
static char *
tpl_unquote(const char *s)
{
	struct buf b;
	size_t i, len;

	buf_init(&b);
	len = strlen(s);
	for (i = 1; i + 1 < len; i++) {
		if (s[i] == '\\' && i + 2 < len)
			i++;
		buf_addc(&b, s[i]);
	}
	return buf_detach(&b, NULL);
}

struct tpl_parser {
	const char *name;
	struct tpl_lexer *lx;
	size_t i;
	int depth;
};

static int tpl_parse_block(struct tpl_parser *, struct tpl_nodes *,
    const char *const *, char **, int *, char **);

static struct tpl_node *
tpl_nodes_add(struct tpl_nodes *ns, enum tpl_node_type type, int line)
{
	struct tpl_node *n;

	ns->list = xreallocarray(ns->list, ns->n + 1, sizeof *ns->list);
	n = &ns->list[ns->n++];
	memset(n, 0, sizeof *n);
	n->type = type;
	n->line = line;
	return n;
}

static int
tpl_parse_if(struct tpl_parser *ps, struct tpl_nodes *ns, int line,
    struct tpl_words *w, char **cause)
{
	static const char *const ends[] = {"else", "endif", NULL};
	static const char *const endonly[] = {"else", "endif", NULL};
	struct tpl_node *n;
	char *end = NULL;
	int end_line, rc = -1;

	if (w->n != 2 && w->n != 4) {
		*cause = xasprintf("%s:%d: 'if' takes a variable, optionally "
				   "followed by == or != and a \"string\"",
		    ps->name, line);
		return -1;
	}
	if (tpl_check_path(ps->name, line, w->word[1], cause) != 0)
		return -1;
	if (w->n == 4) {
		if (strcmp(w->word[2], "==") != 0 &&
		    strcmp(w->word[2], "!=") != 0) {
			*cause = xasprintf("%s:%d: 'if' compares with == or "
					   "!=, not '%s'",
			    ps->name, line, w->word[2]);
			return -1;
		}
		if (w->word[3][0] != '"') {
			*cause = xasprintf("%s:%d: 'if' compares with a "
					   "\"quoted string\"",
			    ps->name, line);
			return -1;
		}
	}

	n = tpl_nodes_add(ns, TPL_NODE_IF, line);
	n->path = xstrdup(w->word[1]);
	n->op = TPL_OP_TRUTH;
	if (w->n == 4) {
		n->op = w->word[2][0] == '=' ? TPL_OP_EQ : TPL_OP_NE;
		n->literal = tpl_unquote(w->word[3]);
	}
	/* n may move when ns grows, but ns does not grow below here. */
	if (tpl_parse_block(ps, &n->body, ends, &end, &end_line, cause) != 0)
		goto out;
	if (end == NULL)
		goto unclosed;
	if (strcmp(end, "else") == 0) {
		free(end);
		end = NULL;
		if (tpl_parse_block(
			ps, &n->orelse, endonly, &end, &end_line, cause) != 0)
			goto out;
		if (end == NULL)
			goto unclosed;
		if (strcmp(end, "else") == 0) {
			*cause = xasprintf("%s:%d: 'if' from line %d has a "
					   "second 'else'",
			    ps->name, end_line, line);
			goto out;
		}
	}
	rc = 0;
	goto out;

unclosed:
	*cause = xasprintf(
	    "%s:%d: 'if' is never closed with 'endif'", ps->name, line);
out:
	free(end);
	return rc;
}

static int
tpl_parse_for(struct tpl_parser *ps, struct tpl_nodes *ns, int line,
    struct tpl_words *w, char **cause)
{
	static const char *const ends[] = {"endfor", NULL};
	struct tpl_node *n;
	char *end = NULL;
	int end_line, rc = -1;

	if (w->n != 4 || strcmp(w->word[2], "in") != 0) {
		*cause = xasprintf(
		    "%s:%d: 'for' reads 'for NAME in LIST'", ps->name, line);
		return -1;
	}
	if (tpl_check_path(ps->name, line, w->word[1], cause) != 0 ||
	    tpl_check_path(ps->name, line, w->word[3], cause) != 0)
		return -1;
	if (strchr(w->word[1], '.') != NULL ||
	    strcmp(w->word[1], "loop") == 0) {
		*cause = xasprintf("%s:%d: '%s' cannot name a loop item",
		    ps->name, line, w->word[1]);
		return -1;
	}

	n = tpl_nodes_add(ns, TPL_NODE_FOR, line);
	n->item = xstrdup(w->word[1]);
	n->path = xstrdup(w->word[3]);
	if (tpl_parse_block(ps, &n->body, ends, &end, &end_line, cause) != 0)
		goto out;
	if (end == NULL) {
		*cause = xasprintf("%s:%d: 'for' is never closed with "
				   "'endfor'",
		    ps->name, line);
		goto out;
	}
	rc = 0;

out:
	free(end);
	return rc;
}

static int
tpl_parse_var(struct tpl_parser *ps, struct tpl_nodes *ns,
    const struct tpl_token *t, char **cause)
{
	struct tpl_words w;
	struct tpl_node *n;
	int rc = -1;

	if (tpl_split(ps->name, t, &w, cause) != 0)
		return -1;
	if (w.n != 1) {
		*cause = xasprintf("%s:%d: '{{ }}' holds exactly one variable "
				   "name",
		    ps->name, t->line);
		goto out;
	}
	if (tpl_check_path(ps->name, t->line, w.word[0], cause) != 0)
		goto out;
	n = tpl_nodes_add(ns, TPL_NODE_VAR, t->line);
	n->path = xstrdup(w.word[0]);
	rc = 0;

out:
	tpl_words_free(&w);
	return rc;
}

/*
 * Parses nodes into ns until a tag named in ends (returned in *end with its
 * line) or the end of the template (*end stays NULL).
 */
static int
tpl_parse_block(struct tpl_parser *ps, struct tpl_nodes *ns,
    const char *const *ends, char **end, int *end_line, char **cause)
{
	const struct tpl_token *t;
	const char *const *e;
	struct tpl_words w = {.n = 0};
	struct tpl_node *n;
	char *d;
	int rc = -1;

	if (++ps->depth > TEMPLATE_MAX_DEPTH) {
		t = &ps->lx->list[ps->i - 1];
		*cause = xasprintf("%s:%d: blocks are nested more than %d deep",
		    ps->name, t->line, TEMPLATE_MAX_DEPTH);
		goto out;
	}
	while (ps->i < ps->lx->n) {
		t = &ps->lx->list[ps->i++];
		if (t->type == TPL_TOKEN_TEXT) {
			n = tpl_nodes_add(ns, TPL_NODE_TEXT, t->line);
			n->text = t->start;
			n->len = t->len;
			continue;
		}
		if (t->type == TPL_TOKEN_VAR) {
			if (tpl_parse_var(ps, ns, t, cause) != 0)
				goto out;
			continue;
		}

		if (tpl_split(ps->name, t, &w, cause) != 0)
			goto out;
		if (w.n == 0) {
			*cause = xasprintf(
			    "%s:%d: empty tag '{%% %%}'", ps->name, t->line);
			goto out;
		}
		for (e = ends; ends != NULL && *e != NULL; e++) {
			if (strcmp(w.word[0], *e) == 0)
				break;
		}
		if (ends != NULL && *e != NULL) {
			if (w.n != 1) {
				*cause = xasprintf("%s:%d: '%s' takes nothing "
						   "after it",
				    ps->name, t->line, *e);
				goto out;
			}
			*end = xstrdup(*e);
			*end_line = t->line;
			rc = 0;
			goto out;
		}
		if (strcmp(w.word[0], "if") == 0) {
			if (tpl_parse_if(ps, ns, t->line, &w, cause) != 0)
				goto out;
		} else if (strcmp(w.word[0], "for") == 0) {
			if (tpl_parse_for(ps, ns, t->line, &w, cause) != 0)
				goto out;
		} else if (strcmp(w.word[0], "else") == 0 ||
		    strcmp(w.word[0], "endif") == 0) {
			*cause = xasprintf("%s:%d: '%s' without an open 'if'",
			    ps->name, t->line, w.word[0]);
			goto out;
		} else if (strcmp(w.word[0], "endfor") == 0) {
			*cause = xasprintf("%s:%d: 'endfor' without an open "
					   "'for'",
			    ps->name, t->line);
			goto out;
		} else {
			d = tpl_describe(w.word[0]);
			*cause = xasprintf("%s:%d: unknown tag %s (known: if, "
					   "else, endif, for, endfor)",
			    ps->name, t->line, d);
			free(d);
			goto out;
		}
		tpl_words_free(&w);
	}
	rc = 0;

out:
	tpl_words_free(&w);
	ps->depth--;
	return rc;
}

static void
tpl_nodes_free(struct tpl_nodes *ns)
{
	size_t i;

	for (i = 0; i < ns->n; i++) {
		free(ns->list[i].path);
		free(ns->list[i].literal);
		free(ns->list[i].item);
		tpl_nodes_free(&ns->list[i].body);
		tpl_nodes_free(&ns->list[i].orelse);
	}
	free(ns->list);
	ns->list = NULL;
	ns->n = 0;
}

/* Looks a variable up: loop items first (innermost out), then vars. */
static json_t *
tpl_lookup(struct tpl_render *r, const char *path, int *found)
{
	const char *p, *dot;
	json_t *v = NULL;
	char *key;
	size_t len;
	int i;

	*found = 0;
	dot = strchr(path, '.');
	len = dot != NULL ? (size_t)(dot - path) : strlen(path);
	for (i = r->nframes - 1; i >= 0 && v == NULL; i--) {
		if (strlen(r->frames[i].item) == len &&
		    strncmp(r->frames[i].item, path, len) == 0)
			v = r->frames[i].value;
	}
	if (v == NULL && r->nframes > 0 && len == 4 &&
	    strncmp(path, "loop", 4) == 0)
		v = r->frames[r->nframes - 1].loop;
	if (v == NULL) {
		key = xstrndup(path, len);
		v = json_is_object(r->vars) ? json_object_get(r->vars, key)
					    : NULL;
		free(key);
	}
	for (p = dot; v != NULL && p != NULL; p = dot) {
		p++;
		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		key = xstrndup(p, len);
		v = json_is_object(v) ? json_object_get(v, key) : NULL;
		free(key);
	}
	*found = v != NULL;
	return v;
}

static const char *
tpl_type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* The text of a scalar: strings as they are, numbers, true and false. */
static char *
tpl_scalar(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return xstrndup(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return xasprintf(
		    "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return xasprintf("%.15g", json_real_value(v));
	case JSON_TRUE:
		return xstrdup("true");
	case JSON_FALSE:
		return xstrdup("false");
	case JSON_NULL:
		return xstrdup("");
	default:
		return NULL;
	}
}

static int
tpl_truthy(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v) != 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	case JSON_TRUE:
		return 1;
	case JSON_ARRAY:
		return json_array_size(v) != 0;
	case JSON_OBJECT:
		return json_object_size(v) != 0;
	default:
		return 0;
	}
}

static json_t *
tpl_resolve(struct tpl_render *r, const struct tpl_node *n, char **cause)
{
	json_t *v;
	int found;

	v = tpl_lookup(r, n->path, &found);
	if (!found)
		*cause = xasprintf(
		    "%s:%d: unknown variable '%s'", r->name, n->line, n->path);
	return v;
}

static int tpl_render_nodes(
    struct tpl_render *, const struct tpl_nodes *, char **);

static int
tpl_render_var(struct tpl_render *r, const struct tpl_node *n, char **cause)
{
	json_t *v;
	char *s;
	size_t i, len;

	if ((v = tpl_resolve(r, n, cause)) == NULL)
		return -1;
	if (json_is_string(v) &&
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*cause = xasprintf("%s:%d: the value of '%s' holds a NUL "
				   "byte",
		    r->name, n->line, n->path);
		return -1;
	}
	if (json_is_null(v) || (s = tpl_scalar(v)) == NULL) {
		*cause = xasprintf("%s:%d: '%s' is %s, not a value to "
				   "print",
		    r->name, n->line, n->path, tpl_type_name(v));
		return -1;
	}
	len = strlen(s);
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			break;
		if ((unsigned char)s[i] == 0x7f)
			break;
	}
	if (i != len) {
		*cause = xasprintf("%s:%d: the value of '%s' holds a control "
				   "character (0x%02x) and would break the "
				   "line",
		    r->name, n->line, n->path, (unsigned char)s[i]);
		free(s);
		return -1;
	}
	buf_add(r->out, s, len);
	free(s);
	return 0;
}

static int
tpl_render_if(struct tpl_render *r, const struct tpl_node *n, char **cause)
{
	json_t *v;
	char *s;
	int yes;

	if ((v = tpl_resolve(r, n, cause)) == NULL)
		return -1;
	if (n->op == TPL_OP_TRUTH)
		yes = tpl_truthy(v);
	else {
		if ((s = tpl_scalar(v)) == NULL) {
			*cause = xasprintf("%s:%d: '%s' is %s and cannot be "
					   "compared with a string",
			    r->name, n->line, n->path, tpl_type_name(v));
			return -1;
		}
		yes = strcmp(s, n->literal) == 0;
		if (json_is_string(v) && strlen(s) != json_string_length(v))
			yes = 0;
		if (n->op == TPL_OP_NE)
			yes = !yes;
		free(s);
	}
	return tpl_render_nodes(r, yes ? &n->body : &n->orelse, cause);
}

static int
tpl_render_for(struct tpl_render *r, const struct tpl_node *n, char **cause)
{
	struct tpl_frame *f;
	json_t *v;
	size_t i, count;
	int rc = 0;

	if ((v = tpl_resolve(r, n, cause)) == NULL)
		return -1;
	if (!json_is_array(v)) {
		*cause = xasprintf("%s:%d: 'for' needs a list, '%s' is %s",
		    r->name, n->line, n->path, tpl_type_name(v));
		return -1;
	}
	if (r->nframes == TEMPLATE_MAX_DEPTH) {
		*cause = xasprintf(
		    "%s:%d: loops are nested too deep", r->name, n->line);
		return -1;
	}
	f = &r->frames[r->nframes++];
	f->item = n->item;
	count = json_array_size(v);
	for (i = 0; i < count && rc == 0; i++) {
		f->value = json_array_get(v, i);
		f->loop =
		    json_pack("{s:I, s:b, s:b}", "index", (json_int_t)(i + 1),
			"first", i == 0, "last", i + 1 == count);
		rc = tpl_render_nodes(r, &n->body, cause);
		json_decref(f->loop);
	}
	r->nframes--;
	return rc;
}

static int
tpl_render_nodes(struct tpl_render *r, const struct tpl_nodes *ns, char **cause)
{
	const struct tpl_node *n;
	size_t i;
	int rc = 0;

	for (i = 0; i < ns->n && rc == 0; i++) {
		n = &ns->list[i];
		switch (n->type) {
		case TPL_NODE_TEXT:
			buf_add(r->out, n->text, n->len);
			break;
		case TPL_NODE_VAR:
			rc = tpl_render_var(r, n, cause);
			break;
		case TPL_NODE_IF:
			rc = tpl_render_if(r, n, cause);
			break;
		case TPL_NODE_FOR:
			rc = tpl_render_for(r, n, cause);
			break;
		}
	}
	return rc;
}

int
template_render(const char *name, const char *text, json_t *vars,
    struct buf *out, char **cause)
{
	struct tpl_lexer lx = {.name = name};
	struct tpl_parser ps = {.name = name, .lx = &lx};
	struct tpl_nodes nodes = {NULL, 0};
	struct tpl_render r = {.name = name, .vars = vars};
	struct buf b;
	char *end = NULL;
	int end_line, rc = -1;

	buf_init(&b);
	if (tpl_lex(&lx, text, cause) != 0)
		goto out;
	if (tpl_parse_block(&ps, &nodes, NULL, &end, &end_line, cause) != 0)
		goto out;
	r.out = &b;
	if (tpl_render_nodes(&r, &nodes, cause) != 0)
		goto out;
	buf_add(out, b.data, b.len);
	rc = 0;

out:
	free(end);
	tpl_nodes_free(&nodes);
	free(lx.list);
	buf_free(&b);
	return rc;
}

int
template_render_file(
    const char *path, json_t *vars, struct buf *out, char **cause)
{
	char *text;
	size_t len;
	int rc;

	if ((text = file_read(path, TEMPLATE_MAX_SIZE, &len, cause)) == NULL)
		return -1;
	if (strlen(text) != len) {
		*cause =
		    xasprintf("%s: holds a NUL byte; templates are text", path);
		free(text);
		return -1;
	}
	rc = template_render(path, text, vars, out, cause);
	free(text);
	return rc;
}
