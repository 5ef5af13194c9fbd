/* MariaDB connections, prepared statements and schema migrations. */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errmsg.h>
#include <mysql.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "xmalloc.h"

#define DB_CACHE 320
#define DB_COLS 16
#define DB_PARAMS 16
#define DB_STRMAX 16384

struct db {
	MYSQL *my;
	struct {
		const char *sql;
		MYSQL_STMT *st;
	} cache[DB_CACHE];
	int ncache;
	MYSQL_STMT *cur;
	int ncols;
	MYSQL_BIND res[DB_COLS];
	int isint[DB_COLS];
	long long ival[DB_COLS];
	char *sval[DB_COLS];
	unsigned long len[DB_COLS];
	my_bool isnull[DB_COLS];
	my_bool error[DB_COLS];
	unsigned int last_errno;
	int gone;
};

static struct {
	char *host, *user, *password, *name;
	int port;
} dbp;

static __thread struct db *tdb;

void
db_setup(const struct config *c, const char *password)
{
	dbp.host = xstrdup(c->db_host);
	dbp.user = xstrdup(c->db_user);
	dbp.password = xstrdup(password);
	dbp.name = xstrdup(c->db_name);
	dbp.port = c->db_port;
}

static void
db_close(struct db *db)
{
	int i;

	for (i = 0; i < db->ncache; i++)
		mysql_stmt_close(db->cache[i].st);
	db->ncache = 0;
	db->cur = NULL;
	if (db->my != NULL)
		mysql_close(db->my);
	db->my = NULL;
	db->gone = 0;
}

void
db_reset(void)
{
	if (tdb != NULL)
		db_close(tdb);
}

struct db *
db_get(void)
{
	struct db *db;
	unsigned int timeout = 5, rw = 30;
	int i;

	if (tdb == NULL) {
		mysql_thread_init();
		tdb = xcalloc(1, sizeof *tdb);
		for (i = 0; i < DB_COLS; i++)
			tdb->sval[i] = xmalloc(DB_STRMAX + 1);
	}
	db = tdb;
	if (db->gone)
		db_close(db);
	if (db->my != NULL)
		return db;

	db->my = mysql_init(NULL);
	mysql_options(db->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(db->my, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_options(db->my, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_options(db->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db->my, MYSQL_INIT_COMMAND,
	    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	if (mysql_real_connect(db->my, dbp.host, dbp.user, dbp.password,
		dbp.name, (unsigned int)dbp.port, NULL, 0) == NULL) {
		log_warn("cannot connect to mariadb at %s:%d: %s", dbp.host,
		    dbp.port, mysql_error(db->my));
		mysql_close(db->my);
		db->my = NULL;
		return NULL;
	}
	return db;
}

int
db_ping(void)
{
	struct db *db = db_get();

	if (db == NULL)
		return -1;
	if (mysql_ping(db->my) != 0) {
		db->gone = 1;
		return -1;
	}
	return 0;
}

static void
db_note_error(struct db *db, unsigned int err, const char *what)
{
	db->last_errno = err;
	if (err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST ||
	    err == CR_CONNECTION_ERROR || err == CR_CONN_HOST_ERROR ||
	    err == 1927 /* ER_CONNECTION_KILLED */)
		db->gone = 1;
	if (err != DB_ER_DUP_ENTRY)
		log_warn("mariadb: %s (error %u)", what, err);
}

static MYSQL_STMT *
db_stmt(struct db *db, const char *sql)
{
	MYSQL_STMT *st;
	int i;

	for (i = 0; i < db->ncache; i++) {
		if (db->cache[i].sql == sql)
			return db->cache[i].st;
	}
	st = mysql_stmt_init(db->my);
	if (st == NULL)
		return NULL;
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		db_note_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		mysql_stmt_close(st);
		return NULL;
	}
	if (db->ncache == DB_CACHE) {
		mysql_stmt_close(db->cache[0].st);
		memmove(&db->cache[0], &db->cache[1],
		    (DB_CACHE - 1) * sizeof db->cache[0]);
		db->ncache--;
	}
	db->cache[db->ncache].sql = sql;
	db->cache[db->ncache].st = st;
	db->ncache++;
	return st;
}

static int db_result(struct db *, MYSQL_STMT *);

int
db_query(struct db *db, const char *sql, const char *types, ...)
{
	int64_t ints[DB_PARAMS];
	const char *strs[DB_PARAMS];
	va_list ap;
	size_t n = strlen(types), i;

	if (n > DB_PARAMS)
		return -1;
	va_start(ap, types);
	for (i = 0; i < n; i++) {
		strs[i] = NULL;
		ints[i] = 0;
		if (types[i] == 'i')
			ints[i] = va_arg(ap, int64_t);
		else if (types[i] == 's')
			strs[i] = va_arg(ap, const char *);
	}
	va_end(ap);
	return db_query_array(db, sql, types, ints, strs);
}

int
db_query_array(struct db *db, const char *sql, const char *types,
    const int64_t *ints, const char *const *strs)
{
	MYSQL_BIND *params = NULL;
	MYSQL_STMT *st;
	size_t n = strlen(types), i;
	int rc = -1;

	if (db->cur != NULL)
		db_done(db);
	db->last_errno = 0;
	if ((st = db_stmt(db, sql)) == NULL)
		return -1;
	if (n > 0)
		params = xcalloc(n, sizeof *params);
	for (i = 0; i < n; i++) {
		switch (types[i]) {
		case 'i':
			params[i].buffer_type = MYSQL_TYPE_LONGLONG;
			params[i].buffer = (void *)&ints[i];
			break;
		case 's':
			params[i].buffer_type = MYSQL_TYPE_STRING;
			params[i].buffer = (void *)strs[i];
			params[i].buffer_length = strlen(strs[i]);
			break;
		default:
			params[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
	if ((n > 0 && mysql_stmt_bind_param(st, params) != 0) ||
	    mysql_stmt_execute(st) != 0) {
		db_note_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		goto out;
	}
	rc = db_result(db, st);
out:
	free(params);
	return rc;
}

static int
db_result(struct db *db, MYSQL_STMT *st)
{
	MYSQL_RES *meta;
	MYSQL_FIELD *fields;
	size_t i;

	db->cur = st;
	db->ncols = 0;
	if ((meta = mysql_stmt_result_metadata(st)) == NULL)
		return 0;
	db->ncols = (int)mysql_num_fields(meta);
	if (db->ncols > DB_COLS)
		db->ncols = DB_COLS;
	fields = mysql_fetch_fields(meta);
	memset(db->res, 0, sizeof db->res);
	for (i = 0; i < (size_t)db->ncols; i++) {
		switch (fields[i].type) {
		case MYSQL_TYPE_TINY:
		case MYSQL_TYPE_SHORT:
		case MYSQL_TYPE_LONG:
		case MYSQL_TYPE_INT24:
		case MYSQL_TYPE_LONGLONG:
		case MYSQL_TYPE_NEWDECIMAL:
			db->isint[i] = 1;
			db->res[i].buffer_type = MYSQL_TYPE_LONGLONG;
			db->res[i].buffer = &db->ival[i];
			break;
		default:
			db->isint[i] = 0;
			db->res[i].buffer_type = MYSQL_TYPE_STRING;
			db->res[i].buffer = db->sval[i];
			db->res[i].buffer_length = DB_STRMAX;
			break;
		}
		db->res[i].length = &db->len[i];
		db->res[i].is_null = &db->isnull[i];
		db->res[i].error = &db->error[i];
	}
	mysql_free_result(meta);
	if (mysql_stmt_bind_result(st, db->res) != 0 ||
	    mysql_stmt_store_result(st) != 0) {
		db_note_error(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		db_done(db);
		return -1;
	}
	return 0;
}

int
db_next(struct db *db)
{
	int rc, i;

	if (db->cur == NULL || db->ncols == 0)
		return 0;
	rc = mysql_stmt_fetch(db->cur);
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) {
		db_note_error(
		    db, mysql_stmt_errno(db->cur), mysql_stmt_error(db->cur));
		return -1;
	}
	for (i = 0; i < db->ncols; i++) {
		if (!db->isint[i])
			db->sval[i][db->len[i] < DB_STRMAX ? db->len[i]
							   : DB_STRMAX] = '\0';
	}
	return 1;
}

int64_t
db_int(struct db *db, int col)
{
	if (col >= db->ncols || db->isnull[col])
		return 0;
	if (!db->isint[col])
		return strtoll(db->sval[col], NULL, 10);
	return db->ival[col];
}

const char *
db_str(struct db *db, int col)
{
	if (col >= db->ncols || db->isnull[col] || db->isint[col])
		return "";
	return db->sval[col];
}

int
db_null(struct db *db, int col)
{
	return col >= db->ncols || db->isnull[col];
}

void
db_done(struct db *db)
{
	if (db->cur != NULL)
		mysql_stmt_free_result(db->cur);
	db->cur = NULL;
	db->ncols = 0;
}

uint64_t
db_affected(struct db *db)
{
	return db->cur != NULL ? mysql_stmt_affected_rows(db->cur) : 0;
}

uint64_t
db_insert_id(struct db *db)
{
	return db->cur != NULL ? mysql_stmt_insert_id(db->cur) : 0;
}

unsigned int
db_errno(struct db *db)
{
	return db->last_errno;
}

int
db_gone(struct db *db)
{
	return db->gone;
}

static int
db_text(struct db *db, const char *sql)
{
	if (db->cur != NULL)
		db_done(db);
	if (mysql_query(db->my, sql) != 0) {
		db_note_error(db, mysql_errno(db->my), mysql_error(db->my));
		return -1;
	}
	return 0;
}

int
db_begin(struct db *db)
{
	return db_text(db, "START TRANSACTION");
}

int
db_commit(struct db *db)
{
	return db_text(db, "COMMIT");
}

void
db_rollback(struct db *db)
{
	if (!db->gone)
		db_text(db, "ROLLBACK");
}

/*
 * Versioned migrations. Each step is idempotent DDL (IF NOT EXISTS) so a
 * migration interrupted half way is simply applied again.
 */
static const char *migration1[] = {
    "CREATE TABLE IF NOT EXISTS users ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " username VARCHAR(32) NOT NULL,"
    " display_name VARCHAR(255) NOT NULL,"
    " pw_hash VARCHAR(255) NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " UNIQUE KEY users_username (username)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS sessions ("
    " token_hash CHAR(64) NOT NULL PRIMARY KEY,"
    " user_id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL,"
    " KEY sessions_user (user_id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=ascii",
    "CREATE TABLE IF NOT EXISTS friend_requests ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " from_id BIGINT NOT NULL,"
    " to_id BIGINT NOT NULL,"
    " state TINYINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " KEY fr_to (to_id, state),"
    " KEY fr_from (from_id, state)"
    ") ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS friendships ("
    " user_id BIGINT NOT NULL,"
    " friend_id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " PRIMARY KEY (user_id, friend_id)"
    ") ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS conversations ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " kind TINYINT NOT NULL,"
    " direct_key VARCHAR(48) NULL,"
    " last_seq BIGINT NOT NULL DEFAULT 0,"
    " last_at BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " UNIQUE KEY conv_direct (direct_key)"
    ") ENGINE=InnoDB DEFAULT CHARSET=ascii",
    "CREATE TABLE IF NOT EXISTS conv_members ("
    " conversation_id BIGINT NOT NULL,"
    " user_id BIGINT NOT NULL,"
    " read_seq BIGINT NOT NULL DEFAULT 0,"
    " joined_at BIGINT NOT NULL,"
    " PRIMARY KEY (conversation_id, user_id),"
    " KEY cm_user (user_id)"
    ") ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS chat_groups ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " owner_id BIGINT NOT NULL,"
    " conversation_id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " UNIQUE KEY groups_conv (conversation_id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS messages ("
    " id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " conversation_id BIGINT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " sender_id BIGINT NOT NULL,"
    " client_msg_id VARCHAR(64) CHARACTER SET ascii NOT NULL,"
    " body TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " UNIQUE KEY msg_seq (conversation_id, seq),"
    " UNIQUE KEY msg_client (sender_id, client_msg_id)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    NULL};

static const struct migration {
	int version;
	const char *what;
	const char **steps;
} migrations[] = {
    {1, "accounts, friends, groups, conversations, messages", migration1},
};

static const char SQL_MIG_HAS[] =
    "SELECT version FROM schema_migrations WHERE version = ?";
static const char SQL_MIG_ADD[] =
    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)";
static const char SQL_MIG_LOCK[] = "SELECT GET_LOCK('chatd_migrate', 60)";
static const char SQL_MIG_UNLOCK[] = "SELECT RELEASE_LOCK('chatd_migrate')";

int
db_migrate(char **cause)
{
	struct db *db;
	size_t i;
	int j, have, locked = 0, rc = -1;

	if ((db = db_get()) == NULL) {
		*cause = xasprintf(
		    "cannot connect to mariadb at %s:%d", dbp.host, dbp.port);
		return -1;
	}
	if (db_query(db, SQL_MIG_LOCK, "") != 0 || db_next(db) != 1 ||
	    db_int(db, 0) != 1) {
		*cause = xstrdup("cannot take the migration lock");
		goto out;
	}
	locked = 1;
	db_done(db);
	if (db_text(db,
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		" version INT NOT NULL PRIMARY KEY,"
		" applied_at BIGINT NOT NULL) ENGINE=InnoDB") != 0) {
		*cause = xstrdup("cannot create 'schema_migrations'");
		goto out;
	}
	for (i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
		const struct migration *m = &migrations[i];

		if (db_query(db, SQL_MIG_HAS, "i", (int64_t)m->version) != 0) {
			*cause = xstrdup("cannot read 'schema_migrations'");
			goto out;
		}
		have = db_next(db);
		db_done(db);
		if (have == 1)
			continue;
		for (j = 0; m->steps[j] != NULL; j++) {
			if (db_text(db, m->steps[j]) != 0) {
				*cause = xasprintf("migration %d failed: %s",
				    m->version, mysql_error(db->my));
				goto out;
			}
		}
		if (db_query(db, SQL_MIG_ADD, "ii", (int64_t)m->version,
			(int64_t)time(NULL) * 1000) != 0) {
			*cause =
			    xasprintf("cannot record migration %d", m->version);
			goto out;
		}
		db_done(db);
		log_info(
		    "applied schema migration %d (%s)", m->version, m->what);
	}
	rc = 0;
out:
	if (locked && db_query(db, SQL_MIG_UNLOCK, "") == 0)
		db_done(db);
	return rc;
}
