/*
 * The end-to-end check's WebSocket client, on libwebsockets: text
 * messages over TLS, pings answered by the library. Every call that
 * waits is bounded.
 */
#ifndef WSCLIENT_H
#define WSCLIENT_H

struct ws;

/*
 * Connects to addr:port while naming host (SNI, certificate check and
 * Host header), verifying against ca_file or, when NULL, the system's
 * trust store, and upgrades path. Gives up after 15 s. Returns NULL
 * with *cause set.
 */
struct ws *ws_connect(const char *addr, int port, const char *host,
    const char *ca_file, const char *path, char **cause);
/* Queues text and waits (at most 10 s) until it is written. */
int ws_send_text(struct ws *, const char *text, char **cause);
/*
 * Returns the next text message (allocated, the caller frees it), or
 * NULL with *cause set when none came within timeout_ms or the
 * connection ended.
 */
char *ws_recv_text(struct ws *, int timeout_ms, char **cause);
/* Closes cleanly (at most 2 s) and frees; NULL is fine. */
void ws_close(struct ws *);

#endif
