/*
 * chatd internals shared between its files. One libuv loop thread runs
 * libwebsockets, hiredis async and all connection state; operations that
 * touch MariaDB run on the libuv worker pool as a struct op and come back
 * to the loop with a reply and deliveries to route.
 */
#ifndef CHATD_H
#define CHATD_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "proto.h"

struct client;

/* One frame for a list of users, built by an operation. */
struct delivery {
	struct delivery *next;
	char *text;
	size_t len;
	int64_t *uids;
	size_t nuids;
	int skip_requester; /* not to the socket that asked */
};

struct op {
	uv_work_t work;
	void (*done)(struct op *);
	enum op_id id;
	struct client *client; /* holds a reference */
	int from_ws;
	uint64_t started_ns;

	/* Input. */
	char token[65];
	char addr[64];
	int64_t uid;
	int64_t ids[2];
	json_t *in; /* REST body, or NULL */
	char *query; /* REST query string, or NULL */
	struct frame frame;
	int online; /* OP_PRESENCE */

	/* Output. */
	int status;
	json_t *out; /* reply body */
	json_t *frames; /* OP_SYNC: message frames before the reply */
	const char *ecode;
	char *emsg;
	int retry_after;
	char token_hash[65];
	struct delivery *deliveries;
	int ready_db, ready_redis, ready_amqp;
};

extern struct config cfg;
extern uv_loop_t *loop;
extern int shutting_down;

/* store.c: operations, run on a worker thread. */
void store_init(void);
void store_run(struct op *);
/* Authenticated WebSocket sends from several sockets, one transaction;
 * 1 when they went in together, 0 one by one, -1 after a rollback. */
int store_send_batch(struct op **, size_t);
void op_free(struct op *);
void token_hash(const char *token, char out[65]);

/* worker.c-ish helpers in server.c: queue an op; done runs on the loop. */
void op_queue(struct op *, void (*done)(struct op *));

/* route.c: who is connected where, and delivery. */
int route_init(const char *redis_password, char **cause);
void route_cleanup_stale(const char *redis_password);
void route_stop(void);
void route_attach(struct client *);
void route_detach(struct client *);
void route_deliver(struct delivery *, struct client *requester);
void route_remote_in(const char *, size_t);
void route_logout(const char *token_hash, int64_t uid);
/* Closes every socket of a deleted account, on every instance. */
void route_account_gone(int64_t uid);
int route_rate_take(int64_t uid, uint64_t *retry_ms);
int route_redis_ok(void);
/* Thread-local synchronous Redis for the workers (rate limits, presence). */
struct redisContext *route_redis_sync(void);

/* server.c: libwebsockets. */
int server_start(char **cause);
void server_shutdown(void);
void server_destroy(void);
int client_push(struct client *, const char *, size_t);
int64_t client_uid(struct client *);
const char *client_token_hash(struct client *);
struct client *client_next_of_user(struct client *);
void client_set_next_of_user(struct client *, struct client *);
void client_close(struct client *, int code, const char *reason);

/* amqp.c: RabbitMQ on its own threads. */
int amqp_start(const char *password, char **cause);
void amqp_stop(void);
void amqp_publish(const char *instance, const char *body, size_t len);
int amqp_ok(void);

/* metrics.c */
struct metrics {
	uint64_t connections, ws_authed;
	uint64_t http_requests[6]; /* by status class 1xx..5xx */
	uint64_t send_batches, send_batched, send_batch_retries;
	uint64_t messages_sent, messages_duplicate, pushes, remote_in,
	    remote_out, dropped_slow, rate_limited, errors, bad_frames;
	uint64_t send_hist[12];
	double send_sum;
	uint64_t send_count;
};
extern struct metrics metrics;
void metrics_observe_send(double seconds);
char *metrics_render(size_t *len);
uint64_t now_ms(void);
uint64_t now_ns(void);

#endif
