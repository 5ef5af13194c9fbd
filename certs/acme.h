/*
 * An ACME client (RFC 8555) for http-01 on libcurl: directory, nonces
 * (badNonce retried), account with terms agreement and optional External
 * Account Binding, order, challenges answered from a webroot or by the
 * built-in responder, polling that honours Retry-After, finalization and
 * the certificate chain. It holds no private key: every signature comes
 * from a signer (signer.h).
 *
 * The parsers below take the CA's untrusted replies; they are what
 * tests/fuzz/fuzz_acme.c feeds.
 */
#ifndef ACME_H
#define ACME_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "pki.h"
#include "signer.h"

#define ACME_DEFAULT_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"

/* What the client was doing when a problem came back. */
enum acme_stage {
	ACME_STAGE_DIRECTORY,
	ACME_STAGE_ACCOUNT,
	ACME_STAGE_ORDER,
	ACME_STAGE_CHALLENGE,
	ACME_STAGE_FINALIZE,
	ACME_STAGE_DOWNLOAD,
};

/* An RFC 7807 problem document. */
struct acme_problem {
	char *type; /* "badNonce" for ACME's own URNs, else the full type */
	char *detail; /* as sent: untrusted, escape before showing */
	int status;
	char *identifier; /* of the first subproblem, or NULL */
};

struct acme_context {
	enum acme_stage stage;
	const char *name; /* the identifier concerned, or NULL */
	int eab; /* an External Account Binding was sent */
	time_t retry_after; /* when the CA said to come back, or 0 */
};

/* Returns 0 when body is a problem document, -1 otherwise. */
int acme_problem_parse(const char *body, size_t len, struct acme_problem *);
void acme_problem_free(struct acme_problem *);
/*
 * The problem as a sentence for the operator: what went wrong and what
 * to check. Caller frees.
 */
char *acme_problem_sentence(
    const struct acme_problem *, const struct acme_context *);

struct acme_directory {
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *terms; /* may be NULL */
	int eab_required;
};

struct acme_order {
	char *status;
	char **authorizations;
	size_t nauthorizations;
	char *finalize;
	char *certificate; /* once valid */
	struct acme_problem error; /* error.type is NULL when none */
};

struct acme_authz {
	char *status;
	char *identifier;
	char *challenge_url; /* of the http-01 challenge */
	char *challenge_status;
	char *token;
	struct acme_problem error; /* the challenge's, if any */
};

/*
 * Orders and authorizations come back only with a status of RFC 8555
 * (pending, ready, processing, valid, invalid, ...), and for an
 * authorization a pending one only with a base64url token.
 */
int acme_directory_parse(
    const char *, size_t, struct acme_directory *, char **cause);
void acme_directory_free(struct acme_directory *);
int acme_order_parse(const char *, size_t, struct acme_order *, char **cause);
void acme_order_free(struct acme_order *);
int acme_authz_parse(const char *, size_t, struct acme_authz *, char **cause);
void acme_authz_free(struct acme_authz *);
/*
 * A Retry-After value (delta-seconds or an HTTP date) as a time, or 0 when
 * it is neither.
 */
time_t acme_retry_after(const char *value, time_t now);
/* Tokens become file names and URL paths: base64url characters only. */
int acme_token_valid(const char *);

/*
 * A flattened JWS (RFC 7515) over payload (NULL: POST-as-GET, empty
 * payload) for url, with the account's JWK (kid NULL) or its kid.
 * Caller decrefs.
 */
json_t *acme_jws(struct signer *, const char *url, const char *nonce,
    const char *kid, json_t *payload, char **cause);

struct acme_params {
	const char *directory; /* NULL: Let's Encrypt production */
	const char *ca_file; /* CA to trust for the directory, or NULL */
	const char *email; /* or NULL */
	const char *eab_kid; /* or NULL */
	const char *eab_key_file;
	char *const *names; /* the hostname first */
	size_t nnames;
	enum pki_key_type key_type;
	const char *webroot; /* NULL: run the built-in responder */
	const char *challenge_address; /* responder: NULL for every address */
	int challenge_port; /* responder: 80 unless told */
};

/*
 * Orders a certificate for params->names and fetches its chain (PEM, leaf
 * first) into chain; its key stays in the signer (signer_commit_key).
 * Returns -1 with *cause a sentence saying what to check.
 */
int acme_issue(struct signer *, const struct acme_params *, struct buf *chain,
    char **cause);

#endif
