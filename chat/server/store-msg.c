/*
 * Conversations and messages: listing, history, sends, read markers and
 * the sync a socket asks for after (re)connecting.
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

/* Conversations. */

static const char SQL_CONV_ONE[] =
    "SELECT c.id, c.kind, c.last_seq, m.read_seq, c.direct_key, g.id, "
    "g.name FROM conv_members m JOIN conversations c ON "
    "c.id = m.conversation_id LEFT JOIN chat_groups g ON "
    "g.conversation_id = c.id WHERE m.user_id = ? AND c.id = ?";
static const char SQL_CONV_LIST[] =
    "SELECT c.id FROM conv_members m JOIN conversations c ON "
    "c.id = m.conversation_id WHERE m.user_id = ? "
    "ORDER BY c.last_at DESC, c.id DESC LIMIT 1000";
static const char SQL_MSG_BY_SEQ[] =
    "SELECT id, conversation_id, seq, sender_id, client_msg_id, body, "
    "created_at FROM messages WHERE conversation_id = ? AND seq = ?";

int64_t
direct_peer(const char *key, int64_t me)
{
	long long a = 0, b = 0;

	if (sscanf(key, "%lld:%lld", &a, &b) != 2)
		return 0;
	return a == me ? b : a;
}

/* The conversation as the caller sees it, or NULL. */
static json_t *
conv_load(struct db *db, int64_t uid, int64_t cid)
{
	json_t *c = NULL, *extra = NULL, *last = NULL;
	int64_t kind, last_seq = 0, read_seq, peer = 0;

	if (db_query(db, SQL_CONV_ONE, "ii", uid, cid) != 0)
		return NULL;
	if (db_next(db) == 1) {
		kind = db_int(db, 1);
		last_seq = db_int(db, 2);
		read_seq = db_int(db, 3);
		if (kind == KIND_DIRECT)
			peer = direct_peer(db_str(db, 4), uid);
		else
			extra = json_pack("{s:I,s:s}", "id",
			    (json_int_t)db_int(db, 5), "name", db_str(db, 6));
		c = json_pack("{s:I,s:s,s:I,s:I,s:I}", "id", (json_int_t)cid,
		    "kind", kind == KIND_DIRECT ? "direct" : "group",
		    "last_seq", (json_int_t)last_seq, "read_seq",
		    (json_int_t)read_seq, "unread",
		    (json_int_t)(last_seq > read_seq ? last_seq - read_seq
						     : 0));
	}
	db_done(db);
	if (c == NULL)
		return NULL;
	if (peer > 0)
		extra = user_load(db, peer);
	json_object_set_new(c, peer > 0 ? "peer" : "group",
	    extra != NULL ? extra : json_null());
	if (last_seq > 0 &&
	    db_query(db, SQL_MSG_BY_SEQ, "ii", cid, last_seq) == 0 &&
	    db_next(db) == 1)
		last = message_row(db);
	db_done(db);
	json_object_set_new(
	    c, "last_message", last != NULL ? last : json_null());
	return c;
}

void
op_conversations(struct db *db, struct op *op)
{
	struct idlist l = {NULL, 0};
	json_t *list = json_array(), *c;
	size_t i;

	if (query_ids(db, SQL_CONV_LIST, "i", op->uid, 0, &l) != 0)
		goto dberr;
	for (i = 0; i < l.n; i++) {
		if ((c = conv_load(db, op->uid, l.v[i])) != NULL)
			json_array_append_new(list, c);
	}
	free(l.v);
	op_reply(op, 200, json_pack("{s:o}", "conversations", list));
	return;
dberr:
	json_decref(list);
	op_dberror(op, db);
}

void
op_direct(struct db *db, struct op *op)
{
	int64_t other, cid;
	json_t *c;
	int r;

	if (need_body(op) != 0)
		return;
	if ((other = in_id(op, "user_id")) < 0) {
		op_error(op, 400, "bad_request", "'user_id' must be an id");
		return;
	}
	if ((r = is_friend(db, op->uid, other)) != 1) {
		if (r < 0)
			op_dberror(op, db);
		else
			op_error(op, 403, "forbidden",
			    "user %lld is not a friend", (long long)other);
		return;
	}
	if ((cid = direct_get(db, op->uid, other)) < 0 ||
	    (c = conv_load(db, op->uid, cid)) == NULL) {
		op_dberror(op, db);
		return;
	}
	op_reply(op, 200, json_pack("{s:o}", "conversation", c));
}

static const char SQL_HIST_BEFORE[] =
    "SELECT id, conversation_id, seq, sender_id, client_msg_id, body, "
    "created_at FROM messages WHERE conversation_id = ? AND seq < ? "
    "ORDER BY seq DESC LIMIT ?";
static const char SQL_HIST_AFTER[] =
    "SELECT id, conversation_id, seq, sender_id, client_msg_id, body, "
    "created_at FROM messages WHERE conversation_id = ? AND seq > ? "
    "ORDER BY seq LIMIT ?";

/* 1 when uid is a member of conversation cid, 0 not, -1 error. */
static int
is_member(struct db *db, int64_t cid, int64_t uid, int64_t *read_seq)
{
	int r;

	if (db_query(db, SQL_IS_MEMBER, "ii", cid, uid) != 0)
		return -1;
	r = db_next(db);
	if (r == 1 && read_seq != NULL)
		*read_seq = db_int(db, 0);
	db_done(db);
	return r;
}

void
op_history(struct db *db, struct op *op)
{
	char v[32];
	int64_t limit = 50, before = -1, after = -1;
	json_t *list;
	int r, more = 0;

	if (proto_query_arg(op->query, "limit", v, sizeof v) == 0 &&
	    ((limit = proto_parse_id(v, strlen(v))) < 1 || limit > 200)) {
		op_error(op, 400, "bad_request", "'limit' must be 1 to 200");
		return;
	}
	if (proto_query_arg(op->query, "before", v, sizeof v) == 0 &&
	    (before = proto_parse_id(v, strlen(v))) < 1) {
		op_error(op, 400, "bad_request", "'before' must be a seq");
		return;
	}
	if (proto_query_arg(op->query, "after", v, sizeof v) == 0 &&
	    (after = (strcmp(v, "0") == 0 ? 0 : proto_parse_id(v, strlen(v)))) <
		0) {
		op_error(op, 400, "bad_request", "'after' must be a seq");
		return;
	}
	if ((r = is_member(db, op->ids[0], op->uid, NULL)) != 1) {
		if (r < 0)
			op_dberror(op, db);
		else
			op_error(op, 404, "not_found", "no conversation %lld",
			    (long long)op->ids[0]);
		return;
	}
	if (after >= 0)
		r = db_query(
		    db, SQL_HIST_AFTER, "iii", op->ids[0], after, limit + 1);
	else
		r = db_query(db, SQL_HIST_BEFORE, "iii", op->ids[0],
		    before > 0 ? before : ((int64_t)1 << 62), limit + 1);
	if (r != 0) {
		op_dberror(op, db);
		return;
	}
	list = json_array();
	while (db_next(db) == 1) {
		if ((int64_t)json_array_size(list) == limit) {
			more = 1;
			break;
		}
		if (after >= 0)
			json_array_append_new(list, message_row(db));
		else
			json_array_insert_new(list, 0, message_row(db));
	}
	db_done(db);
	op_reply(op, 200,
	    json_pack("{s:o,s:b}", "messages", list, "has_more", more));
}

static const char SQL_MSG_BY_CLIENT[] =
    "SELECT id, conversation_id, seq, sender_id, client_msg_id, body, "
    "created_at FROM messages WHERE sender_id = ? AND client_msg_id = ?";
/* Members, the kind, and for each member whether they are the sender's
 * friend (what a direct conversation needs), in one round trip. */
static const char SQL_SEND_MEMBERS[] =
    "SELECT m.user_id, c.kind, c.direct_key, f.friend_id IS NOT NULL "
    "FROM conv_members m JOIN conversations c ON c.id = m.conversation_id "
    "LEFT JOIN friendships f ON c.kind = 1 AND f.user_id = ? "
    "AND f.friend_id = m.user_id "
    "WHERE m.conversation_id = ?";
/* LAST_INSERT_ID(expr) hands the new sequence back without a SELECT. */
static const char SQL_SEQ_NEXT[] =
    "UPDATE conversations SET last_seq = LAST_INSERT_ID(last_seq + 1), "
    "last_at = ? WHERE id = ?";
static const char SQL_MSG_ADD[] =
    "INSERT INTO messages (conversation_id, seq, sender_id, client_msg_id, "
    "body, created_at) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_READ_SELF[] =
    "UPDATE conv_members SET read_seq = GREATEST(read_seq, ?) "
    "WHERE conversation_id = ? AND user_id = ?";

/* Looks for an earlier send with the same client id; 1 found. */
static int
send_find_dup(struct db *db, struct op *op, int64_t cid)
{
	json_t *m = NULL;

	if (db_query(db, SQL_MSG_BY_CLIENT, "is", op->uid,
		op->frame.client_msg_id) != 0)
		return -1;
	if (db_next(db) == 1)
		m = message_row(db);
	db_done(db);
	if (m == NULL)
		return 0;
	if (json_integer_value(json_object_get(m, "conversation_id")) != cid) {
		json_decref(m);
		op_error(op, 409, "duplicate",
		    "'client_msg_id' was used in another conversation");
		return 1;
	}
	op_reply(op, 200, json_pack("{s:o,s:b}", "message", m, "duplicate", 1));
	return 1;
}

/* Reads a REST send's body into op->frame; -1 with the error set. */
static int
send_parse(struct op *op)
{
	const char *s;
	char *cause = NULL;
	int big;

	if (need_body(op) != 0)
		return -1;
	if ((s = in_str(op, "client_msg_id")) == NULL ||
	    proto_check_client_id(s, &cause) != 0) {
		op_error(op, 400, "bad_request", "%s",
		    cause != NULL ? cause : "'client_msg_id' must be a string");
		free(cause);
		return -1;
	}
	snprintf(
	    op->frame.client_msg_id, sizeof op->frame.client_msg_id, "%s", s);
	if ((s = in_str(op, "body")) == NULL ||
	    proto_check_body(s, &cause) != 0) {
		big = s != NULL && strlen(s) > PROTO_BODY_MAX;
		op_error(op, big ? 413 : 400, big ? "too_large" : "bad_request",
		    "%s", cause != NULL ? cause : "'body' must be a string");
		free(cause);
		return -1;
	}
	op->frame.body = xstrdup(s);
	return 0;
}

/*
 * Checks the sender may post (a member; in a direct conversation still
 * the peer's friend) and lists the members. 0 may send, 1 refused (the
 * error is set), -1 database error.
 */
static int
send_check(struct db *db, struct send *s)
{
	struct op *op = s->op;
	int64_t kind = 0, peer = 0;
	int member = 0, friend = 0;

	s->l.v = NULL;
	s->l.n = 0;
	if (db_query(db, SQL_SEND_MEMBERS, "ii", op->uid, s->cid) != 0)
		return -1;
	while (db_next(db) == 1) {
		s->l.v = xreallocarray(s->l.v, s->l.n + 1, sizeof *s->l.v);
		s->l.v[s->l.n++] = db_int(db, 0);
		if (db_int(db, 0) == op->uid)
			member = 1;
		kind = db_int(db, 1);
		if (kind == KIND_DIRECT) {
			peer = direct_peer(db_str(db, 2), op->uid);
			if (db_int(db, 0) == peer)
				friend = db_int(db, 3) != 0;
		}
	}
	db_done(db);
	if (!member) {
		op_error(op, 404, "not_found", "no conversation %lld",
		    (long long)s->cid);
		return 1;
	}
	if (kind == KIND_DIRECT && !friend) {
		op_error(op, 403, "forbidden",
		    "user %lld is no longer a friend", (long long)peer);
		return 1;
	}
	return 0;
}

/*
 * Allocates the next sequence, inserts the row and moves the sender's
 * read marker: three statements in the caller's transaction. -1 on any
 * error (db_errno says DB_ER_DUP_ENTRY for a client id seen before).
 */
static int
send_write(struct db *db, struct send *s)
{
	struct op *op = s->op;

	if (db_query(db, SQL_SEQ_NEXT, "ii", s->now, s->cid) != 0 ||
	    db_affected(db) != 1)
		return -1;
	s->seq = (int64_t)db_insert_id(db);
	db_done(db);
	if (db_query(db, SQL_MSG_ADD, "iiissi", s->cid, s->seq, op->uid,
		op->frame.client_msg_id, op->frame.body, s->now) != 0)
		return -1;
	s->mid = (int64_t)db_insert_id(db);
	if (db_query(db, SQL_READ_SELF, "iii", s->seq, s->cid, op->uid) != 0)
		return -1;
	db_done(db);
	return 0;
}

/* After the commit: the reply and the frame for the members. */
void
send_finish(struct send *s)
{
	struct op *op = s->op;
	json_t *m;

	m = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:I}", "id", (json_int_t)s->mid,
	    "conversation_id", (json_int_t)s->cid, "seq", (json_int_t)s->seq,
	    "sender_id", (json_int_t)op->uid, "client_msg_id",
	    op->frame.client_msg_id, "body", op->frame.body, "created_at",
	    (json_int_t)s->now);
	op_deliver(op, json_pack("{s:s,s:O}", "type", "message", "message", m),
	    s->l.v, s->l.n, 1);
	op_reply(op, 201, json_pack("{s:o,s:b}", "message", m, "duplicate", 0));
}

void
op_send(struct db *db, struct op *op)
{
	struct send s;
	int r;

	memset(&s, 0, sizeof s);
	s.op = op;
	s.cid = op->from_ws ? op->frame.conversation_id : op->ids[0];
	s.now = (int64_t)now_ms();
	if (!op->from_ws && send_parse(op) != 0)
		return;

	/*
	 * The common case first: insert, and look for an earlier send with
	 * the same client id only when the unique key says there is one.
	 */
	if (db_begin(db) != 0) {
		op_dberror(op, db);
		return;
	}
	if ((r = send_check(db, &s)) != 0) {
		if (r < 0)
			op_dberror(op, db);
		db_rollback(db);
		free(s.l.v);
		return;
	}
	if (send_write(db, &s) != 0) {
		r = db_errno(db) == DB_ER_DUP_ENTRY;
		db_rollback(db);
		free(s.l.v);
		if (!r || send_find_dup(db, op, s.cid) != 1)
			op_dberror(op, db);
		return;
	}
	if (db_commit(db) != 0) {
		op_dberror(op, db);
		db_rollback(db);
		free(s.l.v);
		return;
	}
	send_finish(&s);
	free(s.l.v);
}

static const char SQL_READ_SET[] =
    "UPDATE conv_members SET read_seq = GREATEST(read_seq, LEAST(?, "
    "(SELECT last_seq FROM conversations WHERE id = ?))) "
    "WHERE conversation_id = ? AND user_id = ?";

void
op_read(struct db *db, struct op *op)
{
	int64_t cid = op->from_ws ? op->frame.conversation_id : op->ids[0];
	int64_t seq = op->frame.seq, read_seq = 0;
	struct idlist l;
	json_t *v;
	int r;

	if (!op->from_ws) {
		if (need_body(op) != 0)
			return;
		v = json_object_get(op->in, "seq");
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			op_error(op, 400, "bad_request", "'seq' must be a seq");
			return;
		}
		seq = json_integer_value(v);
	}
	if ((r = is_member(db, cid, op->uid, NULL)) != 1) {
		if (r < 0)
			op_dberror(op, db);
		else
			op_error(op, 404, "not_found", "no conversation %lld",
			    (long long)cid);
		return;
	}
	if (db_query(db, SQL_READ_SET, "iiii", seq, cid, cid, op->uid) != 0 ||
	    is_member(db, cid, op->uid, &read_seq) != 1) {
		op_dberror(op, db);
		return;
	}
	if (member_ids(db, cid, &l) == 0) {
		op_deliver(op,
		    json_pack("{s:s,s:I,s:I,s:I}", "type", "read",
			"conversation_id", (json_int_t)cid, "user_id",
			(json_int_t)op->uid, "seq", (json_int_t)read_seq),
		    l.v, l.n, 1);
		free(l.v);
	}
	op_reply(op, 200,
	    json_pack("{s:I,s:I}", "conversation_id", (json_int_t)cid,
		"read_seq", (json_int_t)read_seq));
}

static const char SQL_SYNC_CONVS[] =
    "SELECT m.conversation_id, m.read_seq, c.last_seq FROM conv_members m "
    "JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = ?";

void
op_sync(struct db *db, struct op *op)
{
	struct row {
		int64_t id, read_seq, last_seq;
	} *rows = NULL;
	size_t n = 0, i, j;
	json_t *summary = json_array(), *frames = json_array();
	int64_t from;
	int more;

	if (db_query(db, SQL_SYNC_CONVS, "i", op->uid) != 0)
		goto dberr;
	while (db_next(db) == 1) {
		rows = xreallocarray(rows, n + 1, sizeof *rows);
		rows[n].id = db_int(db, 0);
		rows[n].read_seq = db_int(db, 1);
		rows[n].last_seq = db_int(db, 2);
		n++;
	}
	db_done(db);
	for (i = 0; i < n; i++) {
		from = rows[i].read_seq;
		for (j = 0; j < op->frame.nsync; j++) {
			if (op->frame.sync[j].conversation_id == rows[i].id)
				from = op->frame.sync[j].seq;
		}
		more = 0;
		if (rows[i].last_seq > from) {
			if (db_query(db, SQL_HIST_AFTER, "iii", rows[i].id,
				from, (int64_t)op->frame.limit + 1) != 0)
				goto dberr;
			for (j = 0; db_next(db) == 1; j++) {
				if (j == (size_t)op->frame.limit) {
					more = 1;
					break;
				}
				json_array_append_new(frames,
				    json_pack("{s:s,s:o}", "type", "message",
					"message", message_row(db)));
			}
			db_done(db);
		}
		json_array_append_new(summary,
		    json_pack("{s:I,s:I,s:b}", "conversation_id",
			(json_int_t)rows[i].id, "last_seq",
			(json_int_t)rows[i].last_seq, "more", more));
	}
	free(rows);
	op->frames = frames;
	op_reply(op, 200, json_pack("{s:o}", "conversations", summary));
	return;
dberr:
	free(rows);
	json_decref(summary);
	json_decref(frames);
	op_dberror(op, db);
}
