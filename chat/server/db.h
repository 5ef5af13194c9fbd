/*
 * MariaDB access for the worker threads: one connection per thread, a
 * cache of prepared statements keyed by their SQL text, and a small
 * cursor: db_query binds parameters from a type string ('i' int64,
 * 's' string, 'n' NULL), db_next steps rows, db_int/db_str read columns.
 * One statement is open at a time per thread.
 */
#ifndef CHATD_DB_H
#define CHATD_DB_H

#include <stdint.h>

struct config;

#define DB_ER_DUP_ENTRY 1062

/* Connection parameters, set once before the workers start. */
void db_setup(const struct config *, const char *password);
/* This thread's connection, connecting if needed; NULL when down. */
struct db *db_get(void);
/* Drops this thread's connection (after a lost connection). */
void db_reset(void);
int db_ping(void);

int db_query(struct db *, const char *sql, const char *types, ...);
/* The same with parameters in arrays: position i of types reads ints[i]
 * ('i') or strs[i] ('s'); for statements whose length varies. */
int db_query_array(struct db *, const char *sql, const char *types,
    const int64_t *ints, const char *const *strs);
int db_next(struct db *);
int64_t db_int(struct db *, int col);
const char *db_str(struct db *, int col);
int db_null(struct db *, int col);
void db_done(struct db *);
uint64_t db_affected(struct db *);
uint64_t db_insert_id(struct db *);
/* The last error number (DB_ER_DUP_ENTRY...) and whether it means the
 * connection is gone. */
unsigned int db_errno(struct db *);
int db_gone(struct db *);

int db_begin(struct db *);
int db_commit(struct db *);
void db_rollback(struct db *);

/* Applies the schema migrations; -1 with *cause. */
int db_migrate(char **cause);

#endif
