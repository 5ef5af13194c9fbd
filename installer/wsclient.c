/*
 * The end-to-end check's WebSocket client: one libwebsockets client
 * context per connection, driven only while a call of ours waits. Every
 * wait ends at a deadline set with a libwebsockets timer, since the
 * service loop itself would sleep until the next event.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "log.h"
#include "wsclient.h"
#include "xmalloc.h"

#define WS_MAX_MESSAGE (1024 * 1024)
#define WS_CONNECT_MS 15000
#define WS_SEND_MS 10000
#define WS_CLOSE_MS 2000

enum ws_state {
	WS_CONNECTING,
	WS_OPEN,
	WS_CLOSING,
	WS_GONE,
};

struct ws_msg {
	struct ws_msg *next;
	char *text;
	size_t len;
};

struct ws {
	struct lws_context *ctx;
	struct lws *wsi;
	enum ws_state state;
	const char *ca_file;
	const char *addr, *host, *path;
	int port;
	char *error; /* why the connection failed or ended */
	int close_code;

	struct buf rx; /* the message being received */
	int rx_oversize;
	struct ws_msg *in, **in_tail; /* complete messages, oldest first */
	struct ws_msg *out, **out_tail; /* messages waiting to be written */

	lws_sorted_usec_list_t sul;
	int expired;
};

static void
ws_msg_free(struct ws_msg *m)
{
	if (m == NULL)
		return;
	explicit_bzero(m->text, m->len);
	free(m->text);
	free(m);
}

static void
ws_push(struct ws_msg ***tail, const char *text, size_t len)
{
	struct ws_msg *m;

	m = xcalloc(1, sizeof *m);
	m->text = xmalloc(LWS_PRE + len + 1);
	memcpy(m->text + LWS_PRE, text, len);
	m->text[LWS_PRE + len] = '\0';
	m->len = LWS_PRE + len;
	**tail = m;
	*tail = &m->next;
}

static struct ws_msg *
ws_pop(struct ws_msg **head, struct ws_msg ***tail)
{
	struct ws_msg *m = *head;

	if (m == NULL)
		return NULL;
	*head = m->next;
	if (*head == NULL)
		*tail = head;
	m->next = NULL;
	return m;
}

static void ws_fail(struct ws *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ws_fail(struct ws *w, const char *fmt, ...)
{
	va_list ap;

	w->state = WS_GONE;
	w->wsi = NULL;
	if (w->error != NULL)
		return;
	va_start(ap, fmt);
	w->error = xvasprintf(fmt, ap);
	va_end(ap);
}

/* libwebsockets' own messages are details: debug level, escaped. */
static void
ws_lws_log(int level, const char *line)
{
	char *trimmed, *esc;
	size_t len = strlen(line);

	(void)level;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	trimmed = xasprintf("%.*s", (int)len, line);
	esc = str_escape(trimmed);
	log_debug("libwebsockets: %s", esc);
	free(esc);
	free(trimmed);
}

static void
ws_received(struct ws *w, struct lws *wsi, const void *in, size_t len)
{
	if (w->rx.len + len > WS_MAX_MESSAGE)
		w->rx_oversize = 1;
	else
		buf_add(&w->rx, in, len);
	if (!lws_is_final_fragment(wsi) ||
	    lws_remaining_packet_payload(wsi) != 0)
		return;
	if (!w->rx_oversize && !lws_frame_is_binary(wsi))
		ws_push(&w->in_tail, w->rx.data != NULL ? w->rx.data : "",
		    w->rx.len);
	else
		log_warn("websocket: dropped a message that is binary or "
			 "over %d bytes",
		    WS_MAX_MESSAGE);
	buf_wipe(&w->rx);
	w->rx_oversize = 0;
}

static int
ws_writeable(struct ws *w, struct lws *wsi)
{
	struct ws_msg *m;
	size_t len;

	if (w->state == WS_CLOSING) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if ((m = ws_pop(&w->out, &w->out_tail)) == NULL)
		return 0;
	len = m->len - LWS_PRE;
	if (lws_write(wsi, (unsigned char *)m->text + LWS_PRE, len,
		LWS_WRITE_TEXT) < (int)len) {
		ws_msg_free(m);
		ws_fail(w, "websocket: the write failed");
		return -1;
	}
	ws_msg_free(m);
	if (w->out != NULL)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Says why the connection failed, naming a refused certificate. */
static void
ws_connect_error(struct ws *w, struct lws *wsi, const char *why)
{
	SSL *ssl = wsi != NULL ? lws_get_ssl(wsi) : NULL;
	long v;

	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		ws_fail(w, "the certificate of %s was refused (%s): %s",
		    w->host,
		    w->ca_file != NULL ? w->ca_file : "the system's CAs",
		    X509_verify_cert_error_string(v));
		return;
	}
	if (why != NULL && strstr(why, "not 101") != NULL) {
		ws_fail(w, "%s did not upgrade to a WebSocket", w->path);
		return;
	}
	ws_fail(w, "%s port %d: %s", w->addr, w->port,
	    why != NULL ? why : "the connection failed");
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct lws_context *ctx = wsi != NULL ? lws_get_context(wsi) : NULL;
	struct ws *w = ctx != NULL ? lws_context_user(ctx) : NULL;
	const unsigned char *p = in;

	if (w == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS:
		/* No CA file given: the system's trust store, as OpenSSL
		 * defines it (libwebsockets would look in its own folder). */
		if (w->ca_file == NULL &&
		    SSL_CTX_set_default_verify_paths((SSL_CTX *)user) != 1)
			log_warn("cannot load the system's CA certificates");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		w->state = WS_OPEN;
		if (w->out != NULL)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		ws_connect_error(w, wsi, in);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		ws_received(w, wsi, in, len);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws_writeable(w, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2)
			w->close_code = p[0] << 8 | p[1];
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (w->close_code != 0)
			ws_fail(w, "the server closed the websocket (%d)",
			    w->close_code);
		else
			ws_fail(w, "the server closed the websocket");
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols ws_protocols[] = {
    {"chatstack-check", ws_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void
ws_expire(lws_sorted_usec_list_t *sul)
{
	struct ws *w = lws_container_of(sul, struct ws, sul);

	w->expired = 1;
	/* Timers run before the poll, which would then sleep on until the
	 * next event: wake it, so the wait ends now. */
	lws_cancel_service(w->ctx);
}

/*
 * Runs the loop until done(w) or timeout_ms passed; 0 when done, -1
 * when the time ran out or the connection ended first.
 */
static int
ws_wait(struct ws *w, int (*done)(struct ws *), int timeout_ms)
{
	w->expired = 0;
	lws_sul_schedule(
	    w->ctx, 0, &w->sul, ws_expire, (lws_usec_t)timeout_ms * 1000);
	while (!done(w) && w->state != WS_GONE && !w->expired) {
		if (lws_service(w->ctx, 0) < 0) {
			ws_fail(w, "the websocket loop failed");
			break;
		}
	}
	lws_sul_cancel(&w->sul);
	return done(w) ? 0 : -1;
}

static int
ws_is_open(struct ws *w)
{
	return w->state == WS_OPEN;
}

static int
ws_has_input(struct ws *w)
{
	return w->in != NULL;
}

static int
ws_sent_all(struct ws *w)
{
	return w->out == NULL;
}

static int
ws_is_gone(struct ws *w)
{
	return w->state == WS_GONE;
}

/* The cause for a wait that ended without its result. */
static char *
ws_cause(struct ws *w, const char *what)
{
	char *esc, *cause;

	if (w->error == NULL)
		return xasprintf("websocket: no %s in time", what);
	esc = str_escape(w->error);
	cause = xasprintf("websocket: %s", esc);
	free(esc);
	return cause;
}

void
ws_close(struct ws *w)
{
	struct ws_msg *m;

	if (w == NULL)
		return;
	if (w->ctx != NULL && w->wsi != NULL && w->state == WS_OPEN) {
		w->state = WS_CLOSING;
		lws_callback_on_writable(w->wsi);
		ws_wait(w, ws_is_gone, WS_CLOSE_MS);
	}
	if (w->ctx != NULL)
		lws_context_destroy(w->ctx);
	while ((m = ws_pop(&w->in, &w->in_tail)) != NULL)
		ws_msg_free(m);
	while ((m = ws_pop(&w->out, &w->out_tail)) != NULL)
		ws_msg_free(m);
	buf_wipe(&w->rx);
	buf_free(&w->rx);
	free(w->error);
	free(w);
}

struct ws *
ws_connect(const char *addr, int port, const char *host, const char *ca_file,
    const char *path, char **cause)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	struct ws *w;
	char *origin;

	w = xcalloc(1, sizeof *w);
	w->in_tail = &w->in;
	w->out_tail = &w->out;
	w->ca_file = ca_file;
	w->addr = addr;
	w->port = port;
	w->host = host;
	w->path = path;
	buf_init(&w->rx);

	lws_set_log_level(LLL_ERR | LLL_WARN, ws_lws_log);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = w;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = ca_file;
	info.ssl_client_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1;
	info.fd_limit_per_thread = 16;
	info.timeout_secs = WS_CONNECT_MS / 1000;
	info.connect_timeout_secs = WS_CONNECT_MS / 1000;
	if ((w->ctx = lws_create_context(&info)) == NULL) {
		*cause = xstrdup("websocket: cannot set up libwebsockets (TLS "
				 "or CA certificates)");
		goto fail;
	}

	/* Connect to addr while naming host (SNI, certificate, Host). */
	origin = xasprintf("https://%s", host);
	memset(&ci, 0, sizeof ci);
	ci.context = w->ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = path;
	ci.host = host;
	ci.origin = origin;
	ci.alpn = "http/1.1";
	ci.ssl_connection = LCCSCF_USE_SSL;
	ci.ietf_version_or_minus_one = -1;
	ci.local_protocol_name = ws_protocols[0].name;
	ci.pwsi = &w->wsi;
	if (lws_client_connect_via_info(&ci) == NULL && w->error == NULL)
		ws_fail(
		    w, "cannot start a connection to %s port %d", addr, port);
	free(origin);
	if (ws_wait(w, ws_is_open, WS_CONNECT_MS) != 0) {
		*cause = ws_cause(w, "upgrade");
		goto fail;
	}
	return w;
fail:
	ws_close(w);
	return NULL;
}

int
ws_send_text(struct ws *w, const char *text, char **cause)
{
	if (w->state != WS_OPEN) {
		*cause = ws_cause(w, "connection");
		return -1;
	}
	ws_push(&w->out_tail, text, strlen(text));
	lws_callback_on_writable(w->wsi);
	if (ws_wait(w, ws_sent_all, WS_SEND_MS) != 0) {
		*cause = ws_cause(w, "room to write");
		return -1;
	}
	return 0;
}

char *
ws_recv_text(struct ws *w, int timeout_ms, char **cause)
{
	struct ws_msg *m;
	char *text;

	if (w->in == NULL && ws_wait(w, ws_has_input, timeout_ms) != 0) {
		*cause = ws_cause(w, "message");
		return NULL;
	}
	m = ws_pop(&w->in, &w->in_tail);
	text = xstrdup(m->text + LWS_PRE);
	ws_msg_free(m);
	return text;
}
