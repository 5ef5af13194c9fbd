/*
 * Running other programs: argv arrays only (never a shell), output
 * captured, a timeout, and secrets passed on standard input, never in argv
 * or the environment.
 */
#ifndef SPAWN_H
#define SPAWN_H

#include <stddef.h>

#include "buf.h"

struct spawn {
	char *const *argv; /* argv[0] is looked up in PATH */
	char *const *envp; /* NULL: a minimal safe environment */
	const char *cwd; /* NULL: unchanged */
	const void *input; /* written to stdin, then closed */
	size_t inputlen;
	int timeout_ms; /* 0: none */
	int merge_stderr; /* stderr into out */
	size_t max_output; /* per stream; 0: 1 MiB */

	/* Results. */
	struct buf out;
	struct buf err;
	int status; /* exit code, or 128+signal */
	int timed_out;
};

/*
 * Runs the program and waits for it. Returns 0 when it ran (whatever its
 * exit status, in ->status) or -1 with *cause set when it could not be
 * started. out and err must be freed with spawn_free.
 */
int spawn_run(struct spawn *, char **cause);
void spawn_free(struct spawn *);

/*
 * Returns an allocated one-line description of a finished command, such as
 * "'systemctl start nginx' exited with status 1: <last line of stderr>".
 */
char *spawn_describe(const struct spawn *);

#endif
