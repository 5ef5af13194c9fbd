/*
 * chat-bench: a load generator for chatd. Users are registered and made
 * friends (and group members) through the REST API, then hold WebSocket
 * connections and send at a given rate for a bounded time; every message
 * is tracked until each of its deliveries arrived.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum bench_mode {
	BENCH_IDLE, /* connect and hold, send nothing */
	BENCH_DIRECT, /* pairs of friends, 1:1 messages */
	BENCH_GROUP, /* groups of friends, fan-out */
};

struct bench_opts {
	char *url; /* http://127.0.0.1:PORT, loopback only */
	char *host; /* parsed from url */
	int port;
	enum bench_mode mode;
	int users;
	int sockets_per_user;
	int group_size;
	double rate; /* sends per second, all users together */
	double duration; /* seconds of sending */
	double hold; /* idle: seconds to hold the connections */
	double drain; /* seconds to wait for late deliveries */
	double connect_rate; /* new sockets per second */
	int http_parallel; /* REST requests in flight during setup */
	int watch_pid; /* sample this process's RSS (chatd) */
	int json;
	int verbose;
};

struct bench_msg {
	uint64_t sent_us;
	uint32_t expected;
	uint32_t received;
	uint8_t acked;
	uint8_t failed;
};

struct bench_user {
	char *username;
	char *token;
	int64_t id;
	int conv; /* index into bench.convs this user sends to */
	struct bench_msg *msgs;
	uint32_t nmsgs;
	uint32_t msgs_size;
};

struct bench_conv {
	int64_t id;
	int *members; /* user indexes */
	int nmembers;
};

/* A growable array of latencies in microseconds. */
struct bench_lat {
	uint32_t *v;
	size_t n;
	size_t size;
};

struct bench_stats {
	uint64_t sockets_open;
	uint64_t sockets_failed;
	uint64_t sockets_dropped;
	uint64_t sends; /* written to a socket */
	uint64_t acks;
	uint64_t duplicates; /* acks flagged duplicate, or repeated pushes */
	uint64_t send_errors;
	uint64_t rate_limited;
	uint64_t deliveries;
	uint64_t unknown; /* pushes for messages this run did not send */
	uint64_t frame_errors; /* error frames without a client_msg_id */
	uint64_t rss_idle_kb; /* watched process, before connecting */
	uint64_t rss_peak_kb; /* watched process, peak while connected */
	double connect_seconds;
	double send_seconds;
	double drain_seconds;
	struct bench_lat delivery;
	struct bench_lat ack;
};

struct bench {
	struct bench_opts opts;
	char tag[16]; /* per run, keeps usernames unique */
	char password[33];
	struct bench_user *users;
	int nusers;
	struct bench_conv *convs;
	int nconvs;
	struct bench_stats stats;
};

/* bench.c */
uint64_t bench_now_us(void);
void bench_lat_add(struct bench_lat *, uint32_t);
uint64_t bench_rss_kb(int pid);
struct bench_msg *bench_msg_new(struct bench_user *, uint32_t *);
struct bench_msg *bench_msg_find(struct bench *, const char *, int *);

/* bench-http.c: setup through the REST API. */
int bench_http_setup(struct bench *, char **cause);

/* bench-ws.c: sockets, sending and receiving. */
int bench_ws_run(struct bench *, char **cause);

#endif
