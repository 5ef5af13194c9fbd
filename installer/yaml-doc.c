#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "buf.h"
#include "xmalloc.h"
#include "yaml-doc.h"

#define YDOC_DESCRIBE_MAX 60

static char *
ydoc_problem(yaml_parser_t *p)
{
	const char *what;

	what = p->problem != NULL ? p->problem : "unreadable input";
	if (p->context != NULL)
		return xasprintf("malformed YAML (%s %s at line %zu, column "
				 "%zu), expected valid YAML",
		    what, p->context, p->context_mark.line + 1,
		    p->context_mark.column + 1);
	return xasprintf("malformed YAML (%s), expected valid YAML", what);
}

int
ydoc_load(struct ydoc *yd, const char *data, size_t len, int *line, int *column,
    char **cause)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int rc = -1;

	memset(yd, 0, sizeof *yd);
	if (!yaml_parser_initialize(&parser)) {
		*line = *column = 0;
		*cause = xstrdup("cannot start the YAML parser");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &yd->doc)) {
		*line = (int)parser.problem_mark.line + 1;
		*column = (int)parser.problem_mark.column + 1;
		*cause = ydoc_problem(&parser);
		goto out;
	}
	yd->loaded = 1;
	if (yaml_document_get_root_node(&yd->doc) == NULL) {
		rc = 0;
		goto out;
	}

	if (!yaml_parser_load(&parser, &extra)) {
		*line = (int)parser.problem_mark.line + 1;
		*column = (int)parser.problem_mark.column + 1;
		*cause = ydoc_problem(&parser);
		goto out;
	}
	if (yaml_document_get_root_node(&extra) != NULL) {
		*line = (int)extra.start_mark.line + 1;
		*column = (int)extra.start_mark.column + 1;
		*cause = xstrdup("a second YAML document, expected one");
		yaml_document_delete(&extra);
		goto out;
	}
	yaml_document_delete(&extra);
	rc = 0;

out:
	if (rc != 0 && yd->loaded) {
		yaml_document_delete(&yd->doc);
		yd->loaded = 0;
	}
	yaml_parser_delete(&parser);
	return rc;
}

void
ydoc_free(struct ydoc *yd)
{
	if (yd->loaded)
		yaml_document_delete(&yd->doc);
	yd->loaded = 0;
}

yaml_node_t *
ydoc_root(struct ydoc *yd)
{
	if (!yd->loaded)
		return NULL;
	return yaml_document_get_root_node(&yd->doc);
}

yaml_node_t *
ydoc_node(struct ydoc *yd, int index)
{
	return yaml_document_get_node(&yd->doc, index);
}

int
ydoc_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

int
ydoc_column(const yaml_node_t *n)
{
	return (int)n->start_mark.column + 1;
}

int
ydoc_has_tag(const yaml_node_t *n)
{
	const char *tag = (const char *)n->tag;
	const char *want;

	if (tag == NULL)
		return 0;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		want = YAML_DEFAULT_SCALAR_TAG;
		break;
	case YAML_SEQUENCE_NODE:
		want = YAML_DEFAULT_SEQUENCE_TAG;
		break;
	case YAML_MAPPING_NODE:
		want = YAML_DEFAULT_MAPPING_TAG;
		break;
	default:
		return 1;
	}
	return strcmp(tag, want) != 0;
}

const char *
ydoc_scalar(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE)
		return NULL;
	s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length)
		return NULL;
	return s;
}

static int
ydoc_is_one_of(const char *s, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcmp(s, *list) == 0)
			return 1;
	}
	return 0;
}

static int
ydoc_is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
	}
	return 1;
}

static int
ydoc_is_float(const char *s)
{
	int digits = 0, dot = 0, exp = 0;

	if (*s == '-' || *s == '+')
		s++;
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && !dot && !exp)
			dot = 1;
		else if ((*s == 'e' || *s == 'E') && digits && !exp) {
			exp = 1;
			if (s[1] == '-' || s[1] == '+')
				s++;
		} else
			return 0;
	}
	return digits > 0;
}

enum ydoc_scalar
ydoc_scalar_kind(const yaml_node_t *n)
{
	static const char *const nulls[] = {
	    "", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {
	    "true", "True", "TRUE", "false", "False", "FALSE", NULL};
	static const char *const floats[] = {".inf", "-.inf", "+.inf", ".nan",
	    ".Inf", ".NaN", ".INF", ".NAN", NULL};
	const char *s;

	if (n->type != YAML_SCALAR_NODE)
		return YDOC_STRING;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return YDOC_STRING;
	if ((s = ydoc_scalar(n)) == NULL)
		return YDOC_STRING;
	if (ydoc_is_one_of(s, nulls))
		return YDOC_NULL;
	if (ydoc_is_one_of(s, bools))
		return YDOC_BOOL;
	if (ydoc_is_int(s))
		return YDOC_INT;
	if (ydoc_is_float(s) || ydoc_is_one_of(s, floats))
		return YDOC_FLOAT;
	return YDOC_STRING;
}

char *
ydoc_describe(const yaml_node_t *n)
{
	struct buf b;
	size_t len;

	switch (n->type) {
	case YAML_SEQUENCE_NODE:
		return xstrdup("a list");
	case YAML_MAPPING_NODE:
		return xstrdup("a mapping");
	case YAML_SCALAR_NODE:
		break;
	default:
		return xstrdup("nothing");
	}
	switch (ydoc_scalar_kind(n)) {
	case YDOC_NULL:
		return xstrdup("no value");
	case YDOC_BOOL:
	case YDOC_INT:
	case YDOC_FLOAT:
		return xstrdup((const char *)n->data.scalar.value);
	default:
		break;
	}

	buf_init(&b);
	buf_addc(&b, '\'');
	len = n->data.scalar.length;
	if (len > YDOC_DESCRIBE_MAX)
		len = YDOC_DESCRIBE_MAX;
	buf_add_escaped(&b, (const char *)n->data.scalar.value, len);
	if (len != n->data.scalar.length)
		buf_adds(&b, "...");
	buf_addc(&b, '\'');
	return buf_detach(&b, NULL);
}
