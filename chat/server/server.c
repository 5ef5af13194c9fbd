/*
 * HTTP and WebSocket front: libwebsockets on the shared libuv loop. Each
 * HTTP transaction and each socket is a struct client; operations hold a
 * reference, so a reply for a client that went away is simply dropped.
 */

#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "chatd.h"
#include "log.h"
#include "xmalloc.h"

#define WS_BAD_FRAMES_MAX 20
#define AUTH_TIMEOUT_SECS 10

struct outmsg {
	struct outmsg *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE bytes, then the text */
};

struct client {
	int refs;
	struct lws *wsi;
	int is_ws;
	uint64_t id;

	/* WebSocket. */
	int authed, auth_pending;
	int64_t uid;
	char token_hash[65];
	struct client *next_of_user;
	struct client *prev_all, *next_all;
	struct outmsg *qhead, *qtail;
	int qlen;
	int close_code;
	const char *close_reason;
	struct buf rx;
	int rx_too_big;
	int bad_frames;
	int busy;
	struct op **pending;
	size_t npending, pending_head;

	/* HTTP. */
	char addr[64];
	enum http_method method;
	enum op_id op;
	int64_t ids[2];
	char token[65];
	char *query;
	struct buf body;
	int body_too_large;
	int dispatched;
	int resp_status, resp_phase, retry_after;
	const char *resp_type;
	char *resp;
	size_t resp_len;
};

struct pss {
	struct client *c;
};

static struct lws_context *context;
static struct client *all_ws;
static uint64_t next_client_id = 1;

static struct client *
client_new(struct lws *wsi, int is_ws)
{
	struct client *c = xcalloc(1, sizeof *c);

	c->refs = 1;
	c->wsi = wsi;
	c->is_ws = is_ws;
	c->id = next_client_id++;
	buf_init(&c->rx);
	buf_init(&c->body);
	return c;
}

static void
client_unref(struct client *c)
{
	struct outmsg *m, *next;

	if (c == NULL || --c->refs > 0)
		return;
	for (m = c->qhead; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
	buf_free(&c->rx);
	buf_free(&c->body);
	free(c->query);
	free(c->resp);
	free(c);
}

int64_t
client_uid(struct client *c)
{
	return c->uid;
}

const char *
client_token_hash(struct client *c)
{
	return c->token_hash;
}

struct client *
client_next_of_user(struct client *c)
{
	return c->next_of_user;
}

void
client_set_next_of_user(struct client *c, struct client *next)
{
	c->next_of_user = next;
}

void
client_close(struct client *c, int code, const char *reason)
{
	if (c->wsi == NULL || c->close_code != 0)
		return;
	c->close_code = code;
	c->close_reason = reason;
	lws_callback_on_writable(c->wsi);
}

/*
 * Queues a frame. Pushes (deliveries) count against send_queue_max;
 * replies to the client's own frames do not, as one frame in flight per
 * socket already bounds them.
 */
static int
client_queue(struct client *c, const char *text, size_t len, int reply)
{
	struct outmsg *m;

	if (c->wsi == NULL || c->close_code != 0)
		return -1;
	if (!reply && c->qlen >= cfg.send_queue_max) {
		metrics.dropped_slow++;
		log_info("dropping slow client of user %lld: send queue full",
		    (long long)c->uid);
		client_close(c, 4002, "send queue full");
		return -1;
	}
	m = xmalloc(sizeof *m + LWS_PRE + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, text, len);
	if (c->qtail != NULL)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->qlen++;
	lws_callback_on_writable(c->wsi);
	return 0;
}

int
client_push(struct client *c, const char *text, size_t len)
{
	return client_queue(c, text, len, 0);
}

static void
client_push_json(struct client *c, json_t *frame)
{
	char *text = json_dumps(frame, JSON_COMPACT);

	if (text != NULL) {
		client_queue(c, text, strlen(text), 1);
		free(text);
	}
	json_decref(frame);
}

static void
ws_error(struct client *c, json_t *ref, const char *code, const char *msg,
    json_t *extra)
{
	json_t *f = json_pack(
	    "{s:s,s:s,s:s}", "type", "error", "code", code, "message", msg);

	if (ref != NULL)
		json_object_set(f, "ref", ref);
	if (extra != NULL)
		json_object_update(f, extra);
	json_decref(extra);
	if (strcmp(code, "internal") == 0 || strcmp(code, "unavailable") == 0)
		metrics.errors++;
	client_push_json(c, f);
}

static void
op_work(uv_work_t *w)
{
	store_run((struct op *)w->data);
}

static void
op_after(uv_work_t *w, int status)
{
	struct op *op = w->data;

	(void)status;
	op->done(op);
}

static void
op_unqueued(struct op *op)
{
	op->status = 503;
	op->ecode = "unavailable";
	op->emsg = xstrdup("cannot queue the operation");
	op->done(op);
}

/*
 * WebSocket sends wait here while send_batch_workers batches are in the
 * pool; each batch takes up to send_batch_max of them into one
 * transaction. Under load the queue fills while the batches commit, so
 * the busier chatd is, the more sends share a commit; when idle a send
 * leaves at once in a batch of one.
 */
struct batch {
	uv_work_t work;
	struct op **ops;
	size_t n;
	int result; /* store_send_batch's */
};
static struct op **sendq;
static size_t nsendq, sendq_size;
static int nbatches;
static int batch_holding; /* completing a batch: queue, do not start */

static void batch_kick(void);

static void
batch_work(uv_work_t *w)
{
	struct batch *b = w->data;

	b->result = store_send_batch(b->ops, b->n);
}

static void
batch_after(uv_work_t *w, int status)
{
	struct batch *b = w->data;
	size_t i;

	(void)status;
	nbatches--;
	if (b->result > 0) {
		metrics.send_batches++;
		metrics.send_batched += b->n;
	} else if (b->result < 0)
		metrics.send_batch_retries++;
	/*
	 * Each reply may queue that socket's next send; hold them until all
	 * are in, so they leave together rather than the first one alone.
	 */
	batch_holding = 1;
	for (i = 0; i < b->n; i++)
		b->ops[i]->done(b->ops[i]);
	batch_holding = 0;
	free(b->ops);
	free(b);
	batch_kick();
}

static void
batch_kick(void)
{
	struct batch *b;
	size_t i, n;

	while (nsendq > 0 && nbatches < cfg.send_batch_workers) {
		n = nsendq < (size_t)cfg.send_batch_max
		    ? nsendq
		    : (size_t)cfg.send_batch_max;
		b = xcalloc(1, sizeof *b);
		b->ops = xreallocarray(NULL, n, sizeof *b->ops);
		memcpy(b->ops, sendq, n * sizeof *b->ops);
		b->n = n;
		nsendq -= n;
		memmove(sendq, sendq + n, nsendq * sizeof *sendq);
		b->work.data = b;
		nbatches++;
		if (uv_queue_work(loop, &b->work, batch_work, batch_after) !=
		    0) {
			nbatches--;
			for (i = 0; i < n; i++)
				op_unqueued(b->ops[i]);
			free(b->ops);
			free(b);
		}
	}
}

void
op_queue(struct op *op, void (*done)(struct op *))
{
	op->done = done;
	op->started_ns = now_ns();
	op->work.data = op;
	if (op->client != NULL)
		op->client->refs++;
	if (op->id == OP_SEND && op->from_ws && op->uid != 0) {
		if (nsendq == sendq_size) {
			sendq_size = sendq_size == 0 ? 64 : sendq_size * 2;
			sendq = xreallocarray(sendq, sendq_size, sizeof *sendq);
		}
		sendq[nsendq++] = op;
		if (!batch_holding)
			batch_kick();
		return;
	}
	if (uv_queue_work(loop, &op->work, op_work, op_after) != 0)
		op_unqueued(op);
}

/* Routes an operation's deliveries and drops the client reference. */
static void
op_finish(struct op *op)
{
	struct delivery *d;

	for (d = op->deliveries; d != NULL; d = d->next)
		route_deliver(d, op->client);
	if (op->client != NULL)
		client_unref(op->client);
	op->client = NULL;
	op_free(op);
}

/* HTTP. */

static void
peer_address(struct lws *wsi, char *out, size_t outsz)
{
	char real[64];

	lws_get_peer_simple(wsi, out, outsz);
	if (!cfg.trust_forwarded)
		return;
	if (strcmp(out, "127.0.0.1") != 0 && strcmp(out, "::1") != 0 &&
	    strcmp(out, "::ffff:127.0.0.1") != 0)
		return;
	if (lws_hdr_copy(wsi, real, sizeof real, WSI_TOKEN_HTTP_X_REAL_IP) > 0)
		snprintf(out, outsz, "%s", real);
}

static void
http_respond(
    struct client *c, int status, const char *type, char *body, size_t len)
{
	free(c->resp);
	c->resp_status = status;
	c->resp_type = type;
	c->resp = body;
	c->resp_len = len;
	c->resp_phase = 1;
	if (status >= 100 && status < 600)
		metrics.http_requests[status / 100]++;
	if (c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

static void
http_json(struct client *c, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	http_respond(c, status, "application/json", text, strlen(text));
}

static void
http_error(struct client *c, int status, const char *code, const char *msg)
{
	if (status >= 500)
		metrics.errors++;
	http_json(c, status,
	    json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

static void
http_done(struct op *op)
{
	struct client *c = op->client;

	if (c->wsi == NULL) {
		op_finish(op);
		return;
	}
	if (op->id == OP_READY) {
		if (op->status == 200)
			http_respond(
			    c, 200, "text/plain", xstrdup("ready\n"), 6);
		else
			http_json(c, 503,
			    json_pack("{s:b,s:b,s:b}", "mariadb", op->ready_db,
				"redis", op->ready_redis, "rabbitmq",
				op->ready_amqp));
	} else if (op->ecode != NULL) {
		c->retry_after = op->retry_after;
		http_error(c, op->status, op->ecode, op->emsg);
	} else {
		if (op->id == OP_SEND)
			metrics.messages_sent++;
		http_json(c, op->status, json_incref(op->out));
	}
	if (op->id == OP_LOGOUT && op->ecode == NULL)
		route_logout(op->token_hash, op->uid);
	if (op->id == OP_ACCOUNT_DELETE && op->ecode == NULL)
		route_account_gone(op->uid);
	op_finish(op);
}

static void
http_dispatch(struct client *c)
{
	struct op *op;
	json_error_t jerr;

	if (c->dispatched)
		return;
	c->dispatched = 1;
	op = xcalloc(1, sizeof *op);

	op->id = c->op;
	op->client = c;
	op->ids[0] = c->ids[0];
	op->ids[1] = c->ids[1];
	memcpy(op->token, c->token, sizeof op->token);
	snprintf(op->addr, sizeof op->addr, "%s", c->addr);
	if (c->query != NULL)
		op->query = xstrdup(c->query);
	if (c->body.len > 0)
		op->in = json_loadb(
		    c->body.data, c->body.len, JSON_REJECT_DUPLICATES, &jerr);
	op_queue(op, http_done);
}

static void
http_metrics(struct client *c)
{
	size_t len;
	char *text = metrics_render(&len);

	http_respond(c, 200, "text/plain; version=0.0.4", text, len);
}

static int
http_begin(struct lws *wsi, struct pss *pss, const char *path)
{
	struct route_match m;
	struct client *c;
	char auth[128], arg[512], clen[32];
	int i, n;

	c = pss->c = client_new(wsi, 0);
	peer_address(wsi, c->addr, sizeof c->addr);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		c->method = HTTP_GET;
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		c->method = HTTP_POST;
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0)
		c->method = HTTP_DELETE;
	else
		c->method = HTTP_OTHER;

	if (strcmp(path, "/healthz") == 0) {
		http_respond(c, 200, "text/plain", xstrdup("ok\n"), 3);
		return 0;
	}
	if (strcmp(path, "/metrics") == 0) {
		http_metrics(c);
		return 0;
	}
	if (strcmp(path, "/readyz") == 0) {
		c->op = OP_READY;
		http_dispatch(c);
		return 0;
	}
	if (shutting_down) {
		http_error(
		    c, 503, "unavailable", "the server is shutting down");
		return 0;
	}
	proto_route(c->method, path, strlen(path), &m);
	if (m.op == OP_NONE) {
		if (m.method_mismatch)
			http_error(c, 405, "method_not_allowed",
			    "method not allowed here");
		else
			http_error(c, 404, "not_found", "no such route");
		return 0;
	}
	c->op = m.op;
	c->ids[0] = m.ids[0];
	c->ids[1] = m.ids[1];

	if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) >
		7 &&
	    strncmp(auth, "Bearer ", 7) == 0 && strlen(auth + 7) == 64)
		memcpy(c->token, auth + 7, 65);

	for (i = 0; i < 16; i++) {
		n = lws_hdr_copy_fragment(
		    wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n <= 0)
			break;
		if (c->query == NULL)
			c->query = xstrdup(arg);
		else {
			char *q = xasprintf("%s&%s", c->query, arg);

			free(c->query);
			c->query = q;
		}
	}

	if ((c->method == HTTP_POST || c->method == HTTP_DELETE) &&
	    lws_hdr_copy(
		wsi, clen, sizeof clen, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		if (atoll(clen) > cfg.max_body_bytes) {
			http_error(
			    c, 413, "too_large", "the body is too large");
			return 0;
		}
		if (atoll(clen) > 0)
			return 0; /* wait for the body */
	}
	if (proto_op_needs_auth(c->op) && !proto_is_token(c->token)) {
		http_error(c, 401, "unauthorized", "a session token is needed");
		return 0;
	}
	http_dispatch(c);
	return 0;
}

static int
http_writeable(struct lws *wsi, struct client *c)
{
	unsigned char hbuf[LWS_PRE + 1024], *start = hbuf + LWS_PRE, *p = start,
					    *end = hbuf + sizeof hbuf;
	char ra[16];
	unsigned char *out;

	if (c == NULL || c->resp_phase == 0)
		return 0;
	if (c->resp_phase == 1) {
		if (lws_add_http_common_headers(wsi,
			(unsigned int)c->resp_status, c->resp_type,
			(lws_filepos_t)c->resp_len, &p, end) != 0)
			return -1;
		if (c->retry_after > 0) {
			snprintf(ra, sizeof ra, "%d", c->retry_after);
			if (lws_add_http_header_by_name(wsi,
				(const unsigned char *)"retry-after:",
				(const unsigned char *)ra, (int)strlen(ra), &p,
				end) != 0)
				return -1;
		}
		if (lws_add_http_header_by_name(wsi,
			(const unsigned char *)"cache-control:",
			(const unsigned char *)"no-store", 8, &p, end) != 0)
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end) != 0)
			return -1;
		c->resp_phase = 2;
		lws_callback_on_writable(wsi);
		return 0;
	}
	out = xmalloc(LWS_PRE + c->resp_len + 1);
	memcpy(out + LWS_PRE, c->resp, c->resp_len);
	if (lws_write(wsi, out + LWS_PRE, c->resp_len, LWS_WRITE_HTTP_FINAL) !=
	    (int)c->resp_len) {
		free(out);
		return -1;
	}
	free(out);
	c->resp_phase = 3;
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

/* WebSocket. */

static void ws_next(struct client *);

static void
ws_done(struct op *op)
{
	struct client *c = op->client;
	json_t *ref = op->frame.ref, *m, *extra = NULL;
	size_t i;

	c->busy = 0;
	if (c->wsi == NULL || c->close_code != 0) {
		op_finish(op);
		return;
	}
	ws_next(c);
	if (op->id == OP_AUTH)
		c->auth_pending = 0;
	if (op->ecode != NULL) {
		if (op->id == OP_SEND)
			extra = json_pack(
			    "{s:s}", "client_msg_id", op->frame.client_msg_id);
		ws_error(c, ref, op->ecode, op->emsg, extra);
		if (op->id == OP_AUTH)
			client_close(c, 4001, "unauthorized");
		op_finish(op);
		return;
	}
	switch (op->id) {
	case OP_AUTH:
		c->authed = 1;
		c->uid = op->uid;
		memcpy(c->token_hash, op->token_hash, sizeof c->token_hash);
		lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
		metrics.ws_authed++;
		route_attach(c);
		m = json_pack("{s:s,s:O,s:s}", "type", "auth_ok", "user",
		    json_object_get(op->out, "user"), "instance",
		    cfg.instance_id);
		break;
	case OP_SEND:
		m = json_object_get(op->out, "message");
		if (json_is_true(json_object_get(op->out, "duplicate")))
			metrics.messages_duplicate++;
		else {
			metrics.messages_sent++;
			metrics_observe_send(
			    (double)(now_ns() - op->started_ns) / 1e9);
		}
		m = json_pack("{s:s,s:O,s:O,s:O,s:O,s:O,s:O}", "type", "ack",
		    "client_msg_id", json_object_get(m, "client_msg_id"),
		    "conversation_id", json_object_get(m, "conversation_id"),
		    "message_id", json_object_get(m, "id"), "seq",
		    json_object_get(m, "seq"), "created_at",
		    json_object_get(m, "created_at"), "duplicate",
		    json_object_get(op->out, "duplicate"));
		break;
	case OP_SYNC:
		for (i = 0; i < json_array_size(op->frames); i++)
			client_push_json(
			    c, json_incref(json_array_get(op->frames, i)));
		m = json_pack("{s:s,s:O}", "type", "synced", "conversations",
		    json_object_get(op->out, "conversations"));
		break;
	case OP_READ:
		m = json_pack("{s:s,s:O,s:O}", "type", "read_ok",
		    "conversation_id",
		    json_object_get(op->out, "conversation_id"), "read_seq",
		    json_object_get(op->out, "read_seq"));
		break;
	default:
		m = json_pack("{s:s}", "type", "ok");
		break;
	}
	if (ref != NULL)
		json_object_set(m, "ref", ref);
	client_push_json(c, m);
	op_finish(op);
}

/*
 * One operation in flight per socket, so a client's frames are answered
 * (and its messages sequenced) in the order it sent them.
 */
static void
ws_next(struct client *c)
{
	struct op *op;

	if (c->busy || c->pending_head == c->npending)
		return;
	op = c->pending[c->pending_head++];
	if (c->pending_head == c->npending)
		c->pending_head = c->npending = 0;
	c->busy = 1;
	op_queue(op, ws_done);
}

static void
ws_enqueue(struct client *c, struct op *op)
{
	if (c->npending - c->pending_head >= (size_t)cfg.send_queue_max) {
		metrics.dropped_slow++;
		op->client = NULL;
		op_free(op);
		client_close(c, 4002, "too many frames in flight");
		return;
	}
	if (c->pending_head > 0) {
		memmove(c->pending, c->pending + c->pending_head,
		    (c->npending - c->pending_head) * sizeof *c->pending);
		c->npending -= c->pending_head;
		c->pending_head = 0;
	}
	c->pending =
	    xreallocarray(c->pending, c->npending + 1, sizeof *c->pending);
	c->pending[c->npending++] = op;
	ws_next(c);
}

static void
ws_frame(struct client *c, const char *data, size_t len)
{
	struct frame f;
	struct op *op;
	const char *code;
	char *cause = NULL;
	uint64_t retry = 0;
	json_t *pong;

	if (proto_parse_frame(data, len, &f, &code, &cause) != 0) {
		metrics.bad_frames++;
		ws_error(c, f.ref, code, cause, NULL);
		free(cause);
		proto_frame_free(&f);
		if (!c->authed) {
			client_close(c, 4001, "unauthorized");
			return;
		}
		if (++c->bad_frames > WS_BAD_FRAMES_MAX)
			client_close(c, 4003, "too many malformed frames");
		return;
	}
	if (!c->authed && (f.type != FRAME_AUTH || c->auth_pending)) {
		ws_error(c, f.ref, "unauthorized",
		    "the first frame must be auth", NULL);
		proto_frame_free(&f);
		client_close(c, 4001, "unauthorized");
		return;
	}
	if (c->authed && f.type == FRAME_AUTH) {
		ws_error(
		    c, f.ref, "bad_request", "already authenticated", NULL);
		proto_frame_free(&f);
		return;
	}
	if (f.type == FRAME_PING) {
		pong = json_pack("{s:s}", "type", "pong");
		if (f.ref != NULL)
			json_object_set(pong, "ref", f.ref);
		client_push_json(c, pong);
		proto_frame_free(&f);
		return;
	}
	if (f.type == FRAME_SEND && route_rate_take(c->uid, &retry) != 0) {
		metrics.rate_limited++;
		ws_error(c, f.ref, "rate_limited", "sending too fast",
		    json_pack("{s:s,s:I}", "client_msg_id", f.client_msg_id,
			"retry_after_ms", (json_int_t)retry));
		proto_frame_free(&f);
		return;
	}

	op = xcalloc(1, sizeof *op);
	op->client = c;
	op->from_ws = 1;
	op->uid = c->uid;
	switch (f.type) {
	case FRAME_AUTH:
		op->id = OP_AUTH;
		memcpy(op->token, f.token, sizeof op->token);
		c->auth_pending = 1;
		break;
	case FRAME_SEND:
		op->id = OP_SEND;
		break;
	case FRAME_SYNC:
		op->id = OP_SYNC;
		break;
	case FRAME_READ:
	default:
		op->id = OP_READ;
		break;
	}
	op->frame = f; /* moves ownership */
	ws_enqueue(c, op);
}

static void
ws_receive(struct lws *wsi, struct client *c, const void *in, size_t len)
{
	if (c->close_code != 0)
		return;
	if (c->rx.len + len > (size_t)cfg.max_frame_bytes) {
		c->rx_too_big = 1;
		buf_reset(&c->rx);
	}
	if (!c->rx_too_big)
		buf_add(&c->rx, in, len);
	if (!lws_is_final_fragment(wsi) ||
	    lws_remaining_packet_payload(wsi) > 0)
		return;
	if (c->rx_too_big) {
		metrics.bad_frames++;
		ws_error(c, NULL, "too_large", "the frame is too large", NULL);
		client_close(c, 1009, "frame too large");
		return;
	}
	if (lws_frame_is_binary(wsi)) {
		ws_error(c, NULL, "bad_json", "binary frames are not accepted",
		    NULL);
		buf_reset(&c->rx);
		return;
	}
	ws_frame(c, c->rx.data != NULL ? c->rx.data : "", c->rx.len);
	buf_reset(&c->rx);
}

/*
 * Sends the close frame ourselves: lws 4.1 drops the reason given with
 * lws_close_reason when the callback returns -1 from WRITEABLE.
 */
static int
ws_send_close(struct lws *wsi, struct client *c)
{
	unsigned char buf[LWS_PRE + 128];
	size_t rlen = strlen(c->close_reason);

	if (rlen > 100)
		rlen = 100;
	buf[LWS_PRE] = (unsigned char)(c->close_code >> 8);
	buf[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
	memcpy(buf + LWS_PRE + 2, c->close_reason, rlen);
	/* 4 is the close opcode (LWS_WRITE_CLOSE, private in 4.1). */
	lws_write(wsi, buf + LWS_PRE, rlen + 2, (enum lws_write_protocol)4);
	return -1;
}

static int
ws_writeable(struct lws *wsi, struct client *c)
{
	struct outmsg *m;

	/* A dropped client gets nothing more; others get what is queued. */
	if (c->close_code != 0 &&
	    (c->qhead == NULL || c->close_code == 4002 ||
		c->close_code == 1009))
		return ws_send_close(wsi, c);
	if ((m = c->qhead) == NULL)
		return 0;
	if (lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) <
	    (int)m->len)
		return -1;
	c->qhead = m->next;
	if (c->qhead == NULL)
		c->qtail = NULL;
	c->qlen--;
	free(m);
	if (c->qhead != NULL || c->close_code != 0)
		lws_callback_on_writable(wsi);
	return 0;
}

static void
ws_closed(struct client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = c->pending_head; i < c->npending; i++) {
		c->pending[i]->client = NULL;
		op_free(c->pending[i]);
	}
	free(c->pending);
	c->pending = NULL;
	c->npending = c->pending_head = 0;
	if (c->authed)
		route_detach(c);
	if (c->prev_all != NULL)
		c->prev_all->next_all = c->next_all;
	else if (all_ws == c)
		all_ws = c->next_all;
	if (c->next_all != NULL)
		c->next_all->prev_all = c->prev_all;
	metrics.connections--;
	c->wsi = NULL;
	client_unref(c);
}

static int
is_ws_path(struct lws *wsi)
{
	char uri[64];

	return lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) > 0 &&
	    strcmp(uri, "/ws") == 0;
}

static int
server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *pss = user;
	struct client *c = pss != NULL ? pss->c : NULL;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (shutting_down || !is_ws_path(wsi))
			return 1;
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (c != NULL) {
			c->wsi = NULL;
			client_unref(c);
		}
		c = pss->c = client_new(wsi, 1);
		peer_address(wsi, c->addr, sizeof c->addr);
		c->next_all = all_ws;
		if (all_ws != NULL)
			all_ws->prev_all = c;
		all_ws = c;
		metrics.connections++;
		lws_set_timeout(
		    wsi, PENDING_TIMEOUT_USER_OK, AUTH_TIMEOUT_SECS);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c != NULL)
			ws_receive(wsi, c, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c != NULL ? ws_writeable(wsi, c) : 0;
	case LWS_CALLBACK_CLOSED:
		ws_closed(c);
		pss->c = NULL;
		return 0;

	case LWS_CALLBACK_HTTP:
		if (c != NULL) {
			c->wsi = NULL;
			client_unref(c);
		}
		return http_begin(wsi, pss, in != NULL ? in : "/");
	case LWS_CALLBACK_HTTP_BODY:
		if (c == NULL || c->resp_phase != 0 || c->dispatched)
			return 0;
		if (c->body.len + len > (size_t)cfg.max_body_bytes)
			c->body_too_large = 1;
		else
			buf_add(&c->body, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (c == NULL || c->resp_phase != 0 || c->dispatched)
			return 0;
		if (c->body_too_large)
			http_error(
			    c, 413, "too_large", "the body is too large");
		else if (proto_op_needs_auth(c->op) &&
		    !proto_is_token(c->token))
			http_error(c, 401, "unauthorized",
			    "a session token is needed");
		else
			http_dispatch(c);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(wsi, c);
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c != NULL) {
			c->wsi = NULL;
			client_unref(c);
			pss->c = NULL;
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"chatd", server_callback, sizeof(struct pss), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static const lws_retry_bo_t retry_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 60,
};

static void
lws_log(int level, const char *line)
{
	char *copy = xstrdup(line), *nl;

	if ((nl = strchr(copy, '\n')) != NULL)
		*nl = '\0';
	if (level & LLL_ERR)
		log_error("lws: %s", copy);
	else if (level & LLL_WARN)
		log_warn("lws: %s", copy);
	else
		log_debug("lws: %s", copy);
	free(copy);
}

int
server_start(char **cause)
{
	struct lws_context_creation_info info;
	void *foreign[1];

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memset(&info, 0, sizeof info);
	info.port = cfg.listen_port;
	info.iface = cfg.listen_address;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV |
	    LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8;
	foreign[0] = loop;
	info.foreign_loops = foreign;
	info.pcontext = &context;
	info.retry_and_idle_policy = &retry_policy;
	info.timeout_secs = 30;
	info.max_http_header_data = 4096;
	info.count_threads = 1;
	info.fd_limit_per_thread = 0;
	info.pt_serv_buf_size = 16384;
	if ((context = lws_create_context(&info)) == NULL) {
		*cause = xasprintf("cannot listen on %s:%d", cfg.listen_address,
		    cfg.listen_port);
		return -1;
	}
	return 0;
}

/* Asks every socket to close with 1001 before the context goes. */
void
server_shutdown(void)
{
	struct client *c;

	shutting_down = 1;
	for (c = all_ws; c != NULL; c = c->next_all)
		client_close(c, 1001, "server shutting down");
}

void
server_destroy(void)
{
	if (context != NULL)
		lws_context_destroy(context);
	context = NULL;
}
