/*
 * The operations behind every REST route and WebSocket frame. They run
 * on a worker thread with that thread's MariaDB connection, fill op->out
 * (the REST-shaped reply) or an error, and list deliveries for the loop
 * to route. MariaDB is the truth: sequences are allocated in the insert's
 * transaction. This file holds the helpers shared by the operations, the
 * operation table and the dispatcher; the operations themselves live in
 * store-account.c, store-delete.c, store-friend.c, store-group.c, store-msg.c and
 * store-batch.c.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "chatd.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

void
op_error(struct op *op, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	op->status = status;
	op->ecode = code;
	free(op->emsg);
	va_start(ap, fmt);
	op->emsg = xvasprintf(fmt, ap);
	va_end(ap);
	json_decref(op->out);
	op->out = NULL;
}

void
op_dberror(struct op *op, struct db *db)
{
	if (db_gone(db))
		op_error(op, 503, "unavailable", "the database is unreachable");
	else
		op_error(op, 500, "internal", "internal error");
}

void
op_reply(struct op *op, int status, json_t *out)
{
	op->status = status;
	json_decref(op->out);
	op->out = out;
}

/* Queues frame (stolen) for the given users. */
void
op_deliver(struct op *op, json_t *frame, const int64_t *uids, size_t n,
    int skip_requester)
{
	struct delivery *d, **pp;

	if (n == 0) {
		json_decref(frame);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->text = json_dumps(frame, JSON_COMPACT);
	d->len = strlen(d->text);
	d->uids = xcalloc(n, sizeof *d->uids);
	memcpy(d->uids, uids, n * sizeof *uids);
	d->nuids = n;
	d->skip_requester = skip_requester;
	json_decref(frame);
	for (pp = &op->deliveries; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = d;
}

void
op_deliver1(struct op *op, json_t *frame, int64_t uid)
{
	op_deliver(op, frame, &uid, 1, 0);
}

void
token_hash(const char *token, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, 65, h, sizeof h);
}

/* Helpers returning JSON for rows. */

json_t *
user_json(int64_t id, const char *username, const char *display)
{
	return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "username",
	    username, "display_name", display);
}

static const char SQL_USER_BY_ID[] =
    "SELECT id, username, display_name FROM users WHERE id = ?";

json_t *
user_load(struct db *db, int64_t id)
{
	json_t *u = NULL;

	if (db_query(db, SQL_USER_BY_ID, "i", id) == 0 && db_next(db) == 1)
		u = user_json(db_int(db, 0), db_str(db, 1), db_str(db, 2));
	db_done(db);
	return u;
}

json_t *
message_row(struct db *db)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:I}", "id",
	    (json_int_t)db_int(db, 0), "conversation_id",
	    (json_int_t)db_int(db, 1), "seq", (json_int_t)db_int(db, 2),
	    "sender_id", (json_int_t)db_int(db, 3), "client_msg_id",
	    db_str(db, 4), "body", db_str(db, 5), "created_at",
	    (json_int_t)db_int(db, 6));
}

/* Reads an id from the request body ("user_id"); -1 when absent/bad. */
int64_t
in_id(struct op *op, const char *key)
{
	json_t *v = json_object_get(op->in, key);

	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) >= ((json_int_t)1 << 53))
		return -1;
	return json_integer_value(v);
}

const char *
in_str(struct op *op, const char *key)
{
	json_t *v = json_object_get(op->in, key);

	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

int
need_body(struct op *op)
{
	if (!json_is_object(op->in)) {
		op_error(op, 400, "bad_json", "the body is not a JSON object");
		return -1;
	}
	return 0;
}

/* Fixed-window counter in Redis; fails open when Redis is down. */
int
rate_check(struct op *op, const char *what, int limit)
{
	redisContext *rc = route_redis_sync();
	redisReply *r;
	long long n = 0;

	if (rc == NULL)
		return 0;
	r = redisCommand(rc, "INCR chatd:rl:%s:%s", what, op->addr);
	if (r == NULL) {
		log_warn("redis: rate limit check failed");
		return 0;
	}
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	if (n == 1) {
		r = redisCommand(
		    rc, "EXPIRE chatd:rl:%s:%s 60", what, op->addr);
		if (r != NULL)
			freeReplyObject(r);
	}
	if (n > limit) {
		op->retry_after = 60;
		op_error(op, 429, "rate_limited", "too many %s attempts", what);
		return -1;
	}
	return 0;
}

const char SQL_FRIEND_IDS[] =
    "SELECT friend_id FROM friendships WHERE user_id = ?";

int
query_ids(struct db *db, const char *sql, const char *types, int64_t a,
    int64_t b, struct idlist *l)
{
	if (db_query(db, sql, types, a, b) != 0)
		return -1;
	while (db_next(db) == 1) {
		l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
		l->v[l->n++] = db_int(db, 0);
	}
	db_done(db);
	return 0;
}

void
op_presence(struct db *db, struct op *op)
{
	struct idlist l = {NULL, 0};

	if (query_ids(db, SQL_FRIEND_IDS, "i", op->uid, 0, &l) != 0) {
		op_dberror(op, db);
		return;
	}
	op_deliver(op,
	    json_pack("{s:s,s:I,s:b}", "type", "presence", "user_id",
		(json_int_t)op->uid, "online", op->online),
	    l.v, l.n, 0);
	free(l.v);
	op_reply(op, 200, json_object());
}

static const op_fn op_table[OP_COUNT] = {
    [OP_REGISTER] = op_register,
    [OP_LOGIN] = op_login,
    [OP_LOGOUT] = op_logout,
    [OP_ME] = op_me,
    [OP_USER_SEARCH] = op_user_search,
    [OP_USER_GET] = op_user_get,
    [OP_FRIEND_REQUEST] = op_friend_request,
    [OP_FRIEND_REQUESTS] = op_friend_requests,
    [OP_FRIEND_ACCEPT] = op_friend_accept,
    [OP_FRIEND_REJECT] = op_friend_reject,
    [OP_FRIENDS] = op_friends,
    [OP_FRIEND_REMOVE] = op_friend_remove,
    [OP_GROUP_CREATE] = op_group_create,
    [OP_GROUPS] = op_groups,
    [OP_GROUP_GET] = op_group_get,
    [OP_GROUP_ADD] = op_group_add,
    [OP_GROUP_REMOVE] = op_group_remove,
    [OP_CONVERSATIONS] = op_conversations,
    [OP_DIRECT] = op_direct,
    [OP_HISTORY] = op_history,
    [OP_SEND] = op_send,
    [OP_READ] = op_read,
    [OP_ACCOUNT_DELETE] = op_account_delete,
    [OP_AUTH] = op_auth,
    [OP_SYNC] = op_sync,
    [OP_PRESENCE] = op_presence,
};

static void
op_ready(struct op *op)
{
	redisContext *rc;
	redisReply *r;

	op->ready_db = db_ping() == 0;
	if ((rc = route_redis_sync()) != NULL &&
	    (r = redisCommand(rc, "PING")) != NULL) {
		op->ready_redis = r->type == REDIS_REPLY_STATUS;
		freeReplyObject(r);
	}
	op->ready_amqp = amqp_ok();
	op->status =
	    op->ready_db && op->ready_redis && op->ready_amqp ? 200 : 503;
}

void
store_run(struct op *op)
{
	struct db *db;

	if (op->id == OP_READY) {
		op_ready(op);
		return;
	}
	if ((db = db_get()) == NULL) {
		op_error(op, 503, "unavailable", "the database is unreachable");
		return;
	}
	if (op->uid == 0 && proto_op_needs_auth(op->id) && op->id != OP_AUTH &&
	    auth_token(db, op, NULL) != 0)
		goto out;
	if (op->id <= OP_NONE || op->id >= OP_COUNT ||
	    op_table[op->id] == NULL) {
		op_error(op, 404, "not_found", "no such operation");
		goto out;
	}
	op_table[op->id](db, op);
out:
	if (db_gone(db))
		db_reset();
}

void
op_free(struct op *op)
{
	struct delivery *d, *next;

	if (op == NULL)
		return;
	for (d = op->deliveries; d != NULL; d = next) {
		next = d->next;
		free(d->text);
		free(d->uids);
		free(d);
	}
	json_decref(op->in);
	json_decref(op->out);
	json_decref(op->frames);
	free(op->query);
	free(op->emsg);
	proto_frame_free(&op->frame);
	sodium_memzero(op->token, sizeof op->token);
	free(op);
}
