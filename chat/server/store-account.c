/* Accounts and sessions: register, login, logout, users, token checks. */

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

/* Hashed against when the user does not exist, so both take as long. */
static char *dummy_hash;

void
store_init(void)
{
	char hash[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str(hash, "not a password", 14,
		(unsigned long long)cfg.argon2_ops,
		(size_t)cfg.argon2_mem_kib * 1024) == 0)
		dummy_hash = xstrdup(hash);
	send_sql_init();
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

void
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

void
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

void
op_logout(struct db *db, struct op *op)
{
	if (db_query(db, SQL_SESSION_DEL, "s", op->token_hash) != 0) {
		op_dberror(op, db);
		return;
	}
	db_done(db);
	op_reply(op, 200, json_pack("{s:b}", "ok", 1));
}

void
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

void
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

void
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

static const char SQL_AUTH[] =
    "SELECT s.user_id, u.username, u.display_name FROM sessions s "
    "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? "
    "AND s.expires_at > ?";

/* Resolves op->token; 0 with op->uid set, or -1 with the error set. */
int
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

void
op_auth(struct db *db, struct op *op)
{
	json_t *user = NULL;

	if (auth_token(db, op, &user) != 0)
		return;
	op_reply(op, 200, json_pack("{s:o}", "user", user));
}
