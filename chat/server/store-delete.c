/*
 * Account deletion (DELETE /api/v1/account): the password again, then
 * one transaction removes the user, their sessions, requests and
 * friendships, their direct conversations whole, and their place in
 * groups. Group messages they sent stay, so every group's seq stays
 * gapless; a group they owned passes to its longest-standing member, or
 * goes when nobody is left. Their live sockets are closed by the loop
 * after the reply (route_account_gone).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chatd.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

/* A group the user belongs to, with who stays in it. */
struct del_group {
	int64_t id, conv, owner;
	char *name;
	struct idlist rest;
};

struct del {
	struct idlist friends;
	struct idlist directs;
	struct del_group *groups;
	size_t ngroups;
};

static const char SQL_PW_HASH[] = "SELECT pw_hash FROM users WHERE id = ?";
static const char SQL_DEL_DIRECTS[] =
    "SELECT c.id FROM conversations c JOIN conv_members m "
    "ON m.conversation_id = c.id WHERE m.user_id = ? AND c.kind = 1";
static const char SQL_DEL_GROUPS[] =
    "SELECT g.id, g.name, g.owner_id, g.conversation_id FROM chat_groups g "
    "JOIN conv_members m ON m.conversation_id = g.conversation_id "
    "WHERE m.user_id = ?";
static const char SQL_DEL_REST[] =
    "SELECT user_id FROM conv_members WHERE conversation_id = ? "
    "AND user_id <> ? ORDER BY joined_at, user_id";

static const char SQL_DEL_CONV_MSGS[] =
    "DELETE FROM messages WHERE conversation_id = ?";
static const char SQL_DEL_CONV_MEMBERS[] =
    "DELETE FROM conv_members WHERE conversation_id = ?";
static const char SQL_DEL_CONV[] = "DELETE FROM conversations WHERE id = ?";
static const char SQL_DEL_GROUP[] = "DELETE FROM chat_groups WHERE id = ?";
static const char SQL_DEL_OWNER[] =
    "UPDATE chat_groups SET owner_id = ? WHERE id = ?";
static const char SQL_DEL_MEMBER[] =
    "DELETE FROM conv_members WHERE user_id = ?";
static const char SQL_DEL_REQUESTS[] =
    "DELETE FROM friend_requests WHERE from_id = ? OR to_id = ?";
static const char SQL_DEL_FRIENDSHIPS[] =
    "DELETE FROM friendships WHERE user_id = ? OR friend_id = ?";
static const char SQL_DEL_SESSIONS[] = "DELETE FROM sessions WHERE user_id = ?";
static const char SQL_DEL_USER[] = "DELETE FROM users WHERE id = ?";

static void
del_free(struct del *d)
{
	size_t i;

	free(d->friends.v);
	free(d->directs.v);
	for (i = 0; i < d->ngroups; i++) {
		free(d->groups[i].name);
		free(d->groups[i].rest.v);
	}
	free(d->groups);
}

/* Reads what the deletion touches, inside its transaction. */
static int
del_collect(struct db *db, int64_t uid, struct del *d)
{
	struct del_group *g;
	size_t i;

	if (query_ids(db, SQL_FRIEND_IDS, "i", uid, 0, &d->friends) != 0 ||
	    query_ids(db, SQL_DEL_DIRECTS, "i", uid, 0, &d->directs) != 0)
		return -1;
	if (db_query(db, SQL_DEL_GROUPS, "i", uid) != 0)
		return -1;
	while (db_next(db) == 1) {
		d->groups =
		    xreallocarray(d->groups, d->ngroups + 1, sizeof *d->groups);
		g = &d->groups[d->ngroups++];
		memset(g, 0, sizeof *g);
		g->id = db_int(db, 0);
		g->name = xstrdup(db_str(db, 1));
		g->owner = db_int(db, 2);
		g->conv = db_int(db, 3);
	}
	db_done(db);
	for (i = 0; i < d->ngroups; i++) {
		g = &d->groups[i];
		if (query_ids(db, SQL_DEL_REST, "ii", g->conv, uid, &g->rest) !=
		    0)
			return -1;
	}
	return 0;
}

static int
del_exec(
    struct db *db, const char *sql, const char *types, int64_t a, int64_t b)
{
	if (db_query(db, sql, types, a, b) != 0)
		return -1;
	db_done(db);
	return 0;
}

/* Removes a conversation with its messages and members. */
static int
del_conversation(struct db *db, int64_t conv)
{
	if (del_exec(db, SQL_DEL_CONV_MSGS, "i", conv, 0) != 0 ||
	    del_exec(db, SQL_DEL_CONV_MEMBERS, "i", conv, 0) != 0 ||
	    del_exec(db, SQL_DEL_CONV, "i", conv, 0) != 0)
		return -1;
	return 0;
}

static int
del_write(struct db *db, int64_t uid, struct del *d)
{
	struct del_group *g;
	size_t i;

	for (i = 0; i < d->directs.n; i++) {
		if (del_conversation(db, d->directs.v[i]) != 0)
			return -1;
	}
	for (i = 0; i < d->ngroups; i++) {
		g = &d->groups[i];
		if (g->rest.n == 0) {
			if (del_conversation(db, g->conv) != 0 ||
			    del_exec(db, SQL_DEL_GROUP, "i", g->id, 0) != 0)
				return -1;
		} else if (g->owner == uid &&
		    del_exec(db, SQL_DEL_OWNER, "ii", g->rest.v[0], g->id) != 0)
			return -1;
	}
	if (del_exec(db, SQL_DEL_MEMBER, "i", uid, 0) != 0 ||
	    del_exec(db, SQL_DEL_REQUESTS, "ii", uid, uid) != 0 ||
	    del_exec(db, SQL_DEL_FRIENDSHIPS, "ii", uid, uid) != 0 ||
	    del_exec(db, SQL_DEL_SESSIONS, "i", uid, 0) != 0 ||
	    del_exec(db, SQL_DEL_USER, "i", uid, 0) != 0)
		return -1;
	return 0;
}

/* The events friends and remaining group members get. */
static void
del_events(struct op *op, struct del *d)
{
	struct del_group *g;
	size_t i;

	op_deliver(op,
	    json_pack("{s:s,s:s,s:I}", "type", "event", "kind",
		"friend_removed", "user_id", (json_int_t)op->uid),
	    d->friends.v, d->friends.n, 0);
	for (i = 0; i < d->ngroups; i++) {
		g = &d->groups[i];
		op_deliver(op,
		    json_pack("{s:s,s:s,s:{s:I,s:s,s:I},s:I}", "type", "event",
			"kind", "group_member_removed", "group", "id",
			(json_int_t)g->id, "name", g->name, "conversation_id",
			(json_int_t)g->conv, "user_id", (json_int_t)op->uid),
		    g->rest.v, g->rest.n, 0);
	}
}

/* 0 when password is the user's, else -1 with the error set. */
static int
del_check_password(struct db *db, struct op *op, const char *password)
{
	char hash[crypto_pwhash_STRBYTES];
	int found = 0;

	if (db_query(db, SQL_PW_HASH, "i", op->uid) != 0) {
		op_dberror(op, db);
		return -1;
	}
	if (db_next(db) == 1) {
		snprintf(hash, sizeof hash, "%s", db_str(db, 0));
		found = 1;
	}
	db_done(db);
	if (!found ||
	    crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
		op_error(op, 401, "unauthorized", "wrong password");
		return -1;
	}
	return 0;
}

void
op_account_delete(struct db *db, struct op *op)
{
	struct del d;
	const char *password;

	memset(&d, 0, sizeof d);
	if (need_body(op) != 0)
		return;
	if ((password = in_str(op, "password")) == NULL) {
		op_error(op, 400, "bad_request", "'password' must be a string");
		return;
	}
	if (rate_check(op, "account_delete", cfg.login_rate) != 0 ||
	    del_check_password(db, op, password) != 0)
		return;

	if (db_begin(db) != 0)
		goto dberr;
	if (del_collect(db, op->uid, &d) != 0 ||
	    del_write(db, op->uid, &d) != 0 || db_commit(db) != 0) {
		db_rollback(db);
		goto dberr;
	}
	log_info("deleted account %lld (%zu friends, %zu direct "
		 "conversations, %zu groups)",
	    (long long)op->uid, d.friends.n, d.directs.n, d.ngroups);
	del_events(op, &d);
	del_free(&d);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
	return;
dberr:
	del_free(&d);
	op_dberror(op, db);
}
