#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "certs.h"
#include "fileio.h"
#include "pki.h"
#include "provided.h"
#include "xmalloc.h"

static void provided_reason(struct buf *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
provided_reason(struct buf *why, const char *fmt, ...)
{
	va_list ap;

	if (why->len > 0)
		buf_adds(why, "; ");
	va_start(ap, fmt);
	buf_vprintf(why, fmt, ap);
	va_end(ap);
}

static void
provided_warn(struct provided *p, char *w)
{
	p->warnings =
	    xreallocarray(p->warnings, p->nwarnings + 1, sizeof *p->warnings);
	p->warnings[p->nwarnings++] = w;
}

/* Does the chain lead from the leaf to a trusted root? */
static void
provided_verify(STACK_OF(X509) * certs, const char *cert, struct buf *why)
{
	X509_STORE *store;
	X509_STORE_CTX *ctx;
	STACK_OF(X509) * untrusted;
	X509 *x;
	int i, err;

	store = X509_STORE_new();
	X509_STORE_set_default_paths(store);
	untrusted = sk_X509_new_null();
	for (i = 1; i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		/* A root the operator ships with the chain is theirs to trust. */
		if (X509_check_issued(x, x) == X509_V_OK)
			X509_STORE_add_cert(store, x);
		else
			sk_X509_push(untrusted, x);
	}
	X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME);
	ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, store, sk_X509_value(certs, 0), untrusted);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		provided_reason(why,
		    "the chain of '%s' does not verify (%s); put the "
		    "intermediate certificates after the certificate, or in "
		    "tls.provided.chain",
		    cert, X509_verify_cert_error_string(err));
	}
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
}

int
provided_check(const char *cert, const char *chain, const char *key,
    char *const *names, size_t n, time_t now, struct provided *p, char **cause)
{
	STACK_OF(X509) *certs = NULL, *more = NULL;
	struct pki_info info;
	struct buf why = BUF_INIT;
	struct stat sb;
	EVP_PKEY *pkey = NULL;
	X509 *leaf;
	char *text = NULL, *until;
	size_t i, len;
	int rc = -1;

	memset(p, 0, sizeof *p);
	memset(&info, 0, sizeof info);
	if ((certs = pki_certs_load(cert, cause)) == NULL)
		return -1;
	if (chain != NULL) {
		if ((more = pki_certs_load(chain, cause)) == NULL)
			goto out;
		while (sk_X509_num(more) > 0)
			sk_X509_push(certs, sk_X509_shift(more));
	}
	leaf = sk_X509_value(certs, 0);
	pki_info_get(leaf, &info);

	if (stat(key, &sb) == -1) {
		*cause = xasprintf(
		    "cannot read key file '%s': %s", key, strerror(errno));
		goto out;
	}
	if ((sb.st_mode & 007) != 0)
		provided_reason(&why,
		    "key file '%s' is readable by others (mode %04o); chmod "
		    "600 it",
		    key, (unsigned)(sb.st_mode & 07777));
	if ((text = file_read(key, 1024 * 1024, &len, cause)) == NULL)
		goto out;
	if ((pkey = pki_key_parse(text, len, key, cause)) == NULL)
		goto out;
	if (X509_check_private_key(leaf, pkey) != 1)
		provided_reason(&why,
		    "the key in '%s' does not match the certificate in '%s'",
		    key, cert);
	for (i = 0; i < n; i++) {
		if (X509_check_host(leaf, names[i], 0, 0, NULL) != 1 &&
		    X509_check_ip_asc(leaf, names[i], 0) != 1)
			provided_reason(&why,
			    "the certificate in '%s' is not valid for '%s' "
			    "(it names %s)",
			    cert, names[i], info.subject);
	}
	if (info.not_after <= now) {
		until = pki_time_string(info.not_after);
		provided_reason(&why,
		    "the certificate in '%s' expired on %s; get a new one",
		    cert, until);
		free(until);
	} else if (info.not_before > now) {
		until = pki_time_string(info.not_before);
		provided_reason(&why,
		    "the certificate in '%s' is not valid before %s; check "
		    "the clock",
		    cert, until);
		free(until);
	} else if (info.not_after - now < CERTS_WARN_DAYS * 86400) {
		until = pki_time_string(info.not_after);
		provided_warn(p,
		    xasprintf("the certificate in '%s' expires on %s, within "
			      "%d days; replace it soon",
			cert, until, CERTS_WARN_DAYS));
		free(until);
	}
	provided_verify(certs, cert, &why);
	if (why.len > 0) {
		*cause = buf_detach(&why, NULL);
		goto out;
	}

	for (i = 0; i < (size_t)sk_X509_num(certs); i++)
		pki_cert_pem(sk_X509_value(certs, (int)i), &p->fullchain);
	buf_add(&p->key, text, len);
	rc = 0;

out:
	if (rc == -1)
		provided_free(p);
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	buf_free(&why);
	pki_info_free(&info);
	EVP_PKEY_free(pkey);
	pki_certs_free(certs);
	pki_certs_free(more);
	return rc;
}

void
provided_free(struct provided *p)
{
	size_t i;

	buf_free(&p->fullchain);
	buf_wipe(&p->key);
	for (i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	memset(p, 0, sizeof *p);
}
