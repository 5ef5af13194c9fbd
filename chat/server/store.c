/*
 * The operations behind every REST route and WebSocket frame. They run
 * on a worker thread with that thread's MariaDB connection, fill op->out
 * (the REST-shaped reply) or an error, and list deliveries for the loop
 * to route. MariaDB is the truth: sequences are allocated in the insert's
 * transaction.
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
#include "xmalloc.h"

#define KIND_DIRECT 1
#define KIND_GROUP 2

static char *dummy_hash;

typedef void (*op_fn)(struct db *, struct op *);

static void op_error(struct op *op, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
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

static void
op_dberror(struct op *op, struct db *db)
{
	if (db_gone(db))
		op_error(op, 503, "unavailable", "the database is unreachable");
	else
		op_error(op, 500, "internal", "internal error");
}

static void
op_reply(struct op *op, int status, json_t *out)
{
	op->status = status;
	json_decref(op->out);
	op->out = out;
}

/* Queues frame (stolen) for the given users. */
static void
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

static void
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

void
store_init(void)
{
	char hash[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str(hash, "not a password", 14,
		(unsigned long long)cfg.argon2_ops,
		(size_t)cfg.argon2_mem_kib * 1024) == 0)
		dummy_hash = xstrdup(hash);
}

/* Helpers returning JSON for rows. */

static json_t *
user_json(int64_t id, const char *username, const char *display)
{
	return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "username",
	    username, "display_name", display);
}

static const char SQL_USER_BY_ID[] =
    "SELECT id, username, display_name FROM users WHERE id = ?";

static json_t *
user_load(struct db *db, int64_t id)
{
	json_t *u = NULL;

	if (db_query(db, SQL_USER_BY_ID, "i", id) == 0 && db_next(db) == 1)
		u = user_json(db_int(db, 0), db_str(db, 1), db_str(db, 2));
	db_done(db);
	return u;
}

static json_t *
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
static int64_t
in_id(struct op *op, const char *key)
{
	json_t *v = json_object_get(op->in, key);

	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) >= ((json_int_t)1 << 53))
		return -1;
	return json_integer_value(v);
}

static const char *
in_str(struct op *op, const char *key)
{
	json_t *v = json_object_get(op->in, key);

	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static int
need_body(struct op *op)
{
	if (!json_is_object(op->in)) {
		op_error(op, 400, "bad_json", "the body is not a JSON object");
		return -1;
	}
	return 0;
}

/* Fixed-window counter in Redis; fails open when Redis is down. */
static int
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

static const char SQL_SESSION_ADD[] = "INSERT INTO sessions (token_hash, "
				      "user_id, created_at, expires_at) "
				      "VALUES (?, ?, ?, ?)";

static int
session_create(struct db *db, struct op *op, int64_t uid, char token[65])
{
	unsigned char raw[32];
	char hash[65];
	uint64_t now = now_ms();

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(token, 65, raw, sizeof raw);
	sodium_memzero(raw, sizeof raw);
	token_hash(token, hash);
	if (db_query(db, SQL_SESSION_ADD, "siii", hash, uid, (int64_t)now,
		(int64_t)(now + (uint64_t)cfg.session_ttl_days * 86400000)) !=
	    0) {
		op_dberror(op, db);
		return -1;
	}
	db_done(db);
	return 0;
}

static const char SQL_USER_ADD[] = "INSERT INTO users (username, "
				   "display_name, pw_hash, created_at) "
				   "VALUES (?, ?, ?, ?)";

static void
op_register(struct db *db, struct op *op)
{
	const char *username, *password, *display;
	char name[33], hash[crypto_pwhash_STRBYTES], token[65];
	char *cause = NULL;
	int64_t uid;

	if (need_body(op) != 0)
		return;
	if ((username = in_str(op, "username")) == NULL ||
	    (password = in_str(op, "password")) == NULL) {
		op_error(op, 400, "bad_request",
		    "'username' and 'password' must be strings");
		return;
	}
	if (proto_check_username(username, name, sizeof name, &cause) != 0 ||
	    proto_check_password(password, &cause) != 0)
		goto bad;
	display = json_object_get(op->in, "display_name") != NULL
	    ? in_str(op, "display_name")
	    : name;
	if (display == NULL) {
		op_error(
		    op, 400, "bad_request", "'display_name' must be a string");
		return;
	}
	if (proto_check_name("display_name", display, &cause) != 0)
		goto bad;
	if (rate_check(op, "register", cfg.register_rate) != 0)
		return;
	if (crypto_pwhash_str(hash, password, strlen(password),
		(unsigned long long)cfg.argon2_ops,
		(size_t)cfg.argon2_mem_kib * 1024) != 0) {
		op_error(op, 500, "internal", "cannot hash the password");
		return;
	}
	if (db_query(db, SQL_USER_ADD, "sssi", name, display, hash,
		(int64_t)now_ms()) != 0) {
		if (db_errno(db) == DB_ER_DUP_ENTRY)
			op_error(op, 409, "username_taken",
			    "username '%s' is already taken", name);
		else
			op_dberror(op, db);
		return;
	}
	uid = (int64_t)db_insert_id(db);
	db_done(db);
	if (session_create(db, op, uid, token) != 0)
		return;
	op_reply(op, 201,
	    json_pack("{s:o,s:s}", "user", user_json(uid, name, display),
		"token", token));
	sodium_memzero(token, sizeof token);
	return;
bad:
	op_error(op, 400, "bad_request", "%s", cause);
	free(cause);
}

static const char SQL_USER_BY_NAME[] = "SELECT id, username, display_name, "
				       "pw_hash FROM users WHERE username = ?";

static void
op_login(struct db *db, struct op *op)
{
	const char *username, *password;
	char name[33], token[65], *cause = NULL;
	char hash[crypto_pwhash_STRBYTES];
	json_t *user = NULL;
	int64_t uid = 0;
	int found = 0;

	if (need_body(op) != 0)
		return;
	if ((username = in_str(op, "username")) == NULL ||
	    (password = in_str(op, "password")) == NULL) {
		op_error(op, 400, "bad_request",
		    "'username' and 'password' must be strings");
		return;
	}
	if (rate_check(op, "login", cfg.login_rate) != 0)
		return;
	if (proto_check_username(username, name, sizeof name, &cause) == 0) {
		if (db_query(db, SQL_USER_BY_NAME, "s", name) != 0) {
			op_dberror(op, db);
			return;
		}
		if (db_next(db) == 1) {
			found = 1;
			uid = db_int(db, 0);
			user = user_json(uid, db_str(db, 1), db_str(db, 2));
			snprintf(hash, sizeof hash, "%s", db_str(db, 3));
		}
		db_done(db);
	}
	free(cause);
	if (!found) {
		/* Same work whether or not the user exists. */
		if (dummy_hash != NULL &&
		    crypto_pwhash_str_verify(
			dummy_hash, password, strlen(password)) == 0)
			log_debug("login: the dummy hash matched");
		op_error(op, 401, "unauthorized", "wrong username or password");
		return;
	}
	if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
		json_decref(user);
		op_error(op, 401, "unauthorized", "wrong username or password");
		return;
	}
	if (session_create(db, op, uid, token) != 0) {
		json_decref(user);
		return;
	}
	op_reply(op, 200, json_pack("{s:o,s:s}", "user", user, "token", token));
	sodium_memzero(token, sizeof token);
}

static const char SQL_SESSION_DEL[] =
    "DELETE FROM sessions WHERE token_hash = ?";

static void
op_logout(struct db *db, struct op *op)
{
	if (db_query(db, SQL_SESSION_DEL, "s", op->token_hash) != 0) {
		op_dberror(op, db);
		return;
	}
	db_done(db);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
}

static void
op_me(struct db *db, struct op *op)
{
	json_t *u = user_load(db, op->uid);

	if (u == NULL) {
		op_error(op, 401, "unauthorized", "the account is gone");
		return;
	}
	op_reply(op, 200, json_pack("{s:o}", "user", u));
}

static const char SQL_USER_SEARCH[] =
    "SELECT id, username, display_name FROM users WHERE username LIKE ? "
    "AND id <> ? ORDER BY username LIMIT ?";

static void
op_user_search(struct db *db, struct op *op)
{
	char q[64], name[64], like[140], lim[16], *cause = NULL, *p;
	const char *s;
	json_t *users;
	int64_t limit = 20;

	if (proto_query_arg(op->query, "q", q, sizeof q) != 0 || q[0] == '\0' ||
	    strlen(q) > 32) {
		op_error(op, 400, "bad_request", "'q' must be 1 to 32 chars");
		return;
	}
	/* Short prefixes are fine here: the username rule bounds them. */
	if (strlen(q) < 3) {
		snprintf(name, sizeof name, "%s", q);
		for (p = name; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	} else if (proto_check_username(q, name, sizeof name, &cause) != 0) {
		op_error(op, 400, "bad_request", "'q': %s", cause);
		free(cause);
		return;
	}
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '_' || *p == '.' || *p == '-')) {
			op_error(op, 400, "bad_request",
			    "'q' may hold only username characters");
			return;
		}
	}
	if (proto_query_arg(op->query, "limit", lim, sizeof lim) == 0) {
		limit = proto_parse_id(lim, strlen(lim));
		if (limit < 1 || limit > 50) {
			op_error(
			    op, 400, "bad_request", "'limit' must be 1 to 50");
			return;
		}
	}
	p = like;
	for (s = name; *s != '\0'; s++) {
		if (*s == '_' || *s == '%' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '%';
	*p = '\0';
	if (db_query(db, SQL_USER_SEARCH, "sii", like, op->uid, limit) != 0) {
		op_dberror(op, db);
		return;
	}
	users = json_array();
	while (db_next(db) == 1)
		json_array_append_new(users,
		    user_json(db_int(db, 0), db_str(db, 1), db_str(db, 2)));
	db_done(db);
	op_reply(op, 200, json_pack("{s:o}", "users", users));
}

static void
op_user_get(struct db *db, struct op *op)
{
	json_t *u = user_load(db, op->ids[0]);

	if (u == NULL) {
		op_error(op, 404, "not_found", "no user %lld",
		    (long long)op->ids[0]);
		return;
	}
	op_reply(op, 200, json_pack("{s:o}", "user", u));
}

/* Friends. */

static const char SQL_IS_FRIEND[] =
    "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";

static int
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
static const char SQL_MEMBER_ADD[] =
    "INSERT IGNORE INTO conv_members (conversation_id, user_id, read_seq, "
    "joined_at) VALUES (?, ?, 0, ?)";

static void
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
static int64_t
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

static void
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

static void
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

static void
op_friend_accept(struct db *db, struct op *op)
{
	accept_request(db, op, op->ids[0]);
}

static const char SQL_REQ_FROM[] =
    "SELECT from_id FROM friend_requests WHERE id = ? AND to_id = ? "
    "AND state = 0";

static void
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

static void
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

static void
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

struct idlist {
	int64_t *v;
	size_t n;
};

static int
member_ids(struct db *db, int64_t conv, struct idlist *l)
{
	l->v = NULL;
	l->n = 0;
	if (db_query(db, SQL_CONV_MEMBER_IDS, "i", conv) != 0)
		return -1;
	while (db_next(db) == 1) {
		l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
		l->v[l->n++] = db_int(db, 0);
	}
	db_done(db);
	return 0;
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

static void
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

static void
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

static void
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

static const char SQL_IS_MEMBER[] =
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

static void
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

static void
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

static int64_t
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

static void
op_conversations(struct db *db, struct op *op)
{
	struct idlist l = {NULL, 0};
	json_t *list = json_array(), *c;
	size_t i;

	if (db_query(db, SQL_CONV_LIST, "i", op->uid) != 0)
		goto dberr;
	while (db_next(db) == 1) {
		l.v = xreallocarray(l.v, l.n + 1, sizeof *l.v);
		l.v[l.n++] = db_int(db, 0);
	}
	db_done(db);
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

static void
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

static void
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

static void
op_send(struct db *db, struct op *op)
{
	int64_t cid = op->from_ws ? op->frame.conversation_id : op->ids[0];
	int64_t kind = 0, peer = 0, seq, mid, now = (int64_t)now_ms();
	struct idlist l = {NULL, 0};
	int member = 0, friend = 0;
	const char *s;
	char *cause = NULL;
	json_t *m;

	if (!op->from_ws) {
		if (need_body(op) != 0)
			return;
		if ((s = in_str(op, "client_msg_id")) == NULL ||
		    proto_check_client_id(s, &cause) != 0) {
			op_error(op, 400, "bad_request", "%s",
			    cause != NULL ? cause
					  : "'client_msg_id' must be a string");
			free(cause);
			return;
		}
		snprintf(op->frame.client_msg_id,
		    sizeof op->frame.client_msg_id, "%s", s);
		if ((s = in_str(op, "body")) == NULL ||
		    proto_check_body(s, &cause) != 0) {
			op_error(op,
			    s != NULL && strlen(s) > PROTO_BODY_MAX ? 413 : 400,
			    s != NULL && strlen(s) > PROTO_BODY_MAX
				? "too_large"
				: "bad_request",
			    "%s",
			    cause != NULL ? cause
					  : "'body' must be a "
					    "string");
			free(cause);
			return;
		}
		op->frame.body = xstrdup(s);
	}

	/*
	 * The common case first: insert, and look for an earlier send with
	 * the same client id only when the unique key says there is one.
	 */
	l.v = NULL;
	l.n = 0;
	if (db_begin(db) != 0)
		goto dberr;
	if (db_query(db, SQL_SEND_MEMBERS, "ii", op->uid, cid) != 0)
		goto rollback;
	while (db_next(db) == 1) {
		l.v = xreallocarray(l.v, l.n + 1, sizeof *l.v);
		l.v[l.n++] = db_int(db, 0);
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
		db_rollback(db);
		free(l.v);
		op_error(op, 404, "not_found", "no conversation %lld",
		    (long long)cid);
		return;
	}
	if (kind == KIND_DIRECT && !friend) {
		db_rollback(db);
		free(l.v);
		op_error(op, 403, "forbidden",
		    "user %lld is no longer a friend", (long long)peer);
		return;
	}
	if (db_query(db, SQL_SEQ_NEXT, "ii", now, cid) != 0 ||
	    db_affected(db) != 1)
		goto rollback;
	seq = (int64_t)db_insert_id(db);
	db_done(db);
	if (db_query(db, SQL_MSG_ADD, "iiissi", cid, seq, op->uid,
		op->frame.client_msg_id, op->frame.body, now) != 0) {
		if (db_errno(db) == DB_ER_DUP_ENTRY) {
			db_rollback(db);
			free(l.v);
			if (send_find_dup(db, op, cid) != 1)
				op_dberror(op, db);
			return;
		}
		goto rollback;
	}
	mid = (int64_t)db_insert_id(db);
	if (db_query(db, SQL_READ_SELF, "iii", seq, cid, op->uid) != 0)
		goto rollback;
	db_done(db);
	if (db_commit(db) != 0)
		goto rollback;

	m = json_pack("{s:I,s:I,s:I,s:I,s:s,s:s,s:I}", "id", (json_int_t)mid,
	    "conversation_id", (json_int_t)cid, "seq", (json_int_t)seq,
	    "sender_id", (json_int_t)op->uid, "client_msg_id",
	    op->frame.client_msg_id, "body", op->frame.body, "created_at",
	    (json_int_t)now);
	op_deliver(op, json_pack("{s:s,s:O}", "type", "message", "message", m),
	    l.v, l.n, 1);
	free(l.v);
	op_reply(op, 201, json_pack("{s:o,s:b}", "message", m, "duplicate", 0));
	return;
rollback:
	free(l.v);
	op_dberror(op, db);
	db_rollback(db);
	return;
dberr:
	op_dberror(op, db);
}

static const char SQL_READ_SET[] =
    "UPDATE conv_members SET read_seq = GREATEST(read_seq, LEAST(?, "
    "(SELECT last_seq FROM conversations WHERE id = ?))) "
    "WHERE conversation_id = ? AND user_id = ?";

static void
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

static const char SQL_AUTH[] =
    "SELECT s.user_id, u.username, u.display_name FROM sessions s "
    "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? "
    "AND s.expires_at > ?";

/* Resolves op->token; 0 with op->uid set, or -1 with the error set. */
static int
auth_token(struct db *db, struct op *op, json_t **user)
{
	if (!proto_is_token(op->token)) {
		op_error(op, 401, "unauthorized", "a session token is needed");
		return -1;
	}
	token_hash(op->token, op->token_hash);
	if (db_query(db, SQL_AUTH, "si", op->token_hash, (int64_t)now_ms()) !=
	    0) {
		op_dberror(op, db);
		return -1;
	}
	if (db_next(db) != 1) {
		db_done(db);
		op_error(op, 401, "unauthorized", "the session is not valid");
		return -1;
	}
	op->uid = db_int(db, 0);
	if (user != NULL)
		*user = user_json(op->uid, db_str(db, 1), db_str(db, 2));
	db_done(db);
	return 0;
}

static void
op_auth(struct db *db, struct op *op)
{
	json_t *user = NULL;

	if (auth_token(db, op, &user) != 0)
		return;
	op_reply(op, 200, json_pack("{s:o}", "user", user));
}

static const char SQL_SYNC_CONVS[] =
    "SELECT m.conversation_id, m.read_seq, c.last_seq FROM conv_members m "
    "JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = ?";

static void
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

static const char SQL_FRIEND_IDS[] =
    "SELECT friend_id FROM friendships WHERE user_id = ?";

static void
op_presence(struct db *db, struct op *op)
{
	struct idlist l = {NULL, 0};

	if (db_query(db, SQL_FRIEND_IDS, "i", op->uid) != 0) {
		op_dberror(op, db);
		return;
	}
	while (db_next(db) == 1) {
		l.v = xreallocarray(l.v, l.n + 1, sizeof *l.v);
		l.v[l.n++] = db_int(db, 0);
	}
	db_done(db);
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
