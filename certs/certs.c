/*
 * The TLS step: which certificate the answers ask for, whether the one
 * installed fits, and making one that does (certs.h).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "../installer/answers.h"
#include "certs-config.h"
#include "certs.h"
#include "fileio.h"
#include "localca.h"
#include "log.h"
#include "pki.h"
#include "provided.h"
#include "signer.h"
#include "xmalloc.h"

#define CERTS_LOCK ".certs.lock"

static char *
certs_path(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static const char *
certs_dir(const struct certs_opts *o)
{
	return o->tls_dir != NULL ? o->tls_dir : CERTS_TLS_DIR;
}

/*
 * Does the installed certificate fit c? Returns 1, or 0 with *reason
 * saying why not.
 */
static int
certs_fits(
    const char *dir, const struct certs_config *c, time_t now, char **reason)
{
	STACK_OF(X509) *certs = NULL;
	struct certs_config old;
	struct pki_info info;
	EVP_PKEY *key = NULL;
	X509 *leaf;
	char *path, *cause = NULL, *when;
	const char *olddir, *newdir;
	int fits = 0;

	memset(&info, 0, sizeof info);
	memset(&old, 0, sizeof old);
	path = certs_path(dir, CERTS_FULLCHAIN);
	certs = pki_certs_load(path, &cause);
	free(path);
	if (certs == NULL) {
		*reason = xstrdup("there is no certificate yet");
		goto out;
	}
	leaf = sk_X509_value(certs, 0);
	pki_info_get(leaf, &info);
	path = certs_path(dir, CERTS_KEY);
	key = pki_key_load(path, &cause);
	free(path);
	if (key == NULL || X509_check_private_key(leaf, key) != 1) {
		*reason = xstrdup("the key does not match the certificate");
		goto out;
	}
	if (certs_config_load(dir, &old, &cause) == -1) {
		*reason = xstrdup("certs.json is missing");
		goto out;
	}
	if (old.mode != c->mode) {
		*reason = xasprintf("the certificate is %s, the answers ask "
				    "for %s",
		    certs_mode_name(old.mode), certs_mode_name(c->mode));
		goto out;
	}
	if (!pki_names_equal(&info, c->names, c->nnames)) {
		*reason = xstrdup("the certificate's names differ from the "
				  "answers'");
		goto out;
	}
	if (c->mode != TLS_MODE_PROVIDED &&
	    pki_key_type_of(key) != (int)c->key_type) {
		*reason = xasprintf(
		    "the key is not %s", pki_key_type_name(c->key_type));
		goto out;
	}
	if (c->mode == TLS_MODE_LETSENCRYPT) {
		olddir = old.directory != NULL ? old.directory
					       : ACME_DEFAULT_DIRECTORY;
		newdir = c->directory != NULL ? c->directory
					      : ACME_DEFAULT_DIRECTORY;
		if (strcmp(olddir, newdir) != 0) {
			*reason = xstrdup("the certificate comes from another "
					  "ACME directory");
			goto out;
		}
	}
	if (c->mode == TLS_MODE_SELFSIGNED && !localca_signed(dir, leaf)) {
		*reason = xstrdup("the certificate is not signed by the local "
				  "CA");
		goto out;
	}
	if (c->mode != TLS_MODE_PROVIDED && now >= pki_renew_after(&info)) {
		when = pki_time_string(info.not_after);
		*reason = xasprintf("the certificate is due for renewal (it "
				    "expires on %s)",
		    when);
		free(when);
		goto out;
	}
	fits = 1;

out:
	free(cause);
	certs_config_free(&old);
	pki_info_free(&info);
	EVP_PKEY_free(key);
	pki_certs_free(certs);
	return fits;
}

static int
certs_lock(const char *dir, char **cause)
{
	char *path;
	int fd;

	path = certs_path(dir, CERTS_LOCK);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		*cause =
		    xasprintf("cannot open '%s': %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		*cause = xasprintf("another chatstack run is changing the "
				   "certificates in '%s'; try again when it "
				   "is done",
		    dir);
		return -1;
	}
	return fd;
}

static int
certs_write(const char *dir, const char *name, const struct buf *b, mode_t mode,
    int *changed, char **cause)
{
	struct atomic_opts o = ATOMIC_OPTS(mode);
	char *path;
	int rc, c = 0;

	path = certs_path(dir, name);
	rc = atomic_write(path, b->data, b->len, &o, &c, cause);
	free(path);
	if (c)
		*changed = 1;
	return rc;
}

/* The issued chain must parse and name what was asked. */
static int
certs_check_chain(
    const struct certs_config *c, const struct buf *chain, char **cause)
{
	STACK_OF(X509) * certs;
	struct pki_info info;
	int ok;

	certs = pki_certs_parse(
	    chain->data, chain->len, "the CA's certificate chain", cause);
	if (certs == NULL)
		return -1;
	pki_info_get(sk_X509_value(certs, 0), &info);
	ok = pki_names_equal(&info, c->names, c->nnames);
	pki_info_free(&info);
	pki_certs_free(certs);
	if (!ok) {
		*cause = xstrdup("the CA issued a certificate for other names "
				 "than were ordered");
		return -1;
	}
	return 0;
}

static int
certs_issue_acme(const char *dir, const struct certs_config *c,
    const struct certs_opts *o, struct certs_result *r, char **cause)
{
	struct acme_params p;
	struct buf chain = BUF_INIT;
	struct signer *s;
	char *path;
	int created, rc = -1;

	memset(&p, 0, sizeof p);
	p.directory = c->directory;
	p.ca_file = c->ca_file;
	p.email = c->email;
	p.eab_kid = c->eab_kid;
	p.eab_key_file = c->eab_key_file;
	p.names = c->names;
	p.nnames = c->nnames;
	p.key_type = c->key_type;
	p.webroot = o->responder ? NULL : c->webroot;
	p.challenge_address = c->challenge_address;
	p.challenge_port = c->challenge_port;

	path = certs_path(dir, CERTS_ACCOUNT_KEY);
	s = signer_open(SIGNER_PROCESS, path, &created, cause);
	if (s == NULL) {
		free(path);
		return -1;
	}
	if (created)
		log_info("created the ACME account key %s", path);
	free(path);
	if (acme_issue(s, &p, &chain, cause) == -1 ||
	    certs_check_chain(c, &chain, cause) == -1)
		goto out;
	path = certs_path(dir, CERTS_KEY);
	rc = signer_commit_key(s, path, &r->changed, cause);
	free(path);
	if (rc == -1 ||
	    certs_write(
		dir, CERTS_FULLCHAIN, &chain, 0644, &r->changed, cause) == -1) {
		rc = -1;
		goto out;
	}
	rc = 0;

out:
	buf_free(&chain);
	signer_close(s);
	return rc;
}

static int
certs_issue_local(const char *dir, const struct certs_config *c,
    struct certs_result *r, char **cause)
{
	struct buf chain = BUF_INIT, key = BUF_INIT;
	int created, rc = -1;

	if (localca_ensure(dir, c->hostname, &created, cause) == -1)
		return -1;
	if (created)
		log_info("created the local CA %s/%s", dir, CERTS_CA_CERT);
	if (localca_issue(dir, c->names, c->nnames, c->key_type, &chain, &key,
		cause) == -1)
		goto out;
	if (certs_write(dir, CERTS_KEY, &key, 0600, &r->changed, cause) == -1 ||
	    certs_write(
		dir, CERTS_FULLCHAIN, &chain, 0644, &r->changed, cause) == -1)
		goto out;
	rc = 0;

out:
	buf_free(&chain);
	buf_wipe(&key);
	return rc;
}

static int
certs_install_provided(
    const char *dir, struct provided *p, struct certs_result *r, char **cause)
{
	size_t i;

	for (i = 0; i < p->nwarnings; i++)
		log_warn("%s", p->warnings[i]);
	if (certs_write(dir, CERTS_KEY, &p->key, 0600, &r->changed, cause) ==
		-1 ||
	    certs_write(dir, CERTS_FULLCHAIN, &p->fullchain, 0644, &r->changed,
		cause) == -1)
		return -1;
	r->warnings = p->warnings;
	r->nwarnings = p->nwarnings;
	p->warnings = NULL;
	p->nwarnings = 0;
	return 0;
}

/* A line about the installed certificate, for the result's message. */
static char *
certs_describe(const char *dir, int changed)
{
	STACK_OF(X509) * certs;
	struct pki_info info;
	char *path, *cause = NULL, *until, *s;

	path = certs_path(dir, CERTS_FULLCHAIN);
	certs = pki_certs_load(path, &cause);
	free(path);
	if (certs == NULL)
		return cause;
	pki_info_get(sk_X509_value(certs, 0), &info);
	until = pki_time_string(info.not_after);
	s = xasprintf("%s certificate for %s from %s, valid until %s",
	    changed ? "installed a" : "kept the",
	    info.nnames > 0 ? info.names[0] : info.subject, info.issuer, until);
	free(until);
	pki_info_free(&info);
	pki_certs_free(certs);
	return s;
}

/* Makes dir hold a certificate for c. */
static int
certs_apply(const char *dir, const struct certs_config *c,
    const struct certs_opts *o, struct certs_result *r, char **cause)
{
	json_t *state;
	struct provided p;
	struct buf b = BUF_INIT;
	char *reason = NULL, *text;
	int lock, rc = -1, unused = 0;

	memset(r, 0, sizeof *r);
	memset(&p, 0, sizeof p);
	/* The operator's files are checked before anything changes. */
	if (c->mode == TLS_MODE_PROVIDED &&
	    provided_check(c->cert, c->chain, c->key, c->names, c->nnames,
		time(NULL), &p, cause) == -1)
		return -1;
	if (mkdir_p(dir, 0755, cause) == -1 ||
	    (lock = certs_lock(dir, cause)) == -1) {
		provided_free(&p);
		return -1;
	}

	if (c->mode == TLS_MODE_PROVIDED)
		rc = certs_install_provided(dir, &p, r, cause);
	else if (!o->force && certs_fits(dir, c, time(NULL), &reason))
		rc = 0;
	else {
		if (reason != NULL)
			log_info("new certificate needed: %s", reason);
		if (c->mode == TLS_MODE_SELFSIGNED)
			rc = certs_issue_local(dir, c, r, cause);
		else
			rc = certs_issue_acme(dir, c, o, r, cause);
	}
	free(reason);
	if (rc == -1)
		goto out;

	state = certs_config_json(c);
	text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(state);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	free(text);
	rc = certs_write(dir, CERTS_STATE, &b, 0644, &unused, cause);
	buf_free(&b);
	if (rc == -1)
		goto out;
	if (c->mode == TLS_MODE_SELFSIGNED &&
	    (r->ca_fingerprint = localca_fingerprint(dir, cause)) == NULL) {
		rc = -1;
		goto out;
	}
	r->message = certs_describe(dir, r->changed);
	if (r->changed)
		log_info("%s", r->message);

out:
	provided_free(&p);
	close(lock);
	return rc;
}

int
certs_check(const struct answers *a, const struct certs_opts *o, char **reason)
{
	struct certs_config c;
	struct provided p;
	struct buf want = BUF_INIT;
	char *path, *have = NULL;
	size_t len = 0;
	int fits;

	if (certs_config_from_answers(a, o, &c, reason) == -1)
		return -1;
	if (c.mode != TLS_MODE_PROVIDED) {
		fits = o->force
		    ? 0
		    : certs_fits(certs_dir(o), &c, time(NULL), reason);
		if (o->force)
			*reason = xstrdup("a new certificate was asked for");
		certs_config_free(&c);
		return fits;
	}
	if (provided_check(c.cert, c.chain, c.key, c.names, c.nnames,
		time(NULL), &p, reason) == -1) {
		certs_config_free(&c);
		return -1;
	}
	buf_add(&want, p.fullchain.data, p.fullchain.len);
	provided_free(&p);
	path = certs_path(certs_dir(o), CERTS_FULLCHAIN);
	have = file_read(path, CERTS_STATE_MAX, &len, reason);
	free(path);
	fits = have != NULL && len == want.len &&
	    memcmp(have, want.data, len) == 0 &&
	    certs_fits(certs_dir(o), &c, time(NULL), reason);
	if (have == NULL || !fits) {
		free(*reason);
		*reason = xstrdup("the provided certificate is not installed "
				  "yet");
	}
	free(have);
	buf_free(&want);
	certs_config_free(&c);
	return fits;
}

int
certs_ensure(const struct answers *a, const struct certs_opts *o,
    struct certs_result *r, char **cause)
{
	struct certs_config c;
	int rc;

	memset(r, 0, sizeof *r);
	if (certs_config_from_answers(a, o, &c, cause) == -1)
		return -1;
	rc = certs_apply(certs_dir(o), &c, o, r, cause);
	certs_config_free(&c);
	return rc;
}

static void
certs_record_renewal(const char *dir, int ok, int changed, const char *msg)
{
	struct buf b = BUF_INIT;
	json_t *j;
	char *text, *cause = NULL, *when;
	int unused = 0;

	when = pki_time_string(time(NULL));
	j = json_pack("{s:s,s:I,s:b,s:b,s:s}", "time", when, "unix",
	    (json_int_t)time(NULL), "ok", ok, "changed", changed, "message",
	    msg);
	free(when);
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	free(text);
	if (certs_write(dir, CERTS_RENEWAL, &b, 0644, &unused, &cause) == -1) {
		log_warn("%s", cause);
		free(cause);
	}
	buf_free(&b);
}

int
certs_renew(const struct answers *a, const struct certs_opts *o,
    struct certs_result *r, char **cause)
{
	const char *dir = certs_dir(o);
	struct certs_config c;
	int rc;

	memset(r, 0, sizeof *r);
	if (a != NULL) {
		if (certs_config_from_answers(a, o, &c, cause) == -1)
			return -1;
		certs_config_keep_challenge(dir, o, &c);
	} else {
		if (certs_config_load(dir, &c, cause) == -1)
			return -1;
		certs_config_override(&c, o);
	}
	rc = certs_apply(dir, &c, o, r, cause);
	if (rc == 0 && !r->changed) {
		free(r->message);
		r->message = certs_describe(dir, 0);
	}
	certs_record_renewal(
	    dir, rc == 0, rc == 0 && r->changed, rc == 0 ? r->message : *cause);
	if (rc == -1)
		log_error(
		    "renewal failed, the old certificate stays: %s", *cause);
	certs_config_free(&c);
	return rc;
}

void
certs_result_free(struct certs_result *r)
{
	size_t i;

	free(r->message);
	free(r->ca_fingerprint);
	for (i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof *r);
}
