/*
 * chat-bench sockets: one libwebsockets client context on this thread.
 * A 5 ms timer opens sockets at the connect rate, then hands out sends
 * at the send rate round-robin over the users; every push and ack is
 * matched to the message it belongs to by its client_msg_id.
 */
#include <inttypes.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "buf.h"
#include "log.h"
#include "xmalloc.h"

/*
 * lws polls every socket on each pass of its loop, so the timer is kept
 * slow: sends due in a tick go out together (latency is measured from
 * the write, so the tick does not show in it).
 */
#define WS_TICK_US 5000
#define WS_HOLD_TICK_US 50000
#define WS_MAX_HANDSHAKES 256 /* sockets connecting at once */
#define WS_CONNECT_GRACE 60.0 /* seconds beyond the connect rate */
#define WS_FRAME_MAX 8192

enum ws_state {
	WS_NEW,
	WS_CONNECTING,
	WS_AUTHING,
	WS_READY,
	WS_CLOSED,
};

enum ws_phase {
	PHASE_CONNECT,
	PHASE_HOLD,
	PHASE_SEND,
	PHASE_DRAIN,
	PHASE_DONE,
};

struct ws_sock {
	struct lws *wsi;
	int user;
	int nth; /* which of the user's sockets */
	enum ws_state state;
	int auth_sent;
	uint32_t pending; /* sends waiting for the socket */
	struct buf rx;
};

struct ws_run {
	struct bench *b;
	struct lws_context *ctx;
	lws_sorted_usec_list_t sul;
	struct ws_sock *socks;
	int nsocks;
	int next_connect;
	int connecting;
	int ready;
	int closed;
	enum ws_phase phase;
	uint64_t phase_start;
	uint64_t run_start;
	uint64_t scheduled; /* sends handed to sockets this phase */
	int next_sender;
	int stopping;
	char *cause;
	uint64_t expected; /* deliveries owed by acked messages */
	uint64_t delivered; /* deliveries of those, within expected */
	uint64_t outstanding; /* sends not yet acked or failed */
};

static struct ws_run run;

static struct ws_sock *
ws_sock_of(int user, int nth)
{
	return &run.socks[user * run.b->opts.sockets_per_user + nth];
}

/* Deliveries a message sent now from socket s is owed. */
static uint32_t
ws_expected(struct ws_sock *s)
{
	struct bench *b = run.b;
	struct bench_conv *c = &b->convs[b->users[s->user].conv];
	struct ws_sock *t;
	uint32_t n = 0;
	int i, k;

	for (i = 0; i < c->nmembers; i++) {
		for (k = 0; k < b->opts.sockets_per_user; k++) {
			t = ws_sock_of(c->members[i], k);
			if (t != s && t->state == WS_READY)
				n++;
		}
	}
	return n;
}

static int
ws_write(struct lws *wsi, const char *text, size_t len)
{
	unsigned char frame[LWS_PRE + WS_FRAME_MAX];

	if (len > WS_FRAME_MAX)
		return -1;
	memcpy(frame + LWS_PRE, text, len);
	if (lws_write(wsi, frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len)
		return -1;
	return 0;
}

static int
ws_send_one(struct ws_sock *s)
{
	struct bench *b = run.b;
	struct bench_user *u = &b->users[s->user];
	struct bench_msg *m;
	uint32_t n;
	char text[512];
	int len;

	m = bench_msg_new(u, &n);
	len = snprintf(text, sizeof text,
	    "{\"type\":\"send\",\"conversation_id\":%" PRId64 ","
	    "\"client_msg_id\":\"b%d.%u\",\"body\":\"bench %s message %u "
	    "from user %d\"}",
	    b->convs[u->conv].id, s->user, n, b->tag, n, s->user);
	m->expected = ws_expected(s);
	m->sent_us = bench_now_us();
	if (ws_write(s->wsi, text, len) != 0)
		return -1;
	b->stats.sends++;
	run.outstanding++;
	return 0;
}

static void
ws_on_ack(json_t *f, int dup_push)
{
	struct bench *b = run.b;
	struct bench_msg *m;
	const char *id;
	int user;

	(void)dup_push;
	id = json_string_value(json_object_get(f, "client_msg_id"));
	m = id == NULL ? NULL : bench_msg_find(b, id, &user);
	if (m == NULL || m->acked || m->failed) {
		b->stats.unknown++;
		return;
	}
	m->acked = 1;
	run.outstanding--;
	b->stats.acks++;
	if (json_is_true(json_object_get(f, "duplicate")))
		b->stats.duplicates++;
	bench_lat_add(&b->stats.ack, bench_now_us() - m->sent_us);
	run.expected += m->expected;
	/* Pushes that overtook the ack count now. */
	run.delivered += m->received < m->expected ? m->received : m->expected;
}

static void
ws_on_message(json_t *f)
{
	struct bench *b = run.b;
	struct bench_msg *m;
	json_t *msg;
	const char *id;
	int user;

	msg = json_object_get(f, "message");
	id = json_string_value(json_object_get(msg, "client_msg_id"));
	m = id == NULL ? NULL : bench_msg_find(b, id, &user);
	if (m == NULL) {
		b->stats.unknown++;
		return;
	}
	b->stats.deliveries++;
	m->received++;
	if (m->received > m->expected) {
		b->stats.duplicates++;
		return;
	}
	bench_lat_add(&b->stats.delivery, bench_now_us() - m->sent_us);
	if (m->acked)
		run.delivered++;
}

static void
ws_on_error(struct ws_sock *s, json_t *f)
{
	struct bench *b = run.b;
	struct bench_msg *m;
	const char *id, *code, *message;
	int user;
	char *esc;

	code = json_string_value(json_object_get(f, "code"));
	id = json_string_value(json_object_get(f, "client_msg_id"));
	m = id == NULL ? NULL : bench_msg_find(b, id, &user);
	if (m != NULL && !m->acked && !m->failed) {
		m->failed = 1;
		run.outstanding--;
		if (code != NULL && strcmp(code, "rate_limited") == 0)
			b->stats.rate_limited++;
		else
			b->stats.send_errors++;
	} else
		b->stats.frame_errors++;
	if (s->state != WS_READY || b->opts.verbose) {
		message = json_string_value(json_object_get(f, "message"));
		esc = str_escape(message == NULL ? "" : message);
		log_warn(
		    "chatd error frame %s: %s", code == NULL ? "?" : code, esc);
		free(esc);
	}
}

static void
ws_frame(struct ws_sock *s)
{
	json_t *f;
	const char *type;

	f = json_loadb(s->rx.data, s->rx.len, 0, NULL);
	type = json_string_value(json_object_get(f, "type"));
	if (type == NULL)
		run.b->stats.frame_errors++;
	else if (strcmp(type, "message") == 0)
		ws_on_message(f);
	else if (strcmp(type, "ack") == 0)
		ws_on_ack(f, 0);
	else if (strcmp(type, "auth_ok") == 0 && s->state == WS_AUTHING) {
		s->state = WS_READY;
		run.connecting--;
		run.ready++;
		run.b->stats.sockets_open++;
	} else if (strcmp(type, "error") == 0)
		ws_on_error(s, f);
	json_decref(f);
}

static void
ws_gone(struct ws_sock *s, int failed)
{
	if (s->state == WS_CLOSED)
		return;
	if (s->state == WS_READY) {
		run.ready--;
		if (!run.stopping)
			run.b->stats.sockets_dropped++;
	} else if (s->state != WS_NEW) {
		run.connecting--;
		run.b->stats.sockets_failed++;
	}
	(void)failed;
	s->state = WS_CLOSED;
	s->wsi = NULL;
	run.closed++;
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ws_sock *s = user;
	struct bench *b = run.b;
	char text[256];
	int n;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->state = WS_AUTHING;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!s->auth_sent) {
			n = snprintf(text, sizeof text,
			    "{\"type\":\"auth\",\"token\":\"%s\"}",
			    b->users[s->user].token);
			s->auth_sent = 1;
			if (ws_write(wsi, text, n) != 0)
				return -1;
			explicit_bzero(text, sizeof text);
			break;
		}
		if (s->state != WS_READY || s->pending == 0)
			break;
		s->pending--;
		if (ws_send_one(s) != 0)
			return -1;
		if (s->pending > 0)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		buf_add(&s->rx, in, len);
		if (lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0) {
			ws_frame(s);
			buf_reset(&s->rx);
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (b->opts.verbose || b->stats.sockets_failed == 0)
			log_warn("cannot open a socket to chatd: %s",
			    in == NULL ? "no reason given" : (char *)in);
		ws_gone(s, 1);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		ws_gone(s, 0);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols ws_protocols[] = {
    {"chat-bench", ws_callback, 0, WS_FRAME_MAX, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void
ws_connect(struct ws_sock *s)
{
	struct lws_client_connect_info ci;
	struct bench *b = run.b;
	char host[300];

	snprintf(host, sizeof host, "%s:%d", b->opts.host, b->opts.port);
	memset(&ci, 0, sizeof ci);
	ci.context = run.ctx;
	ci.address = b->opts.host;
	ci.port = b->opts.port;
	ci.path = "/ws";
	ci.host = host;
	ci.origin = host;
	ci.ietf_version_or_minus_one = -1;
	ci.local_protocol_name = ws_protocols[0].name;
	ci.userdata = s;
	ci.pwsi = &s->wsi;
	s->state = WS_CONNECTING;
	run.connecting++;
	if (lws_client_connect_via_info(&ci) == NULL)
		ws_gone(s, 1);
}

static double
ws_elapsed(void)
{
	return (bench_now_us() - run.phase_start) / 1e6;
}

static void
ws_phase(enum ws_phase p)
{
	run.phase = p;
	run.phase_start = bench_now_us();
	run.scheduled = 0;
}

static void
ws_watch_rss(void)
{
	uint64_t kb;

	if (run.b->opts.watch_pid <= 0)
		return;
	kb = bench_rss_kb(run.b->opts.watch_pid);
	if (kb > run.b->stats.rss_peak_kb)
		run.b->stats.rss_peak_kb = kb;
}

static void
ws_tick_connect(void)
{
	struct bench *b = run.b;
	double due;

	due = ws_elapsed() * b->opts.connect_rate;
	while (run.next_connect < run.nsocks && run.next_connect < due + 1 &&
	    run.connecting < WS_MAX_HANDSHAKES)
		ws_connect(&run.socks[run.next_connect++]);

	if (run.next_connect == run.nsocks && run.connecting == 0) {
		b->stats.connect_seconds = ws_elapsed();
		log_info("%d of %d sockets authenticated in %.1f s", run.ready,
		    run.nsocks, b->stats.connect_seconds);
		if (run.ready == 0) {
			run.cause = xstrdup("no socket could connect to chatd");
			ws_phase(PHASE_DONE);
		} else if (b->opts.mode == BENCH_IDLE)
			ws_phase(PHASE_HOLD);
		else
			ws_phase(PHASE_SEND);
		return;
	}
	if (ws_elapsed() >
	    run.nsocks / b->opts.connect_rate + WS_CONNECT_GRACE) {
		run.cause = xasprintf("only %d of %d sockets authenticated "
				      "in time",
		    run.ready, run.nsocks);
		ws_phase(PHASE_DONE);
	}
}

static void
ws_tick_send(void)
{
	struct bench *b = run.b;
	struct ws_sock *s = NULL;
	double due;
	int tries;

	if (ws_elapsed() >= b->opts.duration) {
		b->stats.send_seconds = ws_elapsed();
		ws_phase(PHASE_DRAIN);
		return;
	}
	due = ws_elapsed() * b->opts.rate;
	while (run.scheduled < due) {
		/* The next user whose first socket is up. */
		for (tries = 0; tries < b->nusers; tries++) {
			s = ws_sock_of(run.next_sender, 0);
			run.next_sender = (run.next_sender + 1) % b->nusers;
			if (s->state == WS_READY)
				break;
		}
		if (s == NULL || s->state != WS_READY)
			break;
		s->pending++;
		if (s->pending == 1)
			lws_callback_on_writable(s->wsi);
		run.scheduled++;
	}
}

static void
ws_tick(lws_sorted_usec_list_t *sul)
{
	struct bench *b = run.b;
	uint64_t owed;
	int i;

	(void)sul;
	switch (run.phase) {
	case PHASE_CONNECT:
		ws_tick_connect();
		break;
	case PHASE_HOLD:
		ws_watch_rss();
		if (ws_elapsed() >= b->opts.hold)
			ws_phase(PHASE_DONE);
		break;
	case PHASE_SEND:
		ws_tick_send();
		break;
	case PHASE_DRAIN:
		owed = 0;
		for (i = 0; i < run.nsocks; i++)
			owed += run.socks[i].pending;
		if ((owed == 0 && run.outstanding == 0 &&
			run.delivered >= run.expected) ||
		    ws_elapsed() >= b->opts.drain) {
			b->stats.drain_seconds = ws_elapsed();
			ws_phase(PHASE_DONE);
		}
		break;
	case PHASE_DONE:
		break;
	}
	if (run.phase == PHASE_SEND || run.phase == PHASE_DRAIN) {
		if ((bench_now_us() / WS_TICK_US) % 20 == 0)
			ws_watch_rss();
	}
	if (run.phase != PHASE_DONE)
		lws_sul_schedule(run.ctx, 0, &run.sul, ws_tick,
		    run.phase == PHASE_HOLD ? WS_HOLD_TICK_US : WS_TICK_US);
}

int
bench_ws_run(struct bench *b, char **cause)
{
	struct lws_context_creation_info info;
	int i, k, rc = -1;

	memset(&run, 0, sizeof run);
	run.b = b;
	run.nsocks = b->nusers * b->opts.sockets_per_user;
	run.socks = xcalloc(run.nsocks, sizeof *run.socks);
	for (i = 0; i < b->nusers; i++) {
		for (k = 0; k < b->opts.sockets_per_user; k++) {
			ws_sock_of(i, k)->user = i;
			ws_sock_of(i, k)->nth = k;
			buf_init(&ws_sock_of(i, k)->rx);
		}
	}

	lws_set_log_level(b->opts.verbose ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.gid = -1;
	info.uid = -1;
	/* No pings from our side: chatd pings, and lws answers them. */
	run.ctx = lws_create_context(&info);
	if (run.ctx == NULL) {
		*cause = xstrdup("cannot create the libwebsockets context");
		goto out;
	}

	run.run_start = bench_now_us();
	ws_phase(PHASE_CONNECT);
	lws_sul_schedule(run.ctx, 0, &run.sul, ws_tick, WS_TICK_US);
	while (run.phase != PHASE_DONE) {
		if (lws_service(run.ctx, 0) < 0)
			break;
	}
	if (run.cause != NULL) {
		*cause = run.cause;
		run.cause = NULL;
		goto out;
	}
	rc = 0;
out:
	run.stopping = 1;
	if (run.ctx != NULL)
		lws_context_destroy(run.ctx);
	for (i = 0; i < run.nsocks; i++)
		buf_free(&run.socks[i].rx);
	free(run.socks);
	return rc;
}
