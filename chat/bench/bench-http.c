/*
 * chat-bench setup through chatd's REST API (docs/chat-api.md): register
 * the users, make them friends, create the groups. Requests run in
 * parallel through one curl multi handle; answers of 429 are retried
 * after the Retry-After the server gave, a bounded number of times.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#define HTTP_ROUNDS 6 /* tries of a request answered 429 */
#define HTTP_WAIT_MAX 30 /* seconds, longest Retry-After honoured */
#define HTTP_TIMEOUT 60L /* seconds, one request */

struct http_req {
	const char *method;
	char *path;
	const char *token;
	char *body;
	long status;
	long retry_after;
	struct buf resp;
	json_t *json;
	CURL *easy;
	struct curl_slist *hdrs;
	char auth[128];
};

static size_t
http_write(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;

	buf_add(&r->resp, p, size * n);
	return size * n;
}

static void
http_req_set(struct http_req *r, const char *method, char *path,
    const char *token, char *body)
{
	memset(r, 0, sizeof *r);
	r->method = method;
	r->path = path;
	r->token = token;
	r->body = body;
	buf_init(&r->resp);
}

static void
http_req_free(struct http_req *r)
{
	free(r->path);
	free(r->body);
	buf_free(&r->resp);
	if (r->json != NULL)
		json_decref(r->json);
	explicit_bzero(r->auth, sizeof r->auth);
}

static void
http_start(struct bench *b, CURLM *multi, struct http_req *r)
{
	char *url;

	buf_reset(&r->resp);
	r->status = 0;
	r->retry_after = 0;
	r->easy = curl_easy_init();
	if (r->easy == NULL) {
		log_error("cannot create a curl handle");
		exit(1);
	}
	url = xasprintf("http://%s:%d%s", b->opts.host, b->opts.port, r->path);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, HTTP_TIMEOUT);
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (r->token != NULL) {
		snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s",
		    r->token);
		r->hdrs = curl_slist_append(r->hdrs, r->auth);
	}
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	if (r->body != NULL)
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	curl_multi_add_handle(multi, r->easy);
}

static void
http_done(CURLM *multi, struct http_req *r, CURLcode rc)
{
	curl_off_t ra = 0;

	if (rc == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra);
		r->retry_after = (long)ra;
	} else
		r->status = -(long)rc;
	curl_multi_remove_handle(multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	r->easy = NULL;
	r->hdrs = NULL;
	explicit_bzero(r->auth, sizeof r->auth);
	if (r->json != NULL)
		json_decref(r->json);
	r->json = json_loadb(
	    r->resp.data == NULL ? "" : r->resp.data, r->resp.len, 0, NULL);
}

/*
 * Runs requests, b->opts.http_parallel at a time, until each has an answer
 * other than 429 or its tries are used up. Returns -1 only when curl
 * itself cannot run; HTTP failures stay in each request's status.
 */
static int
http_batch(struct bench *b, struct http_req *reqs, int n, char **cause)
{
	CURLM *multi = NULL;
	int round, next, running, left, i, todo, wait;
	struct http_req **queue = NULL;
	CURLMsg *msg;
	struct http_req *r;
	int rc = -1;

	multi = curl_multi_init();
	if (multi == NULL) {
		*cause = xstrdup("cannot create a curl multi handle");
		goto out;
	}
	queue = xcalloc(n, sizeof *queue);
	for (i = 0; i < n; i++)
		queue[i] = &reqs[i];
	todo = n;

	for (round = 0; round < HTTP_ROUNDS && todo > 0; round++) {
		next = 0;
		running = 0;
		while (next < todo || running > 0) {
			while (running < b->opts.http_parallel && next < todo) {
				http_start(b, multi, queue[next++]);
				running++;
			}
			curl_multi_perform(multi, &left);
			while ((msg = curl_multi_info_read(multi, &left))) {
				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle,
				    CURLINFO_PRIVATE, (char **)&r);
				http_done(multi, r, msg->data.result);
				running--;
			}
			if (running > 0)
				curl_multi_poll(multi, NULL, 0, 100, NULL);
		}

		/* Keep the rate-limited ones for another round. */
		wait = 1;
		left = 0;
		for (i = 0; i < todo; i++) {
			if (queue[i]->status != 429)
				continue;
			if (queue[i]->retry_after > wait)
				wait = queue[i]->retry_after;
			queue[left++] = queue[i];
		}
		todo = left;
		if (todo > 0 && round + 1 < HTTP_ROUNDS) {
			if (wait > HTTP_WAIT_MAX)
				wait = HTTP_WAIT_MAX;
			log_warn("chatd rate-limited %d requests; retrying in "
				 "%d s",
			    todo, wait);
			sleep(wait);
		}
	}
	rc = 0;
out:
	free(queue);
	if (multi != NULL)
		curl_multi_cleanup(multi);
	return rc;
}

/* Says why a request failed, from the server's error object. */
static char *
http_failure(const char *what, struct http_req *r)
{
	json_t *err;
	const char *code = "", *message = "";
	char *esc, *s;

	if (r->status < 0)
		return xasprintf(
		    "%s: %s", what, curl_easy_strerror((CURLcode)-r->status));
	err = r->json == NULL ? NULL : json_object_get(r->json, "error");
	if (json_is_object(err)) {
		code = json_string_value(json_object_get(err, "code"));
		message = json_string_value(json_object_get(err, "message"));
	}
	esc = str_escape(message == NULL ? "" : message);
	s = xasprintf("%s: HTTP %ld %s %s%s", what, r->status,
	    code == NULL ? "" : code, esc,
	    r->status == 429 ? " (raise the rate limit in chatd's config "
			       "for benchmarks)"
			     : "");
	free(esc);
	return s;
}

static json_int_t
json_path_int(json_t *j, const char *a, const char *b)
{
	json_t *v;

	v = json_object_get(j, a);
	if (b != NULL)
		v = json_object_get(v, b);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static int
http_register(struct bench *b, char **cause)
{
	struct http_req *reqs;
	struct bench_user *u;
	const char *tok;
	json_t *body;
	int i, rc = -1;

	reqs = xcalloc(b->nusers, sizeof *reqs);
	for (i = 0; i < b->nusers; i++) {
		u = &b->users[i];
		body = json_pack("{s:s, s:s}", "username", u->username,
		    "password", b->password);
		http_req_set(&reqs[i], "POST", xstrdup("/api/v1/register"),
		    NULL, json_dumps(body, JSON_COMPACT));
		json_decref(body);
	}
	if (http_batch(b, reqs, b->nusers, cause) != 0)
		goto out;
	for (i = 0; i < b->nusers; i++) {
		u = &b->users[i];
		tok = json_string_value(json_object_get(reqs[i].json, "token"));
		u->id = json_path_int(reqs[i].json, "user", "id");
		if (reqs[i].status != 201 || tok == NULL || u->id <= 0) {
			*cause =
			    http_failure("cannot register a user", &reqs[i]);
			goto out;
		}
		u->token = xstrdup(tok);
	}
	rc = 0;
out:
	for (i = 0; i < b->nusers; i++) {
		if (reqs[i].body != NULL)
			explicit_bzero(reqs[i].body, strlen(reqs[i].body));
		http_req_free(&reqs[i]);
	}
	free(reqs);
	return rc;
}

/*
 * Makes each pair (from[i], to[i]) friends: from asks, to accepts. The
 * direct conversation ids go to conv_ids (may be NULL).
 */
static int
http_befriend(struct bench *b, const int *from, const int *to, int n,
    int64_t *conv_ids, char **cause)
{
	struct http_req *reqs;
	json_int_t rid;
	int i, rc = -1;

	reqs = xcalloc(n, sizeof *reqs);
	for (i = 0; i < n; i++) {
		http_req_set(&reqs[i], "POST",
		    xstrdup("/api/v1/friends/requests"),
		    b->users[from[i]].token,
		    xasprintf(
			"{\"user_id\":%lld}", (long long)b->users[to[i]].id));
	}
	if (http_batch(b, reqs, n, cause) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		rid = json_path_int(reqs[i].json, "request", "id");
		if (reqs[i].status != 201 || rid <= 0) {
			*cause = http_failure(
			    "cannot send a friend request", &reqs[i]);
			goto out;
		}
		http_req_free(&reqs[i]);
		http_req_set(&reqs[i], "POST",
		    xasprintf(
			"/api/v1/friends/requests/%lld/accept", (long long)rid),
		    b->users[to[i]].token, xstrdup("{}"));
	}
	if (http_batch(b, reqs, n, cause) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (reqs[i].status != 200) {
			*cause = http_failure(
			    "cannot accept a friend request", &reqs[i]);
			goto out;
		}
		if (conv_ids != NULL)
			conv_ids[i] = json_path_int(
			    reqs[i].json, "conversation_id", NULL);
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		http_req_free(&reqs[i]);
	free(reqs);
	return rc;
}

static void
setup_conv(struct bench *b, int c, int64_t id, int first, int n)
{
	int i;

	b->convs[c].id = id;
	b->convs[c].nmembers = n;
	b->convs[c].members = xcalloc(n, sizeof(int));
	for (i = 0; i < n; i++) {
		b->convs[c].members[i] = first + i;
		b->users[first + i].conv = c;
	}
}

static int
http_direct(struct bench *b, char **cause)
{
	int n = b->nusers / 2, i, rc = -1;
	int *from, *to;
	int64_t *ids;

	from = xcalloc(n, sizeof *from);
	to = xcalloc(n, sizeof *to);
	ids = xcalloc(n, sizeof *ids);
	for (i = 0; i < n; i++) {
		from[i] = 2 * i;
		to[i] = 2 * i + 1;
	}
	if (http_befriend(b, from, to, n, ids, cause) != 0)
		goto out;
	b->nconvs = n;
	b->convs = xcalloc(n, sizeof *b->convs);
	for (i = 0; i < n; i++) {
		if (ids[i] <= 0) {
			*cause = xstrdup("accepting a friend request gave no "
					 "conversation_id");
			goto out;
		}
		setup_conv(b, i, ids[i], 2 * i, 2);
	}
	rc = 0;
out:
	free(from);
	free(to);
	free(ids);
	return rc;
}

static int
http_groups(struct bench *b, char **cause)
{
	int g = b->opts.group_size, ng = b->nusers / g, n, i, j, k, rc = -1;
	int *from, *to;
	struct http_req *reqs = NULL;
	struct buf body = BUF_INIT;
	json_int_t cid;

	/* The owner (first of each group) befriends the others. */
	n = ng * (g - 1);
	from = xcalloc(n, sizeof *from);
	to = xcalloc(n, sizeof *to);
	for (i = 0, k = 0; i < ng; i++) {
		for (j = 1; j < g; j++, k++) {
			from[k] = i * g;
			to[k] = i * g + j;
		}
	}
	if (http_befriend(b, from, to, n, NULL, cause) != 0)
		goto out;

	reqs = xcalloc(ng, sizeof *reqs);
	for (i = 0; i < ng; i++) {
		buf_reset(&body);
		buf_printf(&body, "{\"name\":\"bench %s %d\",\"member_ids\":[",
		    b->tag, i);
		for (j = 1; j < g; j++)
			buf_printf(&body, "%s%lld", j > 1 ? "," : "",
			    (long long)b->users[i * g + j].id);
		buf_adds(&body, "]}");
		http_req_set(&reqs[i], "POST", xstrdup("/api/v1/groups"),
		    b->users[i * g].token, xstrdup(body.data));
	}
	if (http_batch(b, reqs, ng, cause) != 0)
		goto out;
	b->nconvs = ng;
	b->convs = xcalloc(ng, sizeof *b->convs);
	for (i = 0; i < ng; i++) {
		cid = json_path_int(reqs[i].json, "group", "conversation_id");
		if (reqs[i].status != 201 || cid <= 0) {
			*cause =
			    http_failure("cannot create a group", &reqs[i]);
			goto out;
		}
		setup_conv(b, i, cid, i * g, g);
	}
	rc = 0;
out:
	if (reqs != NULL) {
		for (i = 0; i < ng; i++)
			http_req_free(&reqs[i]);
		free(reqs);
	}
	buf_free(&body);
	free(from);
	free(to);
	return rc;
}

int
bench_http_setup(struct bench *b, char **cause)
{
	uint64_t t0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		*cause = xstrdup("cannot initialise libcurl");
		return -1;
	}
	t0 = bench_now_us();
	if (http_register(b, cause) != 0)
		return -1;
	log_info("registered %d users in %.1f s", b->nusers,
	    (bench_now_us() - t0) / 1e6);

	t0 = bench_now_us();
	if (b->opts.mode == BENCH_DIRECT && http_direct(b, cause) != 0)
		return -1;
	if (b->opts.mode == BENCH_GROUP && http_groups(b, cause) != 0)
		return -1;
	if (b->opts.mode != BENCH_IDLE)
		log_info("set up %d conversations in %.1f s", b->nconvs,
		    (bench_now_us() - t0) / 1e6);
	return 0;
}
