/*
 * Shared by the answer loader's files: answers.c (the public calls and the
 * error list), answers-schema.c (the key table and the walk) and
 * answers-check.c (checks across keys). Nothing else includes it.
 */
#ifndef ANSWERS_INT_H
#define ANSWERS_INT_H

#include <stddef.h>

#include <yaml.h>

#include "answers.h"

#define ANSWERS_MAX_ERRORS 100

struct ydoc;

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

void ans_error(struct ans_ctx *, int line, int column, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Reports an error at node n. */
void ans_node_error(struct ans_ctx *, const yaml_node_t *n, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reports an error at where path (or its nearest parent) is in the file. */
void ans_path_error(struct ans_ctx *, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records that path was in the file, its value at n. */
void ans_seen_add(struct ans_ctx *, const char *path, const yaml_node_t *n);
int ans_seen(struct ans_ctx *, const char *path);
/* Whether this parse already reported an error at path. */
int ans_failed(struct ans_ctx *, const char *path);

/* answers-schema.c */
void ans_walk(struct ans_ctx *, yaml_node_t *root);

/* answers-check.c */
void ans_check(struct ans_ctx *);

#endif
