/* Groups and their members. */

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

/* Groups. */

static const char SQL_CONV_GROUP_ADD[] =
    "INSERT INTO conversations (kind, direct_key, last_at, created_at) "
    "VALUES (2, NULL, ?, ?)";
static const char SQL_GROUP_ADD[] =
    "INSERT INTO chat_groups (name, owner_id, conversation_id, created_at) "
    "VALUES (?, ?, ?, ?)";
static const char SQL_GROUP_MEMBERS[] =
    "SELECT u.id, u.username, u.display_name FROM conv_members m "
    "JOIN users u ON u.id = m.user_id WHERE m.conversation_id = ? "
    "ORDER BY u.username";
static const char SQL_GROUP_OF[] =
    "SELECT g.id, g.name, g.owner_id, g.conversation_id FROM chat_groups g "
    "JOIN conv_members m ON m.conversation_id = g.conversation_id "
    "AND m.user_id = ? WHERE g.id = ?";
static const char SQL_CONV_MEMBER_IDS[] =
    "SELECT user_id FROM conv_members WHERE conversation_id = ?";

int
member_ids(struct db *db, int64_t conv, struct idlist *l)
{
	l->v = NULL;
	l->n = 0;
	return query_ids(db, SQL_CONV_MEMBER_IDS, "i", conv, 0, l);
}

/* The group with its members, or NULL when the caller is not a member. */
static json_t *
group_load(struct db *db, int64_t uid, int64_t gid, int with_members)
{
	json_t *g = NULL, *members;
	int64_t conv;

	if (db_query(db, SQL_GROUP_OF, "ii", uid, gid) != 0)
		return NULL;
	if (db_next(db) == 1) {
		conv = db_int(db, 3);
		g = json_pack("{s:I,s:s,s:I,s:I}", "id",
		    (json_int_t)db_int(db, 0), "name", db_str(db, 1),
		    "owner_id", (json_int_t)db_int(db, 2), "conversation_id",
		    (json_int_t)conv);
	}
	db_done(db);
	if (g == NULL || !with_members)
		return g;
	members = json_array();
	if (db_query(db, SQL_GROUP_MEMBERS, "i", conv) == 0) {
		while (db_next(db) == 1)
			json_array_append_new(members,
			    user_json(
				db_int(db, 0), db_str(db, 1), db_str(db, 2)));
	}
	db_done(db);
	json_object_set_new(g, "members", members);
	return g;
}

void
op_group_create(struct db *db, struct op *op)
{
	const char *name;
	json_t *ids, *v, *g;
	int64_t conv, gid, id, now = (int64_t)now_ms();
	int64_t *members = NULL;
	size_t n = 0, i, j;
	char *cause = NULL;
	int r;

	if (need_body(op) != 0)
		return;
	if ((name = in_str(op, "name")) == NULL) {
		op_error(op, 400, "bad_request", "'name' must be a string");
		return;
	}
	if (proto_check_name("name", name, &cause) != 0) {
		op_error(op, 400, "bad_request", "%s", cause);
		free(cause);
		return;
	}
	ids = json_object_get(op->in, "member_ids");
	if (ids != NULL && !json_is_array(ids)) {
		op_error(op, 400, "bad_request", "'member_ids' must be a list");
		return;
	}
	if (json_array_size(ids) >= PROTO_GROUP_MAX) {
		op_error(op, 400, "bad_request",
		    "a group holds at most %d "
		    "members",
		    PROTO_GROUP_MAX);
		return;
	}
	members = xcalloc(json_array_size(ids) + 1, sizeof *members);
	members[n++] = op->uid;
	json_array_foreach(ids, i, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			op_error(op, 400, "bad_request",
			    "'member_ids' must hold ids");
			goto out;
		}
		id = json_integer_value(v);
		for (j = 0; j < n && members[j] != id; j++)
			;
		if (j < n)
			continue;
		if ((r = is_friend(db, op->uid, id)) < 0)
			goto dberr;
		if (r != 1) {
			op_error(op, 403, "forbidden",
			    "user %lld is not a friend", (long long)id);
			goto out;
		}
		members[n++] = id;
	}
	if (db_begin(db) != 0)
		goto dberr;
	if (db_query(db, SQL_CONV_GROUP_ADD, "ii", now, now) != 0)
		goto rollback;
	conv = (int64_t)db_insert_id(db);
	if (db_query(db, SQL_GROUP_ADD, "siii", name, op->uid, conv, now) != 0)
		goto rollback;
	gid = (int64_t)db_insert_id(db);
	for (i = 0; i < n; i++) {
		if (db_query(
			db, SQL_MEMBER_ADD, "iii", conv, members[i], now) != 0)
			goto rollback;
	}
	db_done(db);
	if (db_commit(db) != 0)
		goto rollback;
	if ((g = group_load(db, op->uid, gid, 1)) == NULL)
		goto dberr;
	op_deliver(op,
	    json_pack("{s:s,s:s,s:O}", "type", "event", "kind", "group_created",
		"group", g),
	    members, n, 0);
	op_reply(op, 201, json_pack("{s:o}", "group", g));
	goto out;
rollback:
	op_dberror(op, db);
	db_rollback(db);
	goto out;
dberr:
	op_dberror(op, db);
out:
	free(members);
}

static const char SQL_GROUPS[] =
    "SELECT g.id, g.name, g.owner_id, g.conversation_id, "
    "(SELECT COUNT(*) FROM conv_members m2 WHERE "
    "m2.conversation_id = g.conversation_id) FROM chat_groups g "
    "JOIN conv_members m ON m.conversation_id = g.conversation_id "
    "AND m.user_id = ? ORDER BY g.id";

void
op_groups(struct db *db, struct op *op)
{
	json_t *list = json_array();

	if (db_query(db, SQL_GROUPS, "i", op->uid) != 0) {
		json_decref(list);
		op_dberror(op, db);
		return;
	}
	while (db_next(db) == 1)
		json_array_append_new(list,
		    json_pack("{s:I,s:s,s:I,s:I,s:I}", "id",
			(json_int_t)db_int(db, 0), "name", db_str(db, 1),
			"owner_id", (json_int_t)db_int(db, 2),
			"conversation_id", (json_int_t)db_int(db, 3),
			"member_count", (json_int_t)db_int(db, 4)));
	db_done(db);
	op_reply(op, 200, json_pack("{s:o}", "groups", list));
}

void
op_group_get(struct db *db, struct op *op)
{
	json_t *g = group_load(db, op->uid, op->ids[0], 1);

	if (g == NULL) {
		if (db_gone(db))
			op_dberror(op, db);
		else
			op_error(op, 404, "not_found", "no group %lld",
			    (long long)op->ids[0]);
		return;
	}
	op_reply(op, 200, json_pack("{s:o}", "group", g));
}

const char SQL_IS_MEMBER[] =
    "SELECT read_seq FROM conv_members WHERE conversation_id = ? AND "
    "user_id = ?";
static const char SQL_MEMBER_JOIN[] =
    "INSERT INTO conv_members (conversation_id, user_id, read_seq, "
    "joined_at) SELECT id, ?, last_seq, ? FROM conversations WHERE id = ?";
static const char SQL_MEMBER_DEL[] =
    "DELETE FROM conv_members WHERE conversation_id = ? AND user_id = ?";

static json_t *
group_brief(json_t *g)
{
	return json_pack("{s:O,s:O,s:O}", "id", json_object_get(g, "id"),
	    "name", json_object_get(g, "name"), "conversation_id",
	    json_object_get(g, "conversation_id"));
}

void
op_group_add(struct db *db, struct op *op)
{
	json_t *g, *u;
	int64_t target, conv;
	struct idlist l;
	int r;

	if (need_body(op) != 0)
		return;
	if ((target = in_id(op, "user_id")) < 0) {
		op_error(op, 400, "bad_request", "'user_id' must be an id");
		return;
	}
	if ((g = group_load(db, op->uid, op->ids[0], 0)) == NULL) {
		op_error(op, 404, "not_found", "no group %lld",
		    (long long)op->ids[0]);
		return;
	}
	conv = json_integer_value(json_object_get(g, "conversation_id"));
	if ((r = is_friend(db, op->uid, target)) != 1) {
		json_decref(g);
		if (r < 0)
			op_dberror(op, db);
		else
			op_error(op, 403, "forbidden",
			    "user %lld is not a friend", (long long)target);
		return;
	}
	if (member_ids(db, conv, &l) != 0) {
		json_decref(g);
		op_dberror(op, db);
		return;
	}
	free(l.v);
	if (l.n >= PROTO_GROUP_MAX) {
		json_decref(g);
		op_error(op, 409, "conflict", "the group is full");
		return;
	}
	if (db_query(db, SQL_MEMBER_JOIN, "iii", target, (int64_t)now_ms(),
		conv) != 0) {
		json_decref(g);
		if (db_errno(db) == DB_ER_DUP_ENTRY)
			op_error(op, 409, "conflict", "already a member");
		else
			op_dberror(op, db);
		return;
	}
	db_done(db);
	u = user_load(db, target);
	if (member_ids(db, conv, &l) == 0) {
		op_deliver(op,
		    json_pack("{s:s,s:s,s:o,s:o}", "type", "event", "kind",
			"group_member_added", "group", group_brief(g), "user",
			u != NULL ? u : json_null()),
		    l.v, l.n, 0);
		free(l.v);
	} else
		json_decref(u);
	json_decref(g);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
}

void
op_group_remove(struct db *db, struct op *op)
{
	json_t *g;
	int64_t target = op->ids[1], conv, owner;
	struct idlist l;

	if ((g = group_load(db, op->uid, op->ids[0], 0)) == NULL) {
		op_error(op, 404, "not_found", "no group %lld",
		    (long long)op->ids[0]);
		return;
	}
	conv = json_integer_value(json_object_get(g, "conversation_id"));
	owner = json_integer_value(json_object_get(g, "owner_id"));
	if (target == owner) {
		json_decref(g);
		op_error(op, 409, "conflict", "the owner cannot leave");
		return;
	}
	if (target != op->uid && op->uid != owner) {
		json_decref(g);
		op_error(op, 403, "forbidden", "only the owner removes others");
		return;
	}
	if (member_ids(db, conv, &l) != 0) {
		json_decref(g);
		op_dberror(op, db);
		return;
	}
	if (db_query(db, SQL_MEMBER_DEL, "ii", conv, target) != 0) {
		free(l.v);
		json_decref(g);
		op_dberror(op, db);
		return;
	}
	if (db_affected(db) == 0) {
		db_done(db);
		free(l.v);
		json_decref(g);
		op_error(op, 404, "not_found", "user %lld is not a member",
		    (long long)target);
		return;
	}
	db_done(db);
	op_deliver(op,
	    json_pack("{s:s,s:s,s:o,s:I}", "type", "event", "kind",
		"group_member_removed", "group", group_brief(g), "user_id",
		(json_int_t)target),
	    l.v, l.n, 0);
	free(l.v);
	json_decref(g);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
}
