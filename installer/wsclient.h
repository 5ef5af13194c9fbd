/*
 * A minimal WebSocket client over TLS (RFC 6455), for the end-to-end
 * check: text frames only, client frames masked, pings answered.
 */
#ifndef WSCLIENT_H
#define WSCLIENT_H

struct ws;

/*
 * Connects to addr:port, speaks TLS for host (SNI and verification
 * against ca_file, or the system store when NULL) and upgrades path.
 * Returns NULL with *cause set.
 */
struct ws *ws_connect(const char *addr, int port, const char *host,
    const char *ca_file, const char *path, char **cause);
int ws_send_text(struct ws *, const char *text, char **cause);
/* Returns the next text frame (allocated), or NULL with *cause set. */
char *ws_recv_text(struct ws *, int timeout_ms, char **cause);
void ws_close(struct ws *);

#endif
