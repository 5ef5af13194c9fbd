/*
 * Parsing the CA's replies, which are untrusted: every field is checked
 * for type, and anything shown to people is escaped first.
 */
#include <string.h>

#include <jansson.h>

#include "acme.h"
#include "xmalloc.h"

#define ACME_ERROR_PREFIX "urn:ietf:params:acme:error:"
/* An order for more names than this is not one chatstack makes. */
#define ACME_MAX_AUTHZ 100

static char *
acme_dup(json_t *obj, const char *key)
{
	const char *s;

	s = json_string_value(json_object_get(obj, key));
	return s != NULL ? xstrdup(s) : NULL;
}

static json_t *
acme_load(const char *body, size_t len, char **cause)
{
	json_t *root;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		*cause =
		    xstrdup("the CA sent a reply that is not a JSON object");
		return NULL;
	}
	return root;
}

static void
acme_problem_from(json_t *root, struct acme_problem *p)
{
	const char *type;
	json_t *sub, *id;

	memset(p, 0, sizeof *p);
	type = json_string_value(json_object_get(root, "type"));
	if (type == NULL)
		type = "about:blank";
	if (strncmp(type, ACME_ERROR_PREFIX, strlen(ACME_ERROR_PREFIX)) == 0 &&
	    type[strlen(ACME_ERROR_PREFIX)] != '\0')
		type += strlen(ACME_ERROR_PREFIX);
	p->type = xstrdup(type);
	p->detail = acme_dup(root, "detail");
	if (json_is_integer(json_object_get(root, "status")))
		p->status =
		    (int)json_integer_value(json_object_get(root, "status"));
	sub = json_array_get(json_object_get(root, "subproblems"), 0);
	id = json_object_get(sub, "identifier");
	p->identifier = acme_dup(id, "value");
}

int
acme_problem_parse(const char *body, size_t len, struct acme_problem *p)
{
	json_t *root;

	memset(p, 0, sizeof *p);
	root = json_loadb(body, len, 0, NULL);
	if (!json_is_object(root) ||
	    !json_is_string(json_object_get(root, "type"))) {
		json_decref(root);
		return -1;
	}
	acme_problem_from(root, p);
	json_decref(root);
	return 0;
}

void
acme_problem_free(struct acme_problem *p)
{
	free(p->type);
	free(p->detail);
	free(p->identifier);
	memset(p, 0, sizeof *p);
}

/*
 * What each problem means for the operator. {name} is the identifier,
 * {detail} the CA's own words (escaped), {when} the time the CA said to
 * come back.
 */
static const struct {
	const char *type;
	const char *text;
} acme_sentences[] = {
    {"badNonce",
	"the CA kept refusing the request's nonce ({detail}); "
	"try again in a few minutes"},
    {"rateLimited",
	"the CA's rate limit was reached ({detail}); wait "
	"{when} before trying again, and use the CA's staging "
	"directory for tests"},
    {"connection",
	"the CA could not connect to {name} on port 80 "
	"({detail}); check that port 80 of this host is "
	"reachable from the internet (firewall, NAT port "
	"forwarding) and that DNS for {name} points here"},
    {"dns",
	"the CA could not resolve {name} ({detail}); check that the "
	"DNS A/AAAA records of {name} point to this host's public "
	"address"},
    {"unauthorized",
	"the CA could not confirm that this host answers "
	"for {name} ({detail}); check that DNS for {name} "
	"points here and that port 80 reaches this host's nginx "
	"or the built-in responder"},
    {"incorrectResponse",
	"the CA reached {name} on port 80 but got the "
	"wrong challenge answer ({detail}); check that "
	"port 80 reaches this host and not another server "
	"or proxy"},
    {"caa",
	"a CAA DNS record of {name} forbids this CA ({detail}); add the "
	"CA to the CAA record or remove it"},
    {"tls",
	"the CA hit a TLS error reaching {name} ({detail}); check "
	"what answers on port 443 when port 80 redirects there"},
    {"rejectedIdentifier",
	"the CA will not issue for {name} ({detail}); "
	"check hostname and tls.extra_names"},
    {"unsupportedIdentifier",
	"the CA does not issue for {name} "
	"({detail}); check hostname and "
	"tls.extra_names"},
    {"externalAccountRequired",
	"this CA requires External Account "
	"Binding ({detail}); set "
	"tls.letsencrypt.eab_kid and "
	"eab_hmac_key_file from your account at "
	"the CA"},
    {"invalidContact",
	"the CA refused the contact address ({detail}); "
	"check tls.letsencrypt.email"},
    {"unsupportedContact",
	"the CA refused the contact address "
	"({detail}); check tls.letsencrypt.email"},
    {"userActionRequired",
	"the CA wants action in your account "
	"({detail}), such as agreeing to new terms; log "
	"in at the CA and try again"},
    {"serverInternal",
	"the CA had an internal error ({detail}); try "
	"again later"},
    {"badCSR",
	"the CA refused the certificate request ({detail}); check "
	"the names and tls.letsencrypt.key_type"},
    {"badPublicKey",
	"the CA refused the key ({detail}); check "
	"tls.letsencrypt.key_type"},
    {"badSignatureAlgorithm",
	"the CA does not accept ES256 account "
	"signatures ({detail}); use another CA"},
    {"accountDoesNotExist",
	"the CA does not know this account "
	"({detail}); remove the account key to "
	"register a new one"},
    {"orderNotReady",
	"the CA says the order is not ready ({detail}); "
	"try again"},
    {"malformed",
	"the CA refused a request as malformed ({detail}); "
	"this CA and chatstack disagree, report it with the "
	"log"},
};

static void
acme_fill(struct buf *b, const char *text, const char *name, const char *detail,
    const char *when)
{
	const char *p;

	for (p = text; *p != '\0'; p++) {
		if (strncmp(p, "{name}", 6) == 0) {
			buf_printf(b, "'%s'", name);
			p += 5;
		} else if (strncmp(p, "{detail}", 8) == 0) {
			buf_adds(b, detail);
			p += 7;
		} else if (strncmp(p, "{when}", 6) == 0) {
			buf_adds(b, when);
			p += 5;
		} else
			buf_addc(b, *p);
	}
}

char *
acme_problem_sentence(
    const struct acme_problem *p, const struct acme_context *ctx)
{
	struct buf b = BUF_INIT;
	const char *text = NULL, *type;
	char *detail, *name, *when, *typed;
	struct tm tm;
	char ts[64];
	size_t i;

	type = p->type != NULL ? p->type : "about:blank";
	detail = str_escape(p->detail != NULL && *p->detail != '\0'
		? p->detail
		: "no detail given");
	if (p->identifier != NULL)
		name = str_escape(p->identifier);
	else
		name = str_escape(ctx->name != NULL ? ctx->name : "the host");
	if (ctx->retry_after > 0) {
		gmtime_r(&ctx->retry_after, &tm);
		strftime(ts, sizeof ts, "until %Y-%m-%d %H:%M UTC", &tm);
		when = xstrdup(ts);
	} else
		when = xstrdup("for the limit to reset (see the CA's rate "
			       "limit documentation)");

	/* The account stage gets its own sentence for a refused binding. */
	if (ctx->stage == ACME_STAGE_ACCOUNT && ctx->eab &&
	    (strcmp(type, "unauthorized") == 0 ||
		strcmp(type, "malformed") == 0 ||
		strcmp(type, "externalAccountRequired") == 0))
		text = "the CA refused the External Account Binding "
		       "({detail}); check tls.letsencrypt.eab_kid and the "
		       "HMAC key in eab_hmac_key_file against your account "
		       "at the CA";
	for (i = 0; text == NULL &&
	     i < sizeof acme_sentences / sizeof acme_sentences[0];
	     i++) {
		if (strcmp(acme_sentences[i].type, type) == 0)
			text = acme_sentences[i].text;
	}
	if (text == NULL) {
		text = "the CA refused the request: {detail}";
		if (strcmp(type, "about:blank") != 0) {
			typed = xasprintf("%s (%s)",
			    p->detail != NULL ? p->detail : "no detail given",
			    type);
			free(detail);
			detail = str_escape(typed);
			free(typed);
		}
	}
	acme_fill(&b, text, name, detail, when);
	free(detail);
	free(name);
	free(when);
	return buf_detach(&b, NULL);
}

/*
 * The statuses of RFC 8555 section 7.1.6; anything else is refused, so
 * that a status can be shown without escaping.
 */
static int
acme_status_known(const char *s)
{
	static const char *const known[] = {"pending", "ready", "processing",
	    "valid", "invalid", "deactivated", "expired", "revoked"};
	size_t i;

	for (i = 0; s != NULL && i < sizeof known / sizeof known[0]; i++) {
		if (strcmp(s, known[i]) == 0)
			return 1;
	}
	return 0;
}

int
acme_directory_parse(
    const char *body, size_t len, struct acme_directory *d, char **cause)
{
	json_t *root, *meta;

	memset(d, 0, sizeof *d);
	if ((root = acme_load(body, len, cause)) == NULL)
		return -1;
	d->new_nonce = acme_dup(root, "newNonce");
	d->new_account = acme_dup(root, "newAccount");
	d->new_order = acme_dup(root, "newOrder");
	meta = json_object_get(root, "meta");
	d->terms = acme_dup(meta, "termsOfService");
	d->eab_required =
	    json_is_true(json_object_get(meta, "externalAccountRequired"));
	json_decref(root);
	if (d->new_nonce == NULL || d->new_account == NULL ||
	    d->new_order == NULL) {
		acme_directory_free(d);
		*cause = xstrdup("the ACME directory lacks newNonce, "
				 "newAccount or newOrder; check the "
				 "directory URL");
		return -1;
	}
	return 0;
}

void
acme_directory_free(struct acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->terms);
	memset(d, 0, sizeof *d);
}

int
acme_order_parse(
    const char *body, size_t len, struct acme_order *o, char **cause)
{
	json_t *root, *list, *v;
	size_t i;

	memset(o, 0, sizeof *o);
	if ((root = acme_load(body, len, cause)) == NULL)
		return -1;
	o->status = acme_dup(root, "status");
	o->finalize = acme_dup(root, "finalize");
	o->certificate = acme_dup(root, "certificate");
	if (json_is_object(json_object_get(root, "error")))
		acme_problem_from(json_object_get(root, "error"), &o->error);
	list = json_object_get(root, "authorizations");
	if (json_is_array(list) && json_array_size(list) <= ACME_MAX_AUTHZ) {
		o->authorizations =
		    xcalloc(json_array_size(list) + 1, sizeof(char *));
		json_array_foreach(list, i, v)
		{
			if (!json_is_string(v))
				continue;
			o->authorizations[o->nauthorizations++] =
			    xstrdup(json_string_value(v));
		}
	}
	json_decref(root);
	if (!acme_status_known(o->status) || o->finalize == NULL) {
		acme_order_free(o);
		*cause = xstrdup("the CA sent an order without a known status "
				 "or a finalize URL");
		return -1;
	}
	return 0;
}

void
acme_order_free(struct acme_order *o)
{
	size_t i;

	free(o->status);
	free(o->finalize);
	free(o->certificate);
	for (i = 0; i < o->nauthorizations; i++)
		free(o->authorizations[i]);
	free(o->authorizations);
	acme_problem_free(&o->error);
	memset(o, 0, sizeof *o);
}

int
acme_token_valid(const char *t)
{
	return t != NULL && *t != '\0' && strlen(t) <= 256 &&
	    strspn(t,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789-_") == strlen(t);
}

int
acme_authz_parse(
    const char *body, size_t len, struct acme_authz *a, char **cause)
{
	json_t *root, *list, *c, *err;
	const char *type;
	size_t i;

	memset(a, 0, sizeof *a);
	if ((root = acme_load(body, len, cause)) == NULL)
		return -1;
	a->status = acme_dup(root, "status");
	a->identifier = acme_dup(json_object_get(root, "identifier"), "value");
	list = json_object_get(root, "challenges");
	json_array_foreach(list, i, c)
	{
		type = json_string_value(json_object_get(c, "type"));
		if (type == NULL || strcmp(type, "http-01") != 0)
			continue;
		a->challenge_url = acme_dup(c, "url");
		a->challenge_status = acme_dup(c, "status");
		a->token = acme_dup(c, "token");
		err = json_object_get(c, "error");
		if (json_is_object(err))
			acme_problem_from(err, &a->error);
		break;
	}
	json_decref(root);
	if (!acme_status_known(a->status) || a->identifier == NULL ||
	    (a->challenge_status != NULL &&
		!acme_status_known(a->challenge_status))) {
		acme_authz_free(a);
		*cause = xstrdup("the CA sent an authorization without a known "
				 "status or an identifier");
		return -1;
	}
	if (strcmp(a->status, "pending") == 0 &&
	    (a->challenge_url == NULL || !acme_token_valid(a->token))) {
		type = str_escape(a->identifier);
		*cause = xasprintf("the CA offers no usable http-01 challenge "
				   "for '%s'; chatstack validates with "
				   "http-01 only",
		    type);
		free((char *)type);
		acme_authz_free(a);
		return -1;
	}
	return 0;
}

void
acme_authz_free(struct acme_authz *a)
{
	free(a->status);
	free(a->identifier);
	free(a->challenge_url);
	free(a->challenge_status);
	free(a->token);
	acme_problem_free(&a->error);
	memset(a, 0, sizeof *a);
}
