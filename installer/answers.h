/*
 * The answer file, version 1 (docs/answers.md). answers_load reads it with
 * libyaml, strictly: unknown keys, wrong types and bad values are errors
 * naming file:line:column and the key path. Every optional key has a
 * default, so a loaded struct answers is complete.
 */
#ifndef ANSWERS_H
#define ANSWERS_H

#include <stddef.h>

enum answers_profile {
	PROFILE_PRODUCTION,
	PROFILE_SMALL,
};

enum answers_tls_mode {
	TLS_MODE_LETSENCRYPT,
	TLS_MODE_SELFSIGNED,
	TLS_MODE_PROVIDED,
};

struct answers_waiver {
	char *check; /* a preflight check id, e.g. "cpu.cores" */
	char *reason; /* mandatory, shown in every report */
};

struct answers_tls {
	enum answers_tls_mode mode;
	char **extra_names; /* more names for the certificate */
	size_t nextra_names;
	/* letsencrypt */
	char *email;
	char *directory; /* ACME directory URL */
	char *ca_file; /* CA to trust for the directory, or NULL */
	char *eab_kid; /* External Account Binding, or NULL */
	char *eab_hmac_key_file;
	char *key_type; /* "ec256" (default) or "rsa2048" */
	/* provided */
	char *cert;
	char *key;
	char *chain; /* or NULL when cert holds the chain */
};

struct answers_backend {
	int port;
	char *data_dir;
};

struct answers {
	char *path; /* the file read, or NULL for defaults */
	int version;
	enum answers_profile profile;
	char *hostname; /* public name, used for TLS */
	char *bind_address; /* where backends listen */

	struct answers_tls tls;

	struct answers_backend mariadb;
	struct answers_backend redis;
	struct {
		int port; /* AMQP */
		int dist_port; /* Erlang distribution */
		int epmd_port;
		char *data_dir;
	} rabbitmq;
	struct {
		int instances;
		int port; /* first instance; the next use +1 */
	} chatd;
	struct {
		int http_port;
		int https_port;
	} nginx;

	struct answers_waiver *waivers;
	size_t nwaivers;
};

/* One problem found in an answer file. */
struct answers_error {
	char *file;
	int line; /* 1-based; 0 when not tied to a place */
	int column;
	char *key; /* key path, e.g. "components.redis.port" */
	char *message; /* what was found and what is allowed */
};

struct answers_errors {
	struct answers_error *list;
	size_t n;
};

/*
 * Loads and checks an answer file. Returns the answers, or NULL with every
 * problem in errs (all of them, not just the first). Also refuses a file
 * readable by others when it is not the caller's to share (see
 * docs/answers.md).
 */
struct answers *answers_load(const char *path, struct answers_errors *errs);
/*
 * Likewise for an answer file already in memory (len bytes), named name in
 * errors; the file's mode is not checked. Errors are appended to errs.
 */
struct answers *answers_parse(const char *name, const char *data, size_t len,
    struct answers_errors *errs);
/* The answers an empty file would give (every default). */
struct answers *answers_defaults(void);
void answers_free(struct answers *);
void answers_errors_free(struct answers_errors *);
/* Formats one error as "file:line:col: key: message"; caller frees. */
char *answers_error_string(const struct answers_error *);
/* Returns the waiver for a check id, or NULL. */
const struct answers_waiver *answers_waiver(
    const struct answers *, const char *check);
const char *answers_profile_name(enum answers_profile);
/*
 * The answers as a JSON tree shaped like the YAML file (hostname,
 * bind_address, profile, tls.*, components.mariadb.port, ...), for
 * templates. The caller decrefs it.
 */
struct json_t *answers_to_json(const struct answers *);
const char *answers_tls_mode_name(enum answers_tls_mode);

#endif
