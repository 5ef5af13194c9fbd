/*
 * A thin layer over libyaml's document API for strict readers: one
 * document from memory, syntax errors with their place, and scalars
 * classified the way YAML 1.2's core schema reads plain text (null,
 * boolean, integer, other), since libyaml leaves every scalar untyped.
 */
#ifndef YAML_DOC_H
#define YAML_DOC_H

#include <stddef.h>

#include <yaml.h>

enum ydoc_scalar {
	YDOC_NULL, /* empty, ~, null */
	YDOC_BOOL, /* true, false */
	YDOC_INT, /* plain decimal digits, optionally signed */
	YDOC_FLOAT, /* plain number with a fraction or exponent */
	YDOC_STRING, /* anything else, and every quoted scalar */
};

struct ydoc {
	yaml_document_t doc;
	int loaded;
};

/*
 * Parses data (len bytes) as exactly one YAML document. Returns 0, or -1
 * with *line and *column (1-based) and *cause (allocated) set.
 */
int ydoc_load(struct ydoc *, const char *data, size_t len, int *line,
    int *column, char **cause);
void ydoc_free(struct ydoc *);
/* The root node, or NULL when the document is empty. */
yaml_node_t *ydoc_root(struct ydoc *);
yaml_node_t *ydoc_node(struct ydoc *, int index);

/* Where a node starts, 1-based. */
int ydoc_line(const yaml_node_t *);
int ydoc_column(const yaml_node_t *);
/* Whether a node carries an explicit tag other than the defaults. */
int ydoc_has_tag(const yaml_node_t *);
enum ydoc_scalar ydoc_scalar_kind(const yaml_node_t *);
/* The scalar's text; NULL for other nodes or text holding a NUL byte. */
const char *ydoc_scalar(const yaml_node_t *);
/*
 * Describes a node for an error message: "'text'" (escaped, shortened),
 * "a list", "a mapping", "no value". Returns an allocated string.
 */
char *ydoc_describe(const yaml_node_t *);

#endif
