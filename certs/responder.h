/*
 * The built-in http-01 responder: before nginx exists, a small HTTP
 * server on the challenge port answers GET
 * /.well-known/acme-challenge/TOKEN with the key authorization, and 404
 * for anything else. It runs in a child process until stopped, serving
 * several clients at once, each given a few seconds to ask.
 */
#ifndef RESPONDER_H
#define RESPONDER_H

#include <stddef.h>

struct responder;

/*
 * Listens on address (NULL: every address) and port, then serves the n
 * token/answer pairs. Returns NULL with *cause set, e.g. when the port is
 * taken.
 */
struct responder *responder_start(const char *address, int port,
    char *const *tokens, char *const *answers, size_t n, char **cause);
void responder_stop(struct responder *);

#endif
