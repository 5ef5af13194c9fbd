/*
 * A small template renderer for the files under templates/. Variables
 * come from a JSON tree (answers, secrets, host facts) so that any part
 * can build one.
 *
 *   {{ name.path }}                  the value (string, integer, boolean)
 *   {% if name.path %} ... {% else %} ... {% endif %}
 *   {% if name.path == "text" %}     also !=; compares as strings
 *   {% for item in name.path %} ... {{ item }} {{ item.key }}
 *       {{ loop.index }} ... {% endfor %}   over arrays
 *       (loop.index counts from 1; loop.first and loop.last are booleans)
 *   {# a comment #}
 *   {% raw %} ... {% endraw %}      the text between, as is ("${#x}", "{{")
 *
 * A line holding only a {% %} or {# #} tag leaves no blank line behind.
 * Truthy: non-empty string, non-zero number, true, non-empty array.
 * An unknown variable, an unclosed block or any other malformed tag is an
 * error naming template:line, and so is a printed value that holds a
 * newline or another control character (or is null, a list, an object).
 * Nothing else: no filters, no expressions.
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <jansson.h>

#include "buf.h"

/*
 * Renders text (named name in errors) with vars into out. Returns 0, or
 * -1 with *cause set ("name:line: unknown variable 'x'").
 */
int template_render(const char *name, const char *text, json_t *vars,
    struct buf *out, char **cause);
/* Reads path and renders it likewise. */
int template_render_file(
    const char *path, json_t *vars, struct buf *out, char **cause);

#endif
