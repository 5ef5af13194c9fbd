/* The social graph: friend requests, friendships, direct conversations. */

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

/* Friends. */

static const char SQL_IS_FRIEND[] =
    "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";

int
is_friend(struct db *db, int64_t a, int64_t b)
{
	int r;

	if (db_query(db, SQL_IS_FRIEND, "ii", a, b) != 0)
		return -1;
	r = db_next(db);
	db_done(db);
	return r;
}

static const char SQL_REQ_BY_ID[] =
    "SELECT r.id, r.from_id, fu.username, fu.display_name, r.to_id, "
    "tu.username, tu.display_name, r.state, r.created_at "
    "FROM friend_requests r JOIN users fu ON fu.id = r.from_id "
    "JOIN users tu ON tu.id = r.to_id WHERE r.id = ?";
static const char SQL_REQ_IN[] =
    "SELECT r.id, r.from_id, fu.username, fu.display_name, r.to_id, "
    "tu.username, tu.display_name, r.state, r.created_at "
    "FROM friend_requests r JOIN users fu ON fu.id = r.from_id "
    "JOIN users tu ON tu.id = r.to_id WHERE r.to_id = ? AND r.state = 0 "
    "ORDER BY r.id";
static const char SQL_REQ_OUT[] =
    "SELECT r.id, r.from_id, fu.username, fu.display_name, r.to_id, "
    "tu.username, tu.display_name, r.state, r.created_at "
    "FROM friend_requests r JOIN users fu ON fu.id = r.from_id "
    "JOIN users tu ON tu.id = r.to_id WHERE r.from_id = ? AND r.state = 0 "
    "ORDER BY r.id";

static const char *const req_states[] = {"pending", "accepted", "rejected"};

static json_t *
request_row(struct db *db)
{
	int64_t st = db_int(db, 7);

	return json_pack("{s:I,s:o,s:o,s:s,s:I}", "id",
	    (json_int_t)db_int(db, 0), "from",
	    user_json(db_int(db, 1), db_str(db, 2), db_str(db, 3)), "to",
	    user_json(db_int(db, 4), db_str(db, 5), db_str(db, 6)), "state",
	    st >= 0 && st <= 2 ? req_states[st] : "pending", "created_at",
	    (json_int_t)db_int(db, 8));
}

static json_t *
request_load(struct db *db, int64_t id)
{
	json_t *r = NULL;

	if (db_query(db, SQL_REQ_BY_ID, "i", id) == 0 && db_next(db) == 1)
		r = request_row(db);
	db_done(db);
	return r;
}

static const char SQL_CONV_DIRECT_ADD[] =
    "INSERT IGNORE INTO conversations (kind, direct_key, last_at, "
    "created_at) VALUES (1, ?, ?, ?)";
static const char SQL_CONV_DIRECT_GET[] =
    "SELECT id FROM conversations WHERE direct_key = ?";
const char SQL_MEMBER_ADD[] =
    "INSERT IGNORE INTO conv_members (conversation_id, user_id, read_seq, "
    "joined_at) VALUES (?, ?, 0, ?)";

void
direct_key(int64_t a, int64_t b, char *out, size_t outsz)
{
	if (a > b) {
		int64_t t = a;

		a = b;
		b = t;
	}
	snprintf(out, outsz, "%lld:%lld", (long long)a, (long long)b);
}

/* Returns the direct conversation of a and b, creating it; -1 on error. */
int64_t
direct_get(struct db *db, int64_t a, int64_t b)
{
	char key[48];
	int64_t id = -1, now = (int64_t)now_ms();

	direct_key(a, b, key, sizeof key);
	if (db_query(db, SQL_CONV_DIRECT_ADD, "sii", key, now, now) != 0)
		return -1;
	db_done(db);
	if (db_query(db, SQL_CONV_DIRECT_GET, "s", key) != 0)
		return -1;
	if (db_next(db) == 1)
		id = db_int(db, 0);
	db_done(db);
	if (id < 0)
		return -1;
	if (db_query(db, SQL_MEMBER_ADD, "iii", id, a, now) != 0)
		return -1;
	db_done(db);
	if (db_query(db, SQL_MEMBER_ADD, "iii", id, b, now) != 0)
		return -1;
	db_done(db);
	return id;
}

static const char SQL_FRIEND_ADD[] =
    "INSERT IGNORE INTO friendships (user_id, friend_id, created_at) "
    "VALUES (?, ?, ?)";
static const char SQL_REQ_SET[] =
    "UPDATE friend_requests SET state = ?, updated_at = ? "
    "WHERE id = ? AND state = 0";
static const char SQL_REQ_SET_PAIR[] =
    "UPDATE friend_requests SET state = 1, updated_at = ? "
    "WHERE from_id = ? AND to_id = ? AND state = 0";
static const char SQL_REQ_LOCK[] =
    "SELECT from_id, to_id, state FROM friend_requests WHERE id = ? "
    "FOR UPDATE";

/* Accepts request id (to me); fills the reply and the events. */
static void
accept_request(struct db *db, struct op *op, int64_t rid)
{
	int64_t from, to, state, conv, now = (int64_t)now_ms();
	json_t *ufrom = NULL, *uto = NULL, *req;

	if (db_begin(db) != 0)
		goto dberr;
	if (db_query(db, SQL_REQ_LOCK, "i", rid) != 0)
		goto dberr;
	if (db_next(db) != 1) {
		db_done(db);
		db_rollback(db);
		op_error(op, 404, "not_found", "no friend request %lld",
		    (long long)rid);
		return;
	}
	from = db_int(db, 0);
	to = db_int(db, 1);
	state = db_int(db, 2);
	db_done(db);
	if (to != op->uid) {
		db_rollback(db);
		op_error(op, 404, "not_found", "no friend request %lld",
		    (long long)rid);
		return;
	}
	if (state != 0) {
		db_rollback(db);
		op_error(op, 409, "conflict",
		    "friend request %lld is not "
		    "pending",
		    (long long)rid);
		return;
	}
	if (db_query(db, SQL_REQ_SET, "iii", (int64_t)1, now, rid) != 0)
		goto dberr;
	if (db_query(db, SQL_REQ_SET_PAIR, "iii", now, to, from) != 0)
		goto dberr;
	if (db_query(db, SQL_FRIEND_ADD, "iii", from, to, now) != 0 ||
	    db_query(db, SQL_FRIEND_ADD, "iii", to, from, now) != 0)
		goto dberr;
	if ((conv = direct_get(db, from, to)) < 0)
		goto dberr;
	if (db_commit(db) != 0)
		goto dberr;

	ufrom = user_load(db, from);
	uto = user_load(db, to);
	if (ufrom == NULL || uto == NULL) {
		json_decref(ufrom);
		json_decref(uto);
		op_error(op, 404, "not_found", "the user is gone");
		return;
	}
	req = request_load(db, rid);
	op_deliver1(op,
	    json_pack("{s:s,s:s,s:O,s:I}", "type", "event", "kind",
		"friend_accepted", "friend", uto, "conversation_id",
		(json_int_t)conv),
	    from);
	op_deliver1(op,
	    json_pack("{s:s,s:s,s:O,s:I}", "type", "event", "kind",
		"friend_accepted", "friend", ufrom, "conversation_id",
		(json_int_t)conv),
	    to);
	op_reply(op, 200,
	    json_pack("{s:o,s:I,s:o}", "friend", ufrom, "conversation_id",
		(json_int_t)conv, "request", req != NULL ? req : json_null()));
	json_decref(uto);
	return;
dberr:
	op_dberror(op, db);
	db_rollback(db);
}

static const char SQL_REQ_PENDING[] =
    "SELECT id FROM friend_requests WHERE from_id = ? AND to_id = ? "
    "AND state = 0";
static const char SQL_REQ_ADD[] =
    "INSERT INTO friend_requests (from_id, to_id, state, created_at, "
    "updated_at) VALUES (?, ?, 0, ?, ?)";
static const char SQL_USER_ID_BY_NAME[] =
    "SELECT id FROM users WHERE username = ?";

void
op_friend_request(struct db *db, struct op *op)
{
	int64_t target = -1, rid, now = (int64_t)now_ms();
	const char *name;
	char lname[33], *cause = NULL;
	json_t *req;
	int r;

	if (need_body(op) != 0)
		return;
	if (json_object_get(op->in, "user_id") != NULL) {
		if ((target = in_id(op, "user_id")) < 0) {
			op_error(
			    op, 400, "bad_request", "'user_id' must be an id");
			return;
		}
	} else if ((name = in_str(op, "username")) != NULL) {
		if (proto_check_username(name, lname, sizeof lname, &cause) !=
		    0) {
			free(cause);
			op_error(op, 404, "not_found", "no such user");
			return;
		}
		if (db_query(db, SQL_USER_ID_BY_NAME, "s", lname) != 0)
			goto dberr;
		if (db_next(db) == 1)
			target = db_int(db, 0);
		db_done(db);
	} else {
		op_error(op, 400, "bad_request",
		    "'user_id' or 'username' is required");
		return;
	}
	if (target == op->uid) {
		op_error(op, 400, "bad_request", "cannot befriend yourself");
		return;
	}
	if (target < 0 || (req = user_load(db, target)) == NULL) {
		op_error(op, 404, "not_found", "no such user");
		return;
	}
	json_decref(req);
	if ((r = is_friend(db, op->uid, target)) < 0)
		goto dberr;
	if (r == 1) {
		op_error(op, 409, "conflict", "already friends");
		return;
	}
	/* The other side asked first: accept theirs. */
	if (db_query(db, SQL_REQ_PENDING, "ii", target, op->uid) != 0)
		goto dberr;
	rid = db_next(db) == 1 ? db_int(db, 0) : 0;
	db_done(db);
	if (rid > 0) {
		accept_request(db, op, rid);
		if (op->out != NULL)
			json_object_set_new(json_object_get(op->out, "request"),
			    "state", json_string("accepted"));
		return;
	}
	if (db_query(db, SQL_REQ_PENDING, "ii", op->uid, target) != 0)
		goto dberr;
	r = db_next(db);
	db_done(db);
	if (r == 1) {
		op_error(op, 409, "conflict",
		    "a friend request is already "
		    "pending");
		return;
	}
	if (db_query(db, SQL_REQ_ADD, "iiii", op->uid, target, now, now) != 0)
		goto dberr;
	rid = (int64_t)db_insert_id(db);
	db_done(db);
	if ((req = request_load(db, rid)) == NULL)
		goto dberr;
	op_deliver1(op,
	    json_pack("{s:s,s:s,s:O}", "type", "event", "kind",
		"friend_request", "request", req),
	    target);
	op_reply(op, 201, json_pack("{s:o}", "request", req));
	return;
dberr:
	op_dberror(op, db);
}

void
op_friend_requests(struct db *db, struct op *op)
{
	json_t *in = json_array(), *out = json_array();

	if (db_query(db, SQL_REQ_IN, "i", op->uid) != 0)
		goto dberr;
	while (db_next(db) == 1)
		json_array_append_new(in, request_row(db));
	if (db_query(db, SQL_REQ_OUT, "i", op->uid) != 0)
		goto dberr;
	while (db_next(db) == 1)
		json_array_append_new(out, request_row(db));
	db_done(db);
	op_reply(
	    op, 200, json_pack("{s:o,s:o}", "incoming", in, "outgoing", out));
	return;
dberr:
	json_decref(in);
	json_decref(out);
	op_dberror(op, db);
}

void
op_friend_accept(struct db *db, struct op *op)
{
	accept_request(db, op, op->ids[0]);
}

static const char SQL_REQ_FROM[] =
    "SELECT from_id FROM friend_requests WHERE id = ? AND to_id = ? "
    "AND state = 0";

void
op_friend_reject(struct db *db, struct op *op)
{
	int64_t from, now = (int64_t)now_ms();

	if (db_query(db, SQL_REQ_FROM, "ii", op->ids[0], op->uid) != 0)
		goto dberr;
	if (db_next(db) != 1) {
		db_done(db);
		op_error(op, 404, "not_found", "no pending friend request %lld",
		    (long long)op->ids[0]);
		return;
	}
	from = db_int(db, 0);
	db_done(db);
	if (db_query(db, SQL_REQ_SET, "iii", (int64_t)2, now, op->ids[0]) != 0)
		goto dberr;
	db_done(db);
	op_deliver1(op,
	    json_pack("{s:s,s:s,s:I,s:I}", "type", "event", "kind",
		"friend_rejected", "request_id", (json_int_t)op->ids[0],
		"user_id", (json_int_t)op->uid),
	    from);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
	return;
dberr:
	op_dberror(op, db);
}

static const char SQL_FRIENDS[] =
    "SELECT u.id, u.username, u.display_name, c.id FROM friendships f "
    "JOIN users u ON u.id = f.friend_id "
    "LEFT JOIN conversations c ON c.direct_key = CONCAT(LEAST(f.user_id, "
    "f.friend_id), ':', GREATEST(f.user_id, f.friend_id)) "
    "WHERE f.user_id = ? ORDER BY u.username";

void
op_friends(struct db *db, struct op *op)
{
	redisContext *rc = route_redis_sync();
	redisReply *r;
	json_t *list = json_array(), *f;
	size_t i;

	if (db_query(db, SQL_FRIENDS, "i", op->uid) != 0) {
		json_decref(list);
		op_dberror(op, db);
		return;
	}
	while (db_next(db) == 1) {
		f = json_pack("{s:o,s:b,s:I}", "user",
		    user_json(db_int(db, 0), db_str(db, 1), db_str(db, 2)),
		    "online", 0, "conversation_id", (json_int_t)db_int(db, 3));
		json_array_append_new(list, f);
		if (rc != NULL)
			redisAppendCommand(rc, "GET chatd:online:%lld",
			    (long long)db_int(db, 0));
	}
	db_done(db);
	for (i = 0; rc != NULL && i < json_array_size(list); i++) {
		if (redisGetReply(rc, (void **)&r) != REDIS_OK || r == NULL)
			break;
		if (r->type == REDIS_REPLY_STRING && atoll(r->str) > 0)
			json_object_set_new(
			    json_array_get(list, i), "online", json_true());
		freeReplyObject(r);
	}
	op_reply(op, 200, json_pack("{s:o}", "friends", list));
}

static const char SQL_FRIEND_DEL[] =
    "DELETE FROM friendships WHERE (user_id = ? AND friend_id = ?) OR "
    "(user_id = ? AND friend_id = ?)";

void
op_friend_remove(struct db *db, struct op *op)
{
	int64_t other = op->ids[0];

	if (db_query(db, SQL_FRIEND_DEL, "iiii", op->uid, other, other,
		op->uid) != 0) {
		op_dberror(op, db);
		return;
	}
	if (db_affected(db) == 0) {
		db_done(db);
		op_error(op, 404, "not_found", "user %lld is not a friend",
		    (long long)other);
		return;
	}
	db_done(db);
	op_deliver1(op,
	    json_pack("{s:s,s:s,s:I}", "type", "event", "kind",
		"friend_removed", "user_id", (json_int_t)other),
	    op->uid);
	op_deliver1(op,
	    json_pack("{s:s,s:s,s:I}", "type", "event", "kind",
		"friend_removed", "user_id", (json_int_t)op->uid),
	    other);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
}
