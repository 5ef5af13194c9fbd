/*
 * What a certificate is made from, read from the answers or from the TLS
 * directory's certs.json, and written back there (certs.c).
 */
#ifndef CERTS_CONFIG_H
#define CERTS_CONFIG_H

#include <jansson.h>

#include "../installer/answers.h"
#include "certs.h"
#include "pki.h"

#define CERTS_STATE_MAX (256 * 1024)

/* What a certificate is made from: the answers, or certs.json. */
struct certs_config {
	enum answers_tls_mode mode;
	char *hostname;
	char **names; /* the hostname first, no duplicates */
	size_t nnames;
	enum pki_key_type key_type;
	char *directory; /* letsencrypt */
	char *ca_file;
	char *email;
	char *eab_kid;
	char *eab_key_file;
	char *webroot;
	char *challenge_address;
	int challenge_port;
	char *cert; /* provided */
	char *key;
	char *chain;
};

const char *certs_mode_name(enum answers_tls_mode);
int certs_config_from_answers(const struct answers *, const struct certs_opts *,
    struct certs_config *, char **cause);
/* Reads dir's certs.json. */
int certs_config_load(const char *dir, struct certs_config *, char **cause);
/* certs.json's content; caller decrefs. */
json_t *certs_config_json(const struct certs_config *);
/* The command line's say over how challenges are answered and addresses. */
void certs_config_override(struct certs_config *, const struct certs_opts *);
/* How challenges were answered last time (dir's certs.json), unless opts say. */
void certs_config_keep_challenge(
    const char *dir, const struct certs_opts *, struct certs_config *);
void certs_config_free(struct certs_config *);

#endif
