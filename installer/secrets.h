/*
 * Generated secrets: random, created once in a 0700 directory
 * (/etc/chatstack/secrets on a host), each file 0600, opened with
 * O_EXCL|O_NOFOLLOW. Values are letters and digits only so they are safe
 * in every configuration syntax. Never logged, never in argv or env.
 */
#ifndef SECRETS_H
#define SECRETS_H

#include <stddef.h>

#define SECRETS_DIR "/etc/chatstack/secrets"

/*
 * Makes sure secret name exists in dir, creating it (and dir) when
 * missing; an existing secret is kept. *created says which. Returns 0, or
 * -1 with *cause set.
 */
int secret_ensure(const char *dir, const char *name, size_t length,
    int *created, char **cause);
/*
 * Reads secret name from dir; returns an allocated string without a
 * trailing newline (the caller wipes with explicit_bzero and frees), or
 * NULL with *cause set. Refuses a file readable by group or others.
 */
char *secret_read(const char *dir, const char *name, char **cause);

#endif
