/*
 * TLS certificates for the site, in the three modes of tls.mode
 * (docs/tls.md):
 *
 *   letsencrypt  issued over ACME (acme.h), renewed by a timer
 *   selfsigned   signed by a local CA kept next to it
 *   provided     the operator's files, checked, then copied in
 *
 * Everything lives in one TLS directory (/etc/chatstack/tls on a host):
 *
 *   fullchain.pem   certificate and chain, leaf first (nginx
 *                   ssl_certificate)
 *   privkey.pem     its key, 0600 (nginx ssl_certificate_key)
 *   ca.crt, ca.key  selfsigned: the local CA (key 0600); nginx publishes
 *                   ca.crt so that clients can be told to trust it
 *   account.key     letsencrypt: the ACME account key, 0600
 *   certs.json      how the certificate was made, for `certs renew`
 *   renewal.json    the last renewal attempt, for `certs status`
 *
 * The engine's TLS step calls certs_check as its check and certs_ensure
 * as its apply, then reloads nginx when result.changed is set.
 */
#ifndef CERTS_H
#define CERTS_H

#include <stddef.h>

#include <jansson.h>

struct answers;

#define CERTS_TLS_DIR "/etc/chatstack/tls"
#define CERTS_FULLCHAIN "fullchain.pem"
#define CERTS_KEY "privkey.pem"
#define CERTS_CA_CERT "ca.crt"
#define CERTS_CA_KEY "ca.key"
#define CERTS_ACCOUNT_KEY "account.key"
#define CERTS_STATE "certs.json"
#define CERTS_RENEWAL "renewal.json"
#define CERTS_RELOAD_PENDING ".reload-pending" /* nginx has the old one */
/* A provided certificate this close to expiry draws a warning. */
#define CERTS_WARN_DAYS 14

struct certs_opts {
	const char *tls_dir; /* NULL: CERTS_TLS_DIR */
	/*
	 * letsencrypt: the directory nginx serves /.well-known/acme-challenge/
	 * from (kept for renewals). Challenges are answered from it unless
	 * responder is set or it is NULL.
	 */
	const char *webroot;
	int responder; /* answer with the built-in responder (no nginx yet) */
	const char *challenge_address; /* responder: NULL, every address */
	int challenge_port; /* responder: 0, answers' nginx.http_port */
	/* selfsigned: addresses for the SAN; none, this host's own. */
	char *const *addresses;
	size_t naddresses;
	int force; /* replace the certificate even when it fits */
};

struct certs_result {
	int changed; /* fullchain.pem or privkey.pem changed: reload nginx */
	char *message; /* one line for the step's finished event */
	char *ca_fingerprint; /* selfsigned: SHA-256 of ca.crt, "AB:CD:..." */
	char **warnings; /* e.g. a provided certificate expires soon */
	size_t nwarnings;
};

/*
 * Is the certificate in the TLS directory what the answers ask for, and
 * not due? Returns 1 when it is, 0 when certs_ensure has work to do (with
 * *reason saying what, caller frees), -1 with *reason on an error.
 */
int certs_check(
    const struct answers *, const struct certs_opts *, char **reason);
/*
 * Makes the TLS directory hold a certificate for the answers' tls mode,
 * names and key type: keeps one that fits and is not due, else issues or
 * installs a new one. Nothing already installed changes on failure.
 * Returns 0 with result filled (certs_result_free), or -1 with *cause a
 * sentence saying what to check.
 */
int certs_ensure(const struct answers *, const struct certs_opts *,
    struct certs_result *, char **cause);
/*
 * Renews the certificate when a third of its lifetime is left (or
 * opts->force, or when it no longer fits the answers), as the answers say,
 * or when answers is NULL as the TLS directory's certs.json says; records
 * the attempt in renewal.json. Old files stay on failure.
 */
int certs_renew(const struct answers *, const struct certs_opts *,
    struct certs_result *, char **cause);
/*
 * What `certs status` shows: mode, subject, issuer, names, validity,
 * renewal state, CA fingerprint. Caller decrefs.
 */
json_t *certs_status(const char *tls_dir, char **cause);
void certs_result_free(struct certs_result *);

#endif
