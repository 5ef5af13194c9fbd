/*
 * The ACME conversation. Every request that changes state is a JWS
 * signed by the signer; nonces come from the last reply (or newNonce) and
 * a badNonce is retried a bounded number of times with the nonce that
 * came with it. Every wait is explicit and bounded.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "acme.h"
#include "fileio.h"
#include "log.h"
#include "responder.h"
#include "xmalloc.h"

#define ACME_BODY_MAX (1024 * 1024)
#define ACME_NONCE_RETRIES 15
#define ACME_POLL_TRIES 40
#define ACME_POLL_MAX_WAIT 60 /* seconds, whatever Retry-After says */
#define ACME_CONNECT_TIMEOUT 30L
#define ACME_TIMEOUT 90L
#define ACME_CHALLENGE_DIR ".well-known/acme-challenge"

struct acme_reply {
	long status;
	struct buf body;
	char *location;
	char *nonce;
	char *content_type;
	time_t retry_after;
};

struct acme {
	CURL *curl;
	struct signer *signer;
	const struct acme_params *params;
	struct acme_directory dir;
	char *nonce;
	char *kid;
	struct acme_context ctx;
	struct acme_reply reply;
};

static void
acme_reply_reset(struct acme_reply *r)
{
	buf_free(&r->body);
	free(r->location);
	free(r->nonce);
	free(r->content_type);
	memset(r, 0, sizeof *r);
}

static size_t
acme_body_cb(char *data, size_t size, size_t n, void *arg)
{
	struct acme_reply *r = arg;

	if (r->body.len + size * n > ACME_BODY_MAX)
		return 0;
	buf_add(&r->body, data, size * n);
	return size * n;
}

time_t
acme_retry_after(const char *v, time_t now)
{
	time_t t;

	if (*v != '\0' && strspn(v, "0123456789") == strlen(v)) {
		if (strlen(v) > 9)
			return 0;
		return now + (time_t)strtol(v, NULL, 10);
	}
	t = curl_getdate(v, NULL);
	return t > 0 ? t : 0;
}

/* Returns the value of header name in line, trimmed, or NULL. */
static char *
acme_header(const char *line, size_t len, const char *name)
{
	size_t nlen = strlen(name);
	const char *v, *end;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 ||
	    line[nlen] != ':')
		return NULL;
	v = line + nlen + 1;
	end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	return xstrndup(v, (size_t)(end - v));
}

static size_t
acme_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct acme_reply *r = arg;
	size_t len = size * n;
	char *v;

	if ((v = acme_header(data, len, "Replay-Nonce")) != NULL) {
		free(r->nonce);
		r->nonce = v;
	} else if ((v = acme_header(data, len, "Location")) != NULL) {
		free(r->location);
		r->location = v;
	} else if ((v = acme_header(data, len, "Content-Type")) != NULL) {
		free(r->content_type);
		r->content_type = v;
	} else if ((v = acme_header(data, len, "Retry-After")) != NULL) {
		r->retry_after = acme_retry_after(v, time(NULL));
		free(v);
	}
	return len;
}

/*
 * One HTTP exchange into a->reply. body NULL: GET, or HEAD when head.
 * Returns -1 with *cause set when no reply came at all.
 */
static int
acme_http(struct acme *a, const char *url, const char *body, int head,
    const char *accept, char **cause)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	char *safe;

	acme_reply_reset(&a->reply);
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, ACME_CONNECT_TIMEOUT);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, ACME_TIMEOUT);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    a->curl, CURLOPT_USERAGENT, "chatstack/" CHATSTACK_VERSION);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, acme_body_cb);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &a->reply);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, acme_header_cb);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, &a->reply);
	if (a->params->ca_file != NULL)
		curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->params->ca_file);
	if (accept != NULL) {
		safe = xasprintf("Accept: %s", accept);
		hdrs = curl_slist_append(hdrs, safe);
		free(safe);
	}
	if (body != NULL) {
		hdrs = curl_slist_append(
		    hdrs, "Content-Type: application/jose+json");
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
	} else if (head)
		curl_easy_setopt(a->curl, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(a->curl);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		safe = str_escape(url);
		if (rc == CURLE_PEER_FAILED_VERIFICATION ||
		    rc == CURLE_SSL_CACERT_BADFILE)
			*cause = xasprintf(
			    "cannot verify the TLS certificate of '%s' (%s); "
			    "for a private CA set tls.letsencrypt.ca_file",
			    safe,
			    errbuf[0] != '\0' ? errbuf
					      : curl_easy_strerror(rc));
		else
			*cause = xasprintf("cannot reach the ACME server at "
					   "'%s': %s; check the directory URL "
					   "and this host's outbound HTTPS",
			    safe,
			    errbuf[0] != '\0' ? errbuf
					      : curl_easy_strerror(rc));
		free(safe);
		return -1;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->reply.status);
	if (a->reply.nonce != NULL) {
		free(a->nonce);
		a->nonce = xstrdup(a->reply.nonce);
	}
	return 0;
}

/* Turns the current reply into a sentence. */
static char *
acme_reply_cause(struct acme *a)
{
	struct acme_problem p;
	char *s;

	if (acme_problem_parse(a->reply.body.data, a->reply.body.len, &p) ==
	    -1) {
		return xasprintf("the ACME server answered with HTTP status "
				 "%ld and no problem document",
		    a->reply.status);
	}
	a->ctx.retry_after = a->reply.retry_after;
	s = acme_problem_sentence(&p, &a->ctx);
	acme_problem_free(&p);
	return s;
}

json_t *
acme_jws(struct signer *s, const char *url, const char *nonce, const char *kid,
    json_t *payload, char **cause)
{
	struct buf input = BUF_INIT, sig = BUF_INIT;
	json_t *hdr, *jws = NULL;
	char *text, *prot, *body, *sigtext;

	hdr = json_pack(
	    "{s:s,s:s,s:s}", "alg", "ES256", "nonce", nonce, "url", url);
	if (kid != NULL)
		json_object_set_new(hdr, "kid", json_string(kid));
	else
		json_object_set(hdr, "jwk", signer_jwk(s));
	text = json_dumps(hdr, JSON_COMPACT);
	prot = pki_b64url(text, strlen(text));
	free(text);
	json_decref(hdr);
	if (payload != NULL) {
		text = json_dumps(payload, JSON_COMPACT);
		body = pki_b64url(text, strlen(text));
		free(text);
	} else
		body = xstrdup("");

	buf_printf(&input, "%s.%s", prot, body);
	if (signer_sign(s, input.data, input.len, &sig, cause) == 0) {
		sigtext = pki_b64url(sig.data, sig.len);
		jws = json_pack("{s:s,s:s,s:s}", "protected", prot, "payload",
		    body, "signature", sigtext);
		free(sigtext);
	}
	buf_free(&input);
	buf_free(&sig);
	free(prot);
	free(body);
	return jws;
}

/* Is the current reply a problem document of this type? */
static int
acme_reply_is(struct acme *a, const char *type)
{
	struct acme_problem p;
	int is;

	if (a->reply.status < 400 ||
	    acme_problem_parse(a->reply.body.data, a->reply.body.len, &p) == -1)
		return 0;
	is = strcmp(p.type, type) == 0;
	acme_problem_free(&p);
	return is;
}

/*
 * A signed POST (payload NULL: POST-as-GET) into a->reply. Returns 0 on
 * a 2xx reply, else -1 with *cause a sentence.
 */
static int
acme_post(struct acme *a, const char *url, json_t *payload, const char *accept,
    char **cause)
{
	json_t *jws;
	char *body;
	int try;

	for (try = 0; try < ACME_NONCE_RETRIES; try++) {
		if (a->nonce == NULL) {
			if (acme_http(a, a->dir.new_nonce, NULL, 1, NULL,
				cause) == -1)
				return -1;
			if (a->nonce == NULL) {
				*cause = xstrdup("the ACME server gave no "
						 "nonce");
				return -1;
			}
		}
		jws =
		    acme_jws(a->signer, url, a->nonce, a->kid, payload, cause);
		free(a->nonce);
		a->nonce = NULL;
		if (jws == NULL)
			return -1;
		body = json_dumps(jws, JSON_COMPACT);
		json_decref(jws);
		if (acme_http(a, url, body, 0, accept, cause) == -1) {
			free(body);
			return -1;
		}
		free(body);
		if (!acme_reply_is(a, "badNonce"))
			break;
		log_debug("the CA refused a nonce (badNonce), retrying");
	}
	if (a->reply.status >= 200 && a->reply.status < 300)
		return 0;
	*cause = acme_reply_cause(a);
	return -1;
}

static void
acme_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * How long to wait before poll number try, in milliseconds: what the
 * CA's Retry-After said (at most ACME_POLL_MAX_WAIT seconds), else 250 ms
 * doubling up to 3 s, so that a quick CA is not kept waiting.
 */
static long
acme_poll_wait(struct acme *a, int try)
{
	time_t now = time(NULL);
	long wait;

	if (a->reply.retry_after > now) {
		wait = (long)(a->reply.retry_after - now);
		if (wait > ACME_POLL_MAX_WAIT)
			wait = ACME_POLL_MAX_WAIT;
		return wait * 1000;
	}
	wait = 250L << (try < 4 ? try : 4);
	return wait > 3000 ? 3000 : wait;
}

static int
acme_get_directory(struct acme *a, char **cause)
{
	const char *url = a->params->directory;

	if (url == NULL)
		url = ACME_DEFAULT_DIRECTORY;
	a->ctx.stage = ACME_STAGE_DIRECTORY;
	if (acme_http(a, url, NULL, 0, NULL, cause) == -1)
		return -1;
	if (a->reply.status != 200) {
		*cause = xasprintf("the ACME directory answered with HTTP "
				   "status %ld; check the directory URL",
		    a->reply.status);
		return -1;
	}
	return acme_directory_parse(
	    a->reply.body.data, a->reply.body.len, &a->dir, cause);
}

static int
acme_account(struct acme *a, char **cause)
{
	const struct acme_params *p = a->params;
	json_t *req, *eab, *contact;
	char *safe;
	int rc;

	a->ctx.stage = ACME_STAGE_ACCOUNT;

	/* An account this key already has is found without a binding. */
	req = json_pack("{s:b}", "onlyReturnExisting", 1);
	rc = acme_post(a, a->dir.new_account, req, NULL, cause);
	json_decref(req);
	if (rc == 0 && a->reply.location != NULL) {
		a->kid = xstrdup(a->reply.location);
		return 0;
	}
	if (rc == -1 && !acme_reply_is(a, "accountDoesNotExist"))
		return -1;
	free(*cause);
	*cause = NULL;

	if (a->dir.eab_required && p->eab_kid == NULL) {
		*cause = xstrdup("this CA requires External Account Binding; "
				 "set tls.letsencrypt.eab_kid and "
				 "eab_hmac_key_file from your account at "
				 "the CA");
		return -1;
	}
	req = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (p->email != NULL) {
		contact = json_array();
		json_array_append_new(
		    contact, json_sprintf("mailto:%s", p->email));
		json_object_set_new(req, "contact", contact);
	}
	if (p->eab_kid != NULL) {
		eab = signer_eab(a->signer, p->eab_kid, p->eab_key_file,
		    a->dir.new_account, cause);
		if (eab == NULL) {
			json_decref(req);
			return -1;
		}
		json_object_set_new(req, "externalAccountBinding", eab);
		a->ctx.eab = 1;
	}
	rc = acme_post(a, a->dir.new_account, req, NULL, cause);
	json_decref(req);
	if (rc == -1)
		return -1;
	if (a->reply.location == NULL) {
		*cause = xstrdup("the CA created the account but sent no "
				 "account URL");
		return -1;
	}
	a->kid = xstrdup(a->reply.location);
	safe = str_escape(a->dir.terms != NULL ? a->dir.terms : "(none given)");
	log_info("registered an ACME account, agreeing to the CA's terms of "
		 "service at %s",
	    safe);
	free(safe);
	return 0;
}

static int
acme_new_order(struct acme *a, struct acme_order *o, char **url, char **cause)
{
	json_t *ids, *req;
	size_t i;
	int rc;

	a->ctx.stage = ACME_STAGE_ORDER;
	a->ctx.name = a->params->names[0];
	ids = json_array();
	for (i = 0; i < a->params->nnames; i++)
		json_array_append_new(ids,
		    json_pack("{s:s,s:s}", "type", "dns", "value",
			a->params->names[i]));
	req = json_pack("{s:o}", "identifiers", ids);
	rc = acme_post(a, a->dir.new_order, req, NULL, cause);
	json_decref(req);
	if (rc == -1)
		return -1;
	if (a->reply.location == NULL) {
		*cause = xstrdup("the CA created the order but sent no order "
				 "URL");
		return -1;
	}
	*url = xstrdup(a->reply.location);
	return acme_order_parse(
	    a->reply.body.data, a->reply.body.len, o, cause);
}

/* The pending http-01 challenges of an order. */
struct acme_challenges {
	char **names;
	char **authz;
	char **urls;
	char **tokens;
	char **answers;
	size_t n;
	char **files; /* webroot files written */
	size_t nfiles;
	struct responder *responder;
};

static void
acme_challenges_free(struct acme_challenges *c)
{
	size_t i;

	responder_stop(c->responder);
	for (i = 0; i < c->nfiles; i++) {
		unlink(c->files[i]);
		free(c->files[i]);
	}
	for (i = 0; i < c->n; i++) {
		free(c->names[i]);
		free(c->authz[i]);
		free(c->urls[i]);
		free(c->tokens[i]);
		free(c->answers[i]);
	}
	free(c->files);
	free(c->names);
	free(c->authz);
	free(c->urls);
	free(c->tokens);
	free(c->answers);
	memset(c, 0, sizeof *c);
}

static int
acme_collect(struct acme *a, const struct acme_order *o,
    struct acme_challenges *c, char **cause)
{
	struct acme_authz az;
	size_t i, n;

	a->ctx.stage = ACME_STAGE_CHALLENGE;
	n = o->nauthorizations;
	c->names = xcalloc(n + 1, sizeof(char *));
	c->authz = xcalloc(n + 1, sizeof(char *));
	c->urls = xcalloc(n + 1, sizeof(char *));
	c->tokens = xcalloc(n + 1, sizeof(char *));
	c->answers = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		if (acme_post(a, o->authorizations[i], NULL, NULL, cause) == -1)
			return -1;
		if (acme_authz_parse(a->reply.body.data, a->reply.body.len, &az,
			cause) == -1)
			return -1;
		if (strcmp(az.status, "valid") == 0) {
			acme_authz_free(&az);
			continue;
		}
		if (strcmp(az.status, "pending") != 0) {
			a->ctx.name = az.identifier;
			*cause = az.error.type != NULL
			    ? acme_problem_sentence(&az.error, &a->ctx)
			    : xasprintf("the CA's authorization for the name "
					"is %s; try again later",
				  az.status);
			a->ctx.name = NULL;
			acme_authz_free(&az);
			return -1;
		}
		c->names[c->n] = xstrdup(az.identifier);
		c->authz[c->n] = xstrdup(o->authorizations[i]);
		c->urls[c->n] = xstrdup(az.challenge_url);
		c->tokens[c->n] = xstrdup(az.token);
		c->answers[c->n] =
		    xasprintf("%s.%s", az.token, signer_thumbprint(a->signer));
		c->n++;
		acme_authz_free(&az);
	}
	return 0;
}

static int
acme_publish(struct acme *a, struct acme_challenges *c, char **cause)
{
	const struct acme_params *p = a->params;
	struct atomic_opts o = ATOMIC_OPTS(0644);
	char *dir, *path;
	size_t i;

	if (c->n == 0)
		return 0;
	if (p->webroot == NULL) {
		c->responder = responder_start(p->challenge_address,
		    p->challenge_port > 0 ? p->challenge_port : 80, c->tokens,
		    c->answers, c->n, cause);
		return c->responder != NULL ? 0 : -1;
	}
	dir = xasprintf("%s/%s", p->webroot, ACME_CHALLENGE_DIR);
	if (mkdir_p(dir, 0755, cause) == -1) {
		free(dir);
		return -1;
	}
	c->files = xcalloc(c->n, sizeof(char *));
	for (i = 0; i < c->n; i++) {
		path = xasprintf("%s/%s", dir, c->tokens[i]);
		if (atomic_write(path, c->answers[i], strlen(c->answers[i]), &o,
			NULL, cause) == -1) {
			free(path);
			free(dir);
			return -1;
		}
		c->files[c->nfiles++] = path;
	}
	free(dir);
	return 0;
}

static size_t
acme_small_body_cb(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * n > 4096)
		return 0;
	buf_add(b, data, size * n);
	return size * n;
}

/*
 * Before the CA is asked, the webroot's answers are fetched from this
 * host's own challenge port: a failed validation counts against the CA's
 * limits, and "nginx is not running" is a better sentence than the CA's.
 */
static int
acme_self_check(struct acme *a, struct acme_challenges *c, char **cause)
{
	const struct acme_params *p = a->params;
	struct curl_slist *hdrs = NULL;
	struct buf body = BUF_INIT;
	char errbuf[CURL_ERROR_SIZE], *url, *host;
	CURL *h;
	CURLcode rc;
	long status = 0;
	int port, ok;

	if (p->webroot == NULL || c->n == 0)
		return 0;
	port = p->challenge_port > 0 ? p->challenge_port : 80;
	url = xasprintf("http://127.0.0.1:%d/" ACME_CHALLENGE_DIR "/%s", port,
	    c->tokens[0]);
	host = xasprintf("Host: %s", c->names[0]);
	hdrs = curl_slist_append(hdrs, host);
	h = curl_easy_init();
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, acme_small_body_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	ok = rc == CURLE_OK && status == 200 &&
	    body.len == strlen(c->answers[0]) &&
	    memcmp(body.data, c->answers[0], body.len) == 0;
	if (!ok && rc != CURLE_OK)
		*cause = xasprintf("nothing serves the challenge on port %d of "
				   "this host (%s); start nginx, or renew "
				   "with --responder while nginx is stopped",
		    port, errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	else if (!ok)
		*cause =
		    xasprintf("port %d of this host does not serve the "
			      "challenge file from '%s' (HTTP status %ld); "
			      "check that nginx serves that directory at "
			      "/" ACME_CHALLENGE_DIR "/",
			port, p->webroot, status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	buf_free(&body);
	free(host);
	free(url);
	return ok ? 0 : -1;
}

/* Tells the CA to validate each challenge, then waits for the verdicts. */
static int
acme_validate(struct acme *a, struct acme_challenges *c, char **cause)
{
	struct acme_authz az;
	json_t *empty;
	size_t i;
	int try, rc;

	for (i = 0; i < c->n; i++) {
		a->ctx.name = c->names[i];
		empty = json_object();
		rc = acme_post(a, c->urls[i], empty, NULL, cause);
		json_decref(empty);
		if (rc == -1)
			return -1;
	}
	for (i = 0; i < c->n; i++) {
		a->ctx.name = c->names[i];
		for (try = 0;; try++) {
			if (acme_post(a, c->authz[i], NULL, NULL, cause) == -1)
				return -1;
			if (acme_authz_parse(a->reply.body.data,
				a->reply.body.len, &az, cause) == -1)
				return -1;
			if (strcmp(az.status, "valid") == 0) {
				acme_authz_free(&az);
				break;
			}
			if (strcmp(az.status, "pending") != 0) {
				*cause = az.error.type != NULL
				    ? acme_problem_sentence(&az.error, &a->ctx)
				    : xasprintf("the CA's authorization for "
						"'%s' is %s and it said not "
						"why",
					  c->names[i], az.status);
				acme_authz_free(&az);
				return -1;
			}
			acme_authz_free(&az);
			if (try >= ACME_POLL_TRIES) {
				*cause = xasprintf("the CA did not validate "
						   "'%s' in time; try again "
						   "later",
				    c->names[i]);
				return -1;
			}
			acme_sleep_ms(acme_poll_wait(a, try));
		}
		log_info("the CA validated '%s'", c->names[i]);
	}
	return 0;
}

/* Polls the order until its status is want (or invalid). */
static int
acme_poll_order(struct acme *a, const char *url, const char *want,
    struct acme_order *o, char **cause)
{
	int try;

	for (try = 0;; try++) {
		if (strcmp(o->status, want) == 0)
			return 0;
		if (strcmp(o->status, "invalid") == 0) {
			*cause = o->error.type != NULL
			    ? acme_problem_sentence(&o->error, &a->ctx)
			    : xstrdup("the CA marked the order invalid and "
				      "said not why");
			return -1;
		}
		if (try >= ACME_POLL_TRIES) {
			*cause = xasprintf("the CA's order stayed '%s'; try "
					   "again later",
			    o->status);
			return -1;
		}
		acme_sleep_ms(acme_poll_wait(a, try));
		if (acme_post(a, url, NULL, NULL, cause) == -1)
			return -1;
		acme_order_free(o);
		if (acme_order_parse(
			a->reply.body.data, a->reply.body.len, o, cause) == -1)
			return -1;
	}
}

static int
acme_finalize(struct acme *a, const char *url, struct acme_order *o,
    struct buf *chain, char **cause)
{
	struct buf der = BUF_INIT;
	json_t *req;
	char *csr;
	int rc;

	a->ctx.stage = ACME_STAGE_FINALIZE;
	if (acme_poll_order(a, url, "ready", o, cause) == -1)
		return -1;
	if (signer_csr(a->signer, a->params->key_type, a->params->names,
		a->params->nnames, &der, cause) == -1) {
		buf_free(&der);
		return -1;
	}
	csr = pki_b64url(der.data, der.len);
	buf_free(&der);
	req = json_pack("{s:s}", "csr", csr);
	free(csr);
	rc = acme_post(a, o->finalize, req, NULL, cause);
	json_decref(req);
	if (rc == -1)
		return -1;
	acme_order_free(o);
	if (acme_order_parse(a->reply.body.data, a->reply.body.len, o, cause) ==
	    -1)
		return -1;
	if (acme_poll_order(a, url, "valid", o, cause) == -1)
		return -1;
	if (o->certificate == NULL) {
		*cause = xstrdup("the CA's order is valid but names no "
				 "certificate");
		return -1;
	}

	a->ctx.stage = ACME_STAGE_DOWNLOAD;
	if (acme_post(a, o->certificate, NULL,
		"application/pem-certificate-chain", cause) == -1)
		return -1;
	buf_add(chain, a->reply.body.data, a->reply.body.len);
	return 0;
}

int
acme_issue(struct signer *s, const struct acme_params *p, struct buf *chain,
    char **cause)
{
	struct acme a;
	struct acme_order o;
	struct acme_challenges c;
	char *order_url = NULL;
	int rc = -1;

	memset(&a, 0, sizeof a);
	memset(&o, 0, sizeof o);
	memset(&c, 0, sizeof c);
	a.signer = s;
	a.params = p;
	if (p->nnames == 0) {
		*cause = xstrdup("no names to order a certificate for");
		return -1;
	}
	if ((a.curl = curl_easy_init()) == NULL) {
		*cause = xstrdup("cannot start libcurl");
		return -1;
	}

	if (acme_get_directory(&a, cause) == -1 ||
	    acme_account(&a, cause) == -1 ||
	    acme_new_order(&a, &o, &order_url, cause) == -1)
		goto out;
	if (strcmp(o.status, "pending") == 0) {
		if (acme_collect(&a, &o, &c, cause) == -1 ||
		    acme_publish(&a, &c, cause) == -1 ||
		    acme_self_check(&a, &c, cause) == -1 ||
		    acme_validate(&a, &c, cause) == -1)
			goto out;
		acme_challenges_free(&c);
		if (acme_post(&a, order_url, NULL, NULL, cause) == -1)
			goto out;
		acme_order_free(&o);
		if (acme_order_parse(
			a.reply.body.data, a.reply.body.len, &o, cause) == -1)
			goto out;
	}
	if (acme_finalize(&a, order_url, &o, chain, cause) == -1)
		goto out;
	rc = 0;

out:
	acme_challenges_free(&c);
	acme_order_free(&o);
	acme_directory_free(&a.dir);
	acme_reply_reset(&a.reply);
	free(order_url);
	free(a.nonce);
	free(a.kid);
	curl_easy_cleanup(a.curl);
	return rc;
}
