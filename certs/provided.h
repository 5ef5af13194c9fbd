/*
 * provided mode: the operator's certificate, chain and key, checked
 * before anything changes: the key matches the certificate, the chain
 * verifies, the names cover the hostname, it is valid now (a warning
 * within CERTS_WARN_DAYS of expiry), and the key file is not readable by
 * others.
 */
#ifndef PROVIDED_H
#define PROVIDED_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

struct provided {
	struct buf fullchain; /* PEM, leaf first */
	struct buf key; /* PEM; wiped by provided_free */
	char **warnings;
	size_t nwarnings;
};

/*
 * Checks cert (which may hold the chain too), chain (or NULL) and key for
 * names at time now. Returns -1 with *cause listing every reason the
 * files are refused.
 */
int provided_check(const char *cert, const char *chain, const char *key,
    char *const *names, size_t n, time_t now, struct provided *, char **cause);
void provided_free(struct provided *);

#endif
