/*
 * The pure parts of chatd: the REST route table, WebSocket frame parsing
 * and the validation rules of docs/chat-api.md. Nothing here touches the
 * network, the database or global state, so the unit tests and the fuzz
 * harness call it directly.
 */
#ifndef CHATD_PROTO_H
#define CHATD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Limits from docs/chat-api.md. */
#define PROTO_BODY_MAX 4096
#define PROTO_CLIENT_ID_MAX 64
#define PROTO_NAME_MAX 64
#define PROTO_GROUP_MAX 500
#define PROTO_SYNC_LIMIT_MAX 500
#define PROTO_SYNC_CONVS_MAX 1000
#define PROTO_REF_MAX 64

enum http_method {
	HTTP_GET,
	HTTP_POST,
	HTTP_DELETE,
	HTTP_OTHER,
};

enum op_id {
	OP_NONE,
	OP_REGISTER,
	OP_LOGIN,
	OP_LOGOUT,
	OP_ME,
	OP_USER_SEARCH,
	OP_USER_GET,
	OP_FRIEND_REQUEST,
	OP_FRIEND_REQUESTS,
	OP_FRIEND_ACCEPT,
	OP_FRIEND_REJECT,
	OP_FRIENDS,
	OP_FRIEND_REMOVE,
	OP_GROUP_CREATE,
	OP_GROUPS,
	OP_GROUP_GET,
	OP_GROUP_ADD,
	OP_GROUP_REMOVE,
	OP_CONVERSATIONS,
	OP_DIRECT,
	OP_HISTORY,
	OP_SEND,
	OP_READ,
	OP_ACCOUNT_DELETE,
	/* Internal operations, not reachable by a route. */
	OP_AUTH,
	OP_SYNC,
	OP_PRESENCE,
	OP_READY,
	OP_COUNT
};

struct route_match {
	enum op_id op;
	int64_t ids[2];
	int nids;
	int method_mismatch; /* path known, method not */
};

/* Matches method and path (no query string) against the route table. */
void proto_route(
    enum http_method, const char *path, size_t len, struct route_match *);
const char *proto_op_name(enum op_id);
int proto_op_needs_auth(enum op_id);

/* Client frames on /ws. */
enum frame_type {
	FRAME_AUTH,
	FRAME_SEND,
	FRAME_SYNC,
	FRAME_READ,
	FRAME_PING,
};

struct sync_pos {
	int64_t conversation_id;
	int64_t seq;
};

struct frame {
	enum frame_type type;
	json_t *ref; /* borrowed copy to echo, or NULL (owned: json_decref) */
	char token[65];
	int64_t conversation_id;
	int64_t seq;
	char client_msg_id[PROTO_CLIENT_ID_MAX + 1];
	char *body; /* allocated */
	struct sync_pos *sync;
	size_t nsync;
	int limit;
};

/*
 * Parses one text frame. Returns 0, or -1 with *code set to a static
 * error code ("bad_json", "bad_request", "too_large") and *cause to an
 * allocated sentence. The frame's ref is set even on most errors, so the
 * error reply can carry it. Free with proto_frame_free either way.
 */
int proto_parse_frame(
    const char *, size_t, struct frame *, const char **code, char **cause);
void proto_frame_free(struct frame *);

/* Validation: 0 when valid, else -1 with *cause allocated. */
int proto_check_username(const char *, char *out, size_t outsz, char **cause);
int proto_check_password(const char *, char **cause);
int proto_check_name(const char *what, const char *, char **cause);
int proto_check_body(const char *, char **cause);
int proto_check_client_id(const char *, char **cause);
int proto_is_token(const char *);
/* Strict decimal id (1..2^53), or -1. */
int64_t proto_parse_id(const char *, size_t);

/* Looks up one query argument ("limit") in a query string ("a=1&b=2");
 * copies its value (percent-decoding) into out; -1 when absent. */
int proto_query_arg(
    const char *query, const char *name, char *out, size_t outsz);

/*
 * A delivery between instances: "uid,uid,...\n" then the frame. Returns
 * the number of ids stored in uids (at most max), with *frame and *flen
 * set to the frame; -1 when the header is malformed.
 */
int proto_parse_remote(const char *, size_t, int64_t *uids, size_t max,
    const char **frame, size_t *flen);

/* Token bucket: rate per second, burst; now in milliseconds. */
struct bucket {
	double tokens;
	uint64_t last_ms;
};
int bucket_take(struct bucket *, double rate, double burst, uint64_t now_ms,
    uint64_t *retry_ms);

#endif
