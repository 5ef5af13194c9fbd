/*
 * The end-to-end check, through nginx over HTTPS as a browser would use
 * it: two temporary users register, become friends, one sends a message
 * over the WebSocket and the other receives it; then both delete their
 * accounts (DELETE /api/v1/account).
 * Install runs it last; `chatstack verify` runs it alone.
 *
 * Each temporary user is written to E2E_PENDING (0600, in the state
 * directory) before it registers and struck off once deleted. A check
 * cut short (chatd gone, the process killed) leaves its users there, and
 * the next check logs in as each and deletes it before it starts.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "buf.h"
#include "engine.h"
#include "fileio.h"
#include "event.h"
#include "log.h"
#include "steps.h"
#include "wsclient.h"
#include "xmalloc.h"

/* The longest Retry-After the check honours, in seconds. */
#define E2E_MAX_WAIT 65
/* The temporary users not yet deleted: [{"username", "password"}]. */
#define E2E_PENDING ENGINE_STATE_DIR "/e2e-users.json"

struct e2e {
	char *host;
	int port;
	char *ca_file; /* NULL: the system's trust store */
	char *resolve;
	struct curl_slist *rlist;
	char *pending_path;
	json_t *pending; /* what E2E_PENDING holds */
	long status; /* of the last call, 0 when it got no answer */
};

struct e2e_user {
	char name[40];
	char password[40];
	char *token;
	long long id;
	int recorded; /* in E2E_PENDING: its registration was tried */
};

static size_t
e2e_write(void *data, size_t size, size_t n, void *arg)
{
	buf_add(arg, data, size * n);
	return size * n;
}

/* One REST call; returns the JSON answer when the status is want. */
static json_t *
e2e_call(struct e2e *x, const char *method, const char *path, const char *token,
    json_t *body, long want, char **cause)
{
	struct curl_slist *h = NULL;
	struct buf out = BUF_INIT;
	json_error_t jerr;
	char *url, *auth = NULL, *text = NULL, err[CURL_ERROR_SIZE] = "";
	json_t *j = NULL;
	curl_off_t retry = 0;
	long status = 0;
	int tries;
	CURL *c;

	c = curl_easy_init();
	url = xasprintf("https://%s:%d%s", x->host, x->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, x->rlist);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, e2e_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	if (x->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, x->ca_file);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (token != NULL) {
		auth = xasprintf("Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	text = body != NULL ? json_dumps(body, JSON_COMPACT) : xstrdup("{}");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	x->status = 0;
	for (tries = 0;; tries++) {
		buf_wipe(&out);
		if (curl_easy_perform(c) != CURLE_OK) {
			*cause = xasprintf(
			    "%s %s through nginx: %s", method, path, err);
			goto out;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		x->status = status;
		curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry);
		/* chatd limits registrations per address: wait, bounded. */
		if (status != 429 || tries == 2 || retry > E2E_MAX_WAIT)
			break;
		if (retry <= 0)
			retry = 5;
		log_info("chatd asks the check to wait %ld s (rate limit)",
		    (long)retry);
		sleep((unsigned)retry);
	}
	if (status != want) {
		*cause = xasprintf("%s %s through nginx answered %ld, not %ld",
		    method, path, status, want);
		goto out;
	}
	j = json_loadb(out.data != NULL ? out.data : "", out.len, 0, &jerr);
	if (j == NULL)
		*cause = xasprintf("%s %s answered no JSON", method, path);
out:
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	buf_wipe(&out);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
	return j;
}

/* Reads E2E_PENDING; a missing file is an empty list. */
static int
e2e_pending_load(struct e2e *x, char **cause)
{
	json_error_t jerr;
	size_t len;
	char *text;

	x->pending = json_array();
	if (access(x->pending_path, F_OK) == -1)
		return 0;
	if ((text = file_read(x->pending_path, 1 << 20, &len, cause)) == NULL)
		return -1;
	json_decref(x->pending);
	x->pending = json_loadb(text, len, 0, &jerr);
	explicit_bzero(text, len);
	free(text);
	if (!json_is_array(x->pending)) {
		json_decref(x->pending);
		x->pending = json_array();
		*cause = xasprintf("'%s' is not the check's list of users: %s; "
				   "remove it",
		    x->pending_path, jerr.text);
		return -1;
	}
	return 0;
}

/* Writes x->pending back, 0600; an empty list removes the file. */
static int
e2e_pending_save(struct e2e *x, char **cause)
{
	struct atomic_opts o = ATOMIC_OPTS(0600);
	char *text;
	int rc;

	if (x->pending == NULL)
		return 0;
	if (json_array_size(x->pending) == 0) {
		if (unlink(x->pending_path) == -1 && errno != ENOENT) {
			*cause = xasprintf("cannot remove '%s': %s",
			    x->pending_path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (mkdir_parent(x->pending_path, 0700, cause) == -1)
		return -1;
	text = json_dumps(x->pending, JSON_COMPACT);
	rc = atomic_write(x->pending_path, text, strlen(text), &o, NULL, cause);
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static void
e2e_pending_drop(struct e2e *x, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(x->pending, i, v)
	{
		if (strcmp(
			json_string_value(json_object_get(v, "username")) ?: "",
			name) == 0) {
			json_array_remove(x->pending, i);
			return;
		}
	}
}

/*
 * Deletes one user by name and password: logs in, then DELETE
 * /api/v1/account. A login refused with 401 means there is no such user
 * (it never registered, or it is gone already): done too.
 */
static int
e2e_delete(struct e2e *x, const char *name, const char *password,
    const char *token, char **cause)
{
	char *why = NULL, *own = NULL;
	json_t *body, *j;

	if (token == NULL) {
		body = json_pack(
		    "{s:s, s:s}", "username", name, "password", password);
		j = e2e_call(x, "POST", "/api/v1/login", NULL, body, 200, &why);
		json_decref(body);
		if (j == NULL && x->status == 401) {
			free(why);
			return 0;
		}
		if (j == NULL) {
			*cause = why;
			return -1;
		}
		own = xstrdup(
		    json_string_value(json_object_get(j, "token")) ?: "");
		json_decref(j);
		token = own;
	}
	body = json_pack("{s:s}", "password", password);
	j = e2e_call(x, "DELETE", "/api/v1/account", token, body, 200, cause);
	json_decref(body);
	if (own != NULL) {
		explicit_bzero(own, strlen(own));
		free(own);
	}
	if (j == NULL)
		return -1;
	json_decref(j);
	return 0;
}

/* Deletes the users an earlier check left behind. */
static void
e2e_sweep(struct e2e *x)
{
	const char *name, *password;
	char *cause = NULL;
	json_t *v;
	size_t i;

	for (i = 0; i < json_array_size(x->pending);) {
		v = json_array_get(x->pending, i);
		name = json_string_value(json_object_get(v, "username"));
		password = json_string_value(json_object_get(v, "password"));
		if (name == NULL || password == NULL) {
			json_array_remove(x->pending, i);
			continue;
		}
		if (e2e_delete(x, name, password, NULL, &cause) == -1) {
			log_warn("could not delete %s, left by an earlier "
				 "check: %s",
			    name, cause);
			free(cause);
			cause = NULL;
			i++;
			continue;
		}
		log_info("deleted %s, left by an earlier check", name);
		json_array_remove(x->pending, i);
	}
	if (e2e_pending_save(x, &cause) == -1) {
		log_warn("%s", cause);
		free(cause);
	}
}

static void
e2e_random(char *out, size_t len)
{
	unsigned char r[16];
	size_t i;

	RAND_bytes(r, sizeof r);
	for (i = 0; i < sizeof r && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static int
e2e_register(struct e2e *x, struct e2e_user *u, char **cause)
{
	json_t *body, *j;

	json_array_append_new(x->pending,
	    json_pack(
		"{s:s, s:s}", "username", u->name, "password", u->password));
	if (e2e_pending_save(x, cause) == -1)
		return -1;
	u->recorded = 1;
	body = json_pack(
	    "{s:s, s:s}", "username", u->name, "password", u->password);
	j = e2e_call(x, "POST", "/api/v1/register", NULL, body, 201, cause);
	json_decref(body);
	if (j == NULL)
		return -1;
	u->token =
	    xstrdup(json_string_value(json_object_get(j, "token")) ?: "");
	u->id = json_integer_value(
	    json_object_get(json_object_get(j, "user"), "id"));
	json_decref(j);
	return 0;
}

/* Waits on ws for a frame of type (and client_msg_id when given). */
static json_t *
e2e_wait(struct ws *w, const char *type, char **cause)
{
	json_error_t jerr;
	char *text;
	json_t *j;
	int i;

	for (i = 0; i < 50; i++) {
		if ((text = ws_recv_text(w, 10000, cause)) == NULL)
			return NULL;
		j = json_loads(text, 0, &jerr);
		free(text);
		if (j == NULL)
			continue;
		if (strcmp(json_string_value(json_object_get(j, "type")) ?: "",
			type) == 0)
			return j;
		if (strcmp(json_string_value(json_object_get(j, "type")) ?: "",
			"error") == 0) {
			*cause = xasprintf("chatd answered an error: %s",
			    json_string_value(json_object_get(j, "message"))
				?: "?");
			json_decref(j);
			return NULL;
		}
		json_decref(j);
	}
	*cause = xasprintf("no '%s' frame from chatd", type);
	return NULL;
}

static struct ws *
e2e_socket(struct e2e *x, struct e2e_user *u, char **cause)
{
	struct ws *w;
	json_t *j;
	char *auth;

	w = ws_connect("127.0.0.1", x->port, x->host, x->ca_file, "/ws", cause);
	if (w == NULL)
		return NULL;
	auth = xasprintf("{\"type\":\"auth\",\"token\":\"%s\"}", u->token);
	if (ws_send_text(w, auth, cause) == -1 ||
	    (j = e2e_wait(w, "auth_ok", cause)) == NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
		ws_close(w);
		return NULL;
	}
	explicit_bzero(auth, strlen(auth));
	free(auth);
	json_decref(j);
	return w;
}

/*
 * Deletes the temporary users through chatd's API, as a user would:
 * the account, its sessions, the friendship and the conversation go.
 * One that cannot be deleted now stays in E2E_PENDING for the next check.
 */
static void
e2e_cleanup(struct e2e *x, struct e2e_user *u, size_t n)
{
	char *cause = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!u[i].recorded)
			continue;
		if (e2e_delete(
			x, u[i].name, u[i].password, u[i].token, &cause) == 0) {
			e2e_pending_drop(x, u[i].name);
			continue;
		}
		log_warn("could not delete the check's temporary user %s "
			 "(the next check will): %s",
		    u[i].name, cause);
		free(cause);
		cause = NULL;
	}
	if (e2e_pending_save(x, &cause) == -1) {
		log_warn("%s", cause);
		free(cause);
	}
}

/* The local CA's certificate when there is one, else NULL. */
static char *
e2e_ca_file(struct engine *e)
{
	char *path;

	path = engine_path(e, CHATSTACK_ETC "/tls/ca.crt");
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

int
e2e_run(struct engine *e, const char *host, int port, char **cause)
{
	struct e2e x;
	struct e2e_user u[2];
	struct ws *w0 = NULL, *w1 = NULL;
	char tag[20], cmid[40], *send = NULL, *path;
	json_t *j = NULL, *body;
	long long conv = 0, reqid;
	int rc = -1;
	size_t i;

	memset(&x, 0, sizeof x);
	memset(u, 0, sizeof u);
	x.host = (char *)host;
	x.port = port;
	x.ca_file = e2e_ca_file(e);
	x.resolve = xasprintf("%s:%d:127.0.0.1", host, port);
	x.rlist = curl_slist_append(NULL, x.resolve);
	x.pending_path = engine_path(e, E2E_PENDING);
	if (e2e_pending_load(&x, cause) == -1) {
		/* Left as it is, for the operator to look at. */
		json_decref(x.pending);
		x.pending = NULL;
		goto out;
	}
	e2e_sweep(&x);

	e2e_random(tag, 9);
	for (i = 0; i < 2; i++) {
		snprintf(u[i].name, sizeof u[i].name, "zz-check-%s-%c", tag,
		    (int)('a' + i));
		e2e_random(u[i].password, sizeof u[i].password);
	}
	for (i = 0; i < 2; i++) {
		if (e2e_register(&x, &u[i], cause) == -1)
			goto out;
	}

	body = json_pack("{s:s}", "username", u[1].name);
	j = e2e_call(&x, "POST", "/api/v1/friends/requests", u[0].token, body,
	    201, cause);
	json_decref(body);
	if (j == NULL)
		goto out;
	reqid = json_integer_value(
	    json_object_get(json_object_get(j, "request"), "id"));
	json_decref(j);
	path = xasprintf("/api/v1/friends/requests/%lld/accept", reqid);
	j = e2e_call(&x, "POST", path, u[1].token, NULL, 200, cause);
	free(path);
	if (j == NULL)
		goto out;
	conv = json_integer_value(json_object_get(j, "conversation_id"));
	json_decref(j);

	if ((w1 = e2e_socket(&x, &u[1], cause)) == NULL ||
	    (w0 = e2e_socket(&x, &u[0], cause)) == NULL)
		goto out;
	snprintf(cmid, sizeof cmid, "check-%s", tag);
	send = xasprintf("{\"type\":\"send\",\"conversation_id\":%lld,"
			 "\"client_msg_id\":\"%s\",\"body\":\"chatstack "
			 "end-to-end check\",\"ref\":1}",
	    conv, cmid);
	if (ws_send_text(w0, send, cause) == -1)
		goto out;
	if ((j = e2e_wait(w0, "ack", cause)) == NULL)
		goto out;
	json_decref(j);
	if ((j = e2e_wait(w1, "message", cause)) == NULL)
		goto out;
	if (strcmp(json_string_value(json_object_get(
		       json_object_get(j, "message"), "client_msg_id"))
		    ?: "",
		cmid) != 0) {
		*cause =
		    xstrdup("the message that arrived is not the one sent");
		json_decref(j);
		goto out;
	}
	json_decref(j);
	rc = 0;
out:
	ws_close(w0);
	ws_close(w1);
	e2e_cleanup(&x, u, 2);
	for (i = 0; i < 2; i++) {
		if (u[i].token != NULL) {
			explicit_bzero(u[i].token, strlen(u[i].token));
			free(u[i].token);
		}
	}
	explicit_bzero(u, sizeof u);
	free(send);
	curl_slist_free_all(x.rlist);
	free(x.resolve);
	free(x.ca_file);
	free(x.pending_path);
	json_decref(x.pending);
	return rc;
}

static int
step_e2e_check(struct engine *e, struct step *s, char **cause)
{
	const char *host;
	json_t *c;
	int port;

	(void)s;
	host = json_string_value(json_object_get(e->vars, "hostname"));
	c = json_object_get(json_object_get(e->vars, "components"), "nginx");
	port = (int)json_integer_value(json_object_get(c, "https_port"));
	if (e2e_run(e, host != NULL ? host : "localhost", port, cause) == -1)
		return STEP_ERROR;
	return STEP_DONE;
}

static int
step_e2e_apply(struct engine *e, struct step *s, char **cause)
{
	(void)e;
	(void)s;
	*cause = xstrdup("the end-to-end check cannot be applied");
	return -1;
}

static const struct step_ops step_e2e_ops = {
    .check = step_e2e_check,
    .apply = step_e2e_apply,
};

struct step *
step_add_e2e(struct engine *e)
{
	struct step *s;

	s = engine_add(e, "verify.e2e",
	    "End-to-end check: two users, friends, a message over the "
	    "WebSocket",
	    &step_e2e_ops, NULL);
	s->gate = 1;
	return s;
}
