/*
 * What the store-*.c files share: reply and delivery helpers, row
 * helpers, and every operation (the table in store.c dispatches them).
 * All of it runs on a worker thread.
 */
#ifndef CHATD_STORE_H
#define CHATD_STORE_H

#include <stdint.h>

#include <jansson.h>

struct db;
struct op;

#define KIND_DIRECT 1
#define KIND_GROUP 2

/* The most sends one transaction takes (send_batch_max's ceiling). */
#define BATCH_MAX 64

struct idlist {
	int64_t *v;
	size_t n;
};

typedef void (*op_fn)(struct db *, struct op *);

/* One send inside a transaction: its members, sequence and row. */
struct send {
	struct op *op;
	int64_t cid, seq, mid, now;
	struct idlist l;
	int written;
};

/* store.c */
void op_error(struct op *, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void op_dberror(struct op *, struct db *);
void op_reply(struct op *, int status, json_t *out);
void op_deliver(struct op *, json_t *frame, const int64_t *uids, size_t n,
    int skip_requester);
/*
 * Runs sql with up to two integer parameters (as types says) and appends
 * the first column of every row to l; -1 on a database error.
 */
int query_ids(struct db *, const char *sql, const char *types, int64_t a,
    int64_t b, struct idlist *l);
extern const char SQL_FRIEND_IDS[];
void op_deliver1(struct op *, json_t *frame, int64_t uid);
json_t *user_json(int64_t id, const char *username, const char *display);
json_t *user_load(struct db *, int64_t id);
json_t *message_row(struct db *);
int64_t in_id(struct op *, const char *key);
const char *in_str(struct op *, const char *key);
int need_body(struct op *);
int rate_check(struct op *, const char *what, int limit);
void op_presence(struct db *, struct op *);

/* store-account.c */
int auth_token(struct db *, struct op *, json_t **user);
void op_register(struct db *, struct op *);
void op_login(struct db *, struct op *);
void op_logout(struct db *, struct op *);
void op_me(struct db *, struct op *);
void op_user_search(struct db *, struct op *);
void op_user_get(struct db *, struct op *);
void op_auth(struct db *, struct op *);

/* store-delete.c */
void op_account_delete(struct db *, struct op *);

/* store-friend.c */
extern const char SQL_MEMBER_ADD[];
int is_friend(struct db *, int64_t a, int64_t b);
void direct_key(int64_t a, int64_t b, char *out, size_t outsz);
int64_t direct_get(struct db *, int64_t a, int64_t b);
void op_friend_request(struct db *, struct op *);
void op_friend_requests(struct db *, struct op *);
void op_friend_accept(struct db *, struct op *);
void op_friend_reject(struct db *, struct op *);
void op_friends(struct db *, struct op *);
void op_friend_remove(struct db *, struct op *);

/* store-group.c */
extern const char SQL_IS_MEMBER[];
int member_ids(struct db *, int64_t conv, struct idlist *);
void op_group_create(struct db *, struct op *);
void op_groups(struct db *, struct op *);
void op_group_get(struct db *, struct op *);
void op_group_add(struct db *, struct op *);
void op_group_remove(struct db *, struct op *);

/* store-batch.c */
void send_sql_init(void);

/* store-msg.c */
int64_t direct_peer(const char *key, int64_t me);
/* After the commit: the send's reply and its frame for the members. */
void send_finish(struct send *);
void op_conversations(struct db *, struct op *);
void op_direct(struct db *, struct op *);
void op_history(struct db *, struct op *);
void op_send(struct db *, struct op *);
void op_read(struct db *, struct op *);
void op_sync(struct db *, struct op *);

#endif
