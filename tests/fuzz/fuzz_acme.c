/*
 * libFuzzer harness for the handling of the ACME CA's replies: every
 * parser that takes the CA's JSON, the sentences made from problem
 * documents for every stage, Retry-After, and the certificate chain the
 * CA sends (as PEM, and the input as the DER inside a PEM block).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../certs/acme.h"
#include "../../certs/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What certs.c does with a downloaded chain. */
static void
fuzz_chain(const char *pem, size_t len)
{
	STACK_OF(X509) * certs;
	struct pki_info info;
	char *cause = NULL, *names[] = {"chat.example.com"};
	int i;

	if ((certs = pki_certs_parse(pem, len, "chain", &cause)) == NULL) {
		free(cause);
		return;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		pki_info_get(sk_X509_value(certs, i), &info);
		(void)pki_renew_after(&info);
		(void)pki_names_equal(&info, names, 1);
		pki_info_free(&info);
	}
	pki_certs_free(certs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct acme_problem p;
	struct acme_context ctx;
	struct acme_directory d;
	struct acme_order o;
	struct acme_authz a;
	const char *body = (const char *)data;
	char *cause = NULL, *s, *b64, *c;
	int stage;

	if (acme_problem_parse(body, len, &p) == 0) {
		for (stage = ACME_STAGE_DIRECTORY; stage <= ACME_STAGE_DOWNLOAD;
		     stage++) {
			memset(&ctx, 0, sizeof ctx);
			ctx.stage = (enum acme_stage)stage;
			ctx.name = stage % 2 ? "chat.example.com" : NULL;
			ctx.eab = stage == ACME_STAGE_ACCOUNT;
			ctx.retry_after = stage == ACME_STAGE_ORDER ? 1 : 0;
			s = acme_problem_sentence(&p, &ctx);
			if (strchr(s, '\n') != NULL)
				abort(); /* the CA's text must come escaped */
			free(s);
		}
		acme_problem_free(&p);
	}
	if (acme_directory_parse(body, len, &d, &cause) == 0)
		acme_directory_free(&d);
	free(cause);
	cause = NULL;
	if (acme_order_parse(body, len, &o, &cause) == 0) {
		if (strspn(o.status, "abcdefghijklmnopqrstuvwxyz") !=
		    strlen(o.status))
			abort(); /* statuses are shown unescaped */
		if (o.error.type != NULL) {
			memset(&ctx, 0, sizeof ctx);
			free(acme_problem_sentence(&o.error, &ctx));
		}
		acme_order_free(&o);
	}
	free(cause);
	cause = NULL;
	if (acme_authz_parse(body, len, &a, &cause) == 0) {
		if (a.token != NULL && strcmp(a.status, "pending") == 0 &&
		    !acme_token_valid(a.token))
			abort(); /* tokens become file names */
		acme_authz_free(&a);
	}
	free(cause);

	s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	(void)acme_retry_after(s, 0);
	free(s);

	fuzz_chain(body, len);
	if (len < 65536) {
		b64 = pki_b64url(data, len);
		for (c = b64; *c != '\0'; c++) {
			if (*c == '-')
				*c = '+';
			else if (*c == '_')
				*c = '/';
		}
		s = NULL;
		if (asprintf(&s,
			"-----BEGIN CERTIFICATE-----\n%s\n"
			"-----END CERTIFICATE-----\n",
			b64) > 0) {
			fuzz_chain(s, strlen(s));
			free(s);
		}
		free(b64);
	}
	return 0;
}
