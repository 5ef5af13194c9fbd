/* Route table, frame parser and validation rules (docs/chat-api.md). */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "xmalloc.h"

#define ID_MAX ((int64_t)1 << 53)

/* A pattern segment "#" matches an id. */
static const struct route {
	enum http_method method;
	const char *pattern;
	enum op_id op;
} routes[] = {
    {HTTP_POST, "/api/v1/register", OP_REGISTER},
    {HTTP_POST, "/api/v1/login", OP_LOGIN},
    {HTTP_POST, "/api/v1/logout", OP_LOGOUT},
    {HTTP_DELETE, "/api/v1/account", OP_ACCOUNT_DELETE},
    {HTTP_GET, "/api/v1/me", OP_ME},
    {HTTP_GET, "/api/v1/users", OP_USER_SEARCH},
    {HTTP_GET, "/api/v1/users/#", OP_USER_GET},
    {HTTP_POST, "/api/v1/friends/requests", OP_FRIEND_REQUEST},
    {HTTP_GET, "/api/v1/friends/requests", OP_FRIEND_REQUESTS},
    {HTTP_POST, "/api/v1/friends/requests/#/accept", OP_FRIEND_ACCEPT},
    {HTTP_POST, "/api/v1/friends/requests/#/reject", OP_FRIEND_REJECT},
    {HTTP_GET, "/api/v1/friends", OP_FRIENDS},
    {HTTP_DELETE, "/api/v1/friends/#", OP_FRIEND_REMOVE},
    {HTTP_POST, "/api/v1/groups", OP_GROUP_CREATE},
    {HTTP_GET, "/api/v1/groups", OP_GROUPS},
    {HTTP_GET, "/api/v1/groups/#", OP_GROUP_GET},
    {HTTP_POST, "/api/v1/groups/#/members", OP_GROUP_ADD},
    {HTTP_DELETE, "/api/v1/groups/#/members/#", OP_GROUP_REMOVE},
    {HTTP_GET, "/api/v1/conversations", OP_CONVERSATIONS},
    {HTTP_POST, "/api/v1/conversations/direct", OP_DIRECT},
    {HTTP_GET, "/api/v1/conversations/#/messages", OP_HISTORY},
    {HTTP_POST, "/api/v1/conversations/#/messages", OP_SEND},
    {HTTP_POST, "/api/v1/conversations/#/read", OP_READ},
};

static const char *op_names[OP_COUNT] = {
    [OP_NONE] = "none",
    [OP_REGISTER] = "register",
    [OP_LOGIN] = "login",
    [OP_LOGOUT] = "logout",
    [OP_ME] = "me",
    [OP_USER_SEARCH] = "user_search",
    [OP_USER_GET] = "user_get",
    [OP_FRIEND_REQUEST] = "friend_request",
    [OP_FRIEND_REQUESTS] = "friend_requests",
    [OP_FRIEND_ACCEPT] = "friend_accept",
    [OP_FRIEND_REJECT] = "friend_reject",
    [OP_FRIENDS] = "friends",
    [OP_FRIEND_REMOVE] = "friend_remove",
    [OP_GROUP_CREATE] = "group_create",
    [OP_GROUPS] = "groups",
    [OP_GROUP_GET] = "group_get",
    [OP_GROUP_ADD] = "group_add",
    [OP_GROUP_REMOVE] = "group_remove",
    [OP_CONVERSATIONS] = "conversations",
    [OP_DIRECT] = "direct",
    [OP_HISTORY] = "history",
    [OP_SEND] = "send",
    [OP_READ] = "read",
    [OP_ACCOUNT_DELETE] = "account_delete",
    [OP_AUTH] = "auth",
    [OP_SYNC] = "sync",
    [OP_PRESENCE] = "presence",
    [OP_READY] = "ready",
};

const char *
proto_op_name(enum op_id op)
{
	if (op >= OP_COUNT || op_names[op] == NULL)
		return "unknown";
	return op_names[op];
}

int
proto_op_needs_auth(enum op_id op)
{
	return (op != OP_REGISTER && op != OP_LOGIN && op != OP_READY &&
	    op != OP_NONE);
}

int64_t
proto_parse_id(const char *s, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > 16 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0 || v >= ID_MAX)
		return -1;
	return v;
}

/* Matches one pattern; fills ids. */
static int
route_match_one(
    const char *pat, const char *path, size_t len, int64_t *ids, int *nids)
{
	size_t i = 0;
	const char *p = pat;

	*nids = 0;
	while (*p != '\0') {
		if (*p == '#') {
			size_t start = i;
			int64_t v;

			while (i < len && path[i] != '/')
				i++;
			if ((v = proto_parse_id(path + start, i - start)) < 0)
				return 0;
			if (*nids < 2)
				ids[(*nids)++] = v;
			p++;
			continue;
		}
		if (i >= len || path[i] != *p)
			return 0;
		i++;
		p++;
	}
	if (i < len && !(i == len - 1 && path[i] == '/'))
		return 0;
	return 1;
}

void
proto_route(enum http_method method, const char *path, size_t len,
    struct route_match *m)
{
	size_t i;
	int64_t ids[2];
	int nids;

	memset(m, 0, sizeof *m);
	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (!route_match_one(routes[i].pattern, path, len, ids, &nids))
			continue;
		if (routes[i].method != method) {
			m->method_mismatch = 1;
			continue;
		}
		m->op = routes[i].op;
		m->ids[0] = nids > 0 ? ids[0] : 0;
		m->ids[1] = nids > 1 ? ids[1] : 0;
		m->nids = nids;
		m->method_mismatch = 0;
		return;
	}
}

/* Valid UTF-8 without control characters (tab and newline allowed in
 * bodies only). Jansson already rejects invalid UTF-8 in its input. */
static int
has_controls(const char *s, int allow_newlines)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == 0x7f)
			return 1;
		if (*p >= 0x20)
			continue;
		if (allow_newlines && (*p == '\n' || *p == '\t' || *p == '\r'))
			continue;
		return 1;
	}
	return 0;
}

int
proto_check_username(const char *s, char *out, size_t outsz, char **cause)
{
	size_t len = strlen(s), i;

	if (len < 3 || len > 32 || len >= outsz) {
		*cause = xstrdup("'username' must be 3 to 32 characters");
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)s[i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '.' || c == '-')) {
			*cause = xstrdup("'username' may hold only a-z, 0-9, "
					 "'_', '.' and '-'");
			return -1;
		}
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

int
proto_check_password(const char *s, char **cause)
{
	size_t len = strlen(s);

	if (len < 8 || len > 256) {
		*cause = xstrdup("'password' must be 8 to 256 bytes");
		return -1;
	}
	return 0;
}

int
proto_check_name(const char *what, const char *s, char **cause)
{
	size_t len = strlen(s);

	if (len < 1 || len > PROTO_NAME_MAX) {
		*cause = xasprintf(
		    "'%s' must be 1 to %d bytes", what, PROTO_NAME_MAX);
		return -1;
	}
	if (has_controls(s, 0)) {
		*cause =
		    xasprintf("'%s' must not hold control characters", what);
		return -1;
	}
	return 0;
}

int
proto_check_body(const char *s, char **cause)
{
	size_t len = strlen(s);

	if (len < 1) {
		*cause = xstrdup("'body' must not be empty");
		return -1;
	}
	if (len > PROTO_BODY_MAX) {
		*cause = xasprintf("'body' is over %d bytes", PROTO_BODY_MAX);
		return -1;
	}
	return 0;
}

int
proto_check_client_id(const char *s, char **cause)
{
	size_t len = strlen(s), i;

	if (len < 1 || len > PROTO_CLIENT_ID_MAX) {
		*cause = xasprintf("'client_msg_id' must be 1 to %d characters",
		    PROTO_CLIENT_ID_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!isalnum((unsigned char)c) && c != '_' && c != '.' &&
		    c != ':' && c != '-') {
			*cause =
			    xstrdup("'client_msg_id' may hold only "
				    "A-Z, a-z, 0-9, '_', '.', ':' and '-'");
			return -1;
		}
	}
	return 0;
}

int
proto_is_token(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[64] == '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
proto_query_arg(const char *q, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name), o;
	const char *p = q, *end;

	if (q == NULL || outsz == 0)
		return -1;
	while (*p != '\0') {
		end = strchr(p, '&');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			p += nlen + 1;
			for (o = 0; p < end && o + 1 < outsz; p++) {
				if (*p == '%' && end - p >= 3 &&
				    hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
					out[o++] = (char)(hexval(p[1]) * 16 +
					    hexval(p[2]));
					p += 2;
				} else if (*p == '+')
					out[o++] = ' ';
				else
					out[o++] = *p;
			}
			out[o] = '\0';
			return 0;
		}
		p = *end == '&' ? end + 1 : end;
	}
	return -1;
}

/* Reads an integer member in [min, max]; -1 if missing or wrong. */
static int
get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
    char **cause)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v)) {
		*cause = xasprintf("'%s' must be an integer", key);
		return -1;
	}
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		*cause = xasprintf("'%s' is out of range", key);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static const char *
get_string(json_t *obj, const char *key, char **cause)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v)) {
		*cause = xasprintf("'%s' must be a string", key);
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		*cause = xasprintf("'%s' must not hold NUL", key);
		return NULL;
	}
	return json_string_value(v);
}

static int
parse_sync(json_t *obj, struct frame *f, char **cause)
{
	json_t *convs, *v, *lim;
	const char *key;
	size_t n = 0;
	int64_t id;

	lim = json_object_get(obj, "limit");
	f->limit = 100;
	if (lim != NULL) {
		int64_t l;

		if (get_int(obj, "limit", 1, PROTO_SYNC_LIMIT_MAX, &l, cause) !=
		    0)
			return -1;
		f->limit = (int)l;
	}
	convs = json_object_get(obj, "conversations");
	if (convs == NULL)
		return 0;
	if (!json_is_object(convs)) {
		*cause = xstrdup("'conversations' must be an object");
		return -1;
	}
	if (json_object_size(convs) > PROTO_SYNC_CONVS_MAX) {
		*cause = xasprintf(
		    "'conversations' lists more than %d", PROTO_SYNC_CONVS_MAX);
		return -1;
	}
	f->sync = xcalloc(json_object_size(convs) + 1, sizeof *f->sync);
	json_object_foreach(convs, key, v)
	{
		if ((id = proto_parse_id(key, strlen(key))) < 0) {
			*cause = xstrdup("'conversations' keys must be ids");
			return -1;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= ID_MAX) {
			*cause = xstrdup("'conversations' values must be "
					 "sequence numbers");
			return -1;
		}
		f->sync[n].conversation_id = id;
		f->sync[n].seq = json_integer_value(v);
		n++;
	}
	f->nsync = n;
	return 0;
}

int
proto_parse_frame(const char *data, size_t len, struct frame *f,
    const char **code, char **cause)
{
	json_t *obj = NULL, *ref;
	json_error_t jerr;
	const char *type, *s;
	int rc = -1;

	memset(f, 0, sizeof *f);
	*code = "bad_request";
	*cause = NULL;

	obj = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL || !json_is_object(obj)) {
		*code = "bad_json";
		*cause = xstrdup("frame is not a JSON object");
		goto out;
	}
	ref = json_object_get(obj, "ref");
	if (ref != NULL) {
		if (json_is_integer(ref) ||
		    (json_is_string(ref) &&
			json_string_length(ref) <= PROTO_REF_MAX))
			f->ref = json_incref(ref);
		else {
			*cause = xstrdup("'ref' must be an integer or a short "
					 "string");
			goto out;
		}
	}
	if ((type = get_string(obj, "type", cause)) == NULL)
		goto out;

	if (strcmp(type, "auth") == 0) {
		f->type = FRAME_AUTH;
		if ((s = get_string(obj, "token", cause)) == NULL)
			goto out;
		if (!proto_is_token(s)) {
			*code = "unauthorized";
			*cause = xstrdup("'token' is not a session token");
			goto out;
		}
		memcpy(f->token, s, 65);
	} else if (strcmp(type, "send") == 0) {
		f->type = FRAME_SEND;
		if ((s = get_string(obj, "client_msg_id", cause)) == NULL)
			goto out;
		if (proto_check_client_id(s, cause) != 0)
			goto out;
		snprintf(f->client_msg_id, sizeof f->client_msg_id, "%s", s);
		if (get_int(obj, "conversation_id", 1, ID_MAX - 1,
			&f->conversation_id, cause) != 0)
			goto out;
		if ((s = get_string(obj, "body", cause)) == NULL)
			goto out;
		if (proto_check_body(s, cause) != 0) {
			if (strlen(s) > PROTO_BODY_MAX)
				*code = "too_large";
			goto out;
		}
		f->body = xstrdup(s);
	} else if (strcmp(type, "sync") == 0) {
		f->type = FRAME_SYNC;
		if (parse_sync(obj, f, cause) != 0)
			goto out;
	} else if (strcmp(type, "read") == 0) {
		f->type = FRAME_READ;
		if (get_int(obj, "conversation_id", 1, ID_MAX - 1,
			&f->conversation_id, cause) != 0)
			goto out;
		if (get_int(obj, "seq", 0, ID_MAX - 1, &f->seq, cause) != 0)
			goto out;
	} else if (strcmp(type, "ping") == 0)
		f->type = FRAME_PING;
	else {
		s = NULL;
		*cause = xstrdup("unknown frame 'type'");
		goto out;
	}
	rc = 0;

out:
	json_decref(obj);
	return rc;
}

void
proto_frame_free(struct frame *f)
{
	json_decref(f->ref);
	free(f->body);
	free(f->sync);
	memset(f, 0, sizeof *f);
}

int
proto_parse_remote(const char *data, size_t len, int64_t *uids, size_t max,
    const char **frame, size_t *flen)
{
	const char *nl = memchr(data, '\n', len), *p, *start;
	size_t n = 0;
	int64_t id;

	if (nl == NULL || nl == data)
		return -1;
	for (p = data; p < nl;) {
		start = p;
		while (p < nl && *p != ',')
			p++;
		if ((id = proto_parse_id(start, (size_t)(p - start))) < 0)
			return -1;
		if (n < max)
			uids[n++] = id;
		if (p < nl)
			p++;
		if (p == nl && p[-1] == ',')
			return -1;
	}
	*frame = nl + 1;
	*flen = len - (size_t)(nl + 1 - data);
	return (int)n;
}

int
bucket_take(struct bucket *b, double rate, double burst, uint64_t now_ms,
    uint64_t *retry_ms)
{
	if (b->last_ms == 0) {
		b->tokens = burst;
		b->last_ms = now_ms;
	}
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
		if (b->tokens > burst)
			b->tokens = burst;
		b->last_ms = now_ms;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	if (retry_ms != NULL)
		*retry_ms = (uint64_t)((1.0 - b->tokens) * 1000.0 / rate) + 1;
	return -1;
}
