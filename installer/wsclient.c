/*
 * XXX a hand-written WebSocket client for the end-to-end check; the
 * project's rule is libwebsockets for WebSocket framing. To be replaced
 * (docs/known-issues.md).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "wsclient.h"
#include "xmalloc.h"

#define WS_MAX_FRAME (1024 * 1024)

struct ws {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

static char *
ws_ssl_error(const char *what)
{
	char buf[256];
	unsigned long e;

	if ((e = ERR_get_error()) == 0)
		return xasprintf("%s failed", what);
	ERR_error_string_n(e, buf, sizeof buf);
	return xasprintf("%s failed: %s", what, buf);
}

void
ws_close(struct ws *w)
{
	if (w == NULL)
		return;
	if (w->ssl != NULL) {
		SSL_shutdown(w->ssl);
		SSL_free(w->ssl);
	}
	if (w->ctx != NULL)
		SSL_CTX_free(w->ctx);
	if (w->fd != -1)
		close(w->fd);
	free(w);
}

static int
ws_write(struct ws *w, const void *data, size_t len, char **cause)
{
	size_t done = 0;
	int n;

	while (done < len) {
		n = SSL_write(
		    w->ssl, (const char *)data + done, (int)(len - done));
		if (n <= 0) {
			*cause = ws_ssl_error("websocket write");
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int
ws_read(struct ws *w, void *data, size_t len, int timeout_ms, char **cause)
{
	struct pollfd pfd;
	size_t done = 0;
	int n;

	while (done < len) {
		if (SSL_pending(w->ssl) == 0) {
			pfd.fd = w->fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, timeout_ms) <= 0) {
				*cause =
				    xstrdup("websocket: no answer in time");
				return -1;
			}
		}
		n = SSL_read(w->ssl, (char *)data + done, (int)(len - done));
		if (n <= 0) {
			if (SSL_get_error(w->ssl, n) == SSL_ERROR_WANT_READ)
				continue;
			*cause = xstrdup("websocket: the server closed the "
					 "connection");
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int
ws_tcp(const char *addr, int port, char **cause)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[16];
	int fd = -1, error;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof service, "%d", port);
	if ((error = getaddrinfo(addr, service, &hints, &res)) != 0) {
		*cause = xasprintf(
		    "cannot resolve '%s': %s", addr, gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		*cause = xasprintf("cannot connect to %s port %d: %s", addr,
		    port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

struct ws *
ws_connect(const char *addr, int port, const char *host, const char *ca_file,
    const char *path, char **cause)
{
	struct ws *w;
	unsigned char key[16];
	char key64[32], req[1024], resp[4096];
	size_t len = 0;
	int status = 0;

	w = xcalloc(1, sizeof *w);
	w->fd = -1;
	if ((w->fd = ws_tcp(addr, port, cause)) == -1)
		goto fail;
	if ((w->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*cause = ws_ssl_error("TLS setup");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(w->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(w->ctx, SSL_VERIFY_PEER, NULL);
	if ((ca_file != NULL &&
		SSL_CTX_load_verify_locations(w->ctx, ca_file, NULL) != 1) ||
	    (ca_file == NULL &&
		SSL_CTX_set_default_verify_paths(w->ctx) != 1)) {
		*cause = ws_ssl_error("loading the CA certificates");
		goto fail;
	}
	w->ssl = SSL_new(w->ctx);
	SSL_set_fd(w->ssl, w->fd);
	SSL_set_tlsext_host_name(w->ssl, host);
	SSL_set1_host(w->ssl, host);
	if (SSL_connect(w->ssl) != 1) {
		*cause = ws_ssl_error("TLS handshake");
		goto fail;
	}

	RAND_bytes(key, sizeof key);
	EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
	snprintf(req, sizeof req,
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n",
	    path, host, key64);
	if (ws_write(w, req, strlen(req), cause) == -1)
		goto fail;
	while (len < sizeof resp - 1) {
		if (ws_read(w, resp + len, 1, 10000, cause) == -1)
			goto fail;
		len++;
		resp[len] = '\0';
		if (len >= 4 && strcmp(resp + len - 4, "\r\n\r\n") == 0)
			break;
	}
	if (sscanf(resp, "HTTP/1.1 %d", &status) != 1 || status != 101) {
		*cause = xasprintf("%s did not upgrade to a websocket "
				   "(status %d)",
		    path, status);
		goto fail;
	}
	return w;
fail:
	ws_close(w);
	return NULL;
}

static int
ws_send_frame(
    struct ws *w, int opcode, const void *data, size_t len, char **cause)
{
	struct buf f = BUF_INIT;
	unsigned char mask[4];
	const unsigned char *p = data;
	size_t i;
	int rc;

	buf_addc(&f, (char)(0x80 | opcode));
	if (len < 126)
		buf_addc(&f, (char)(0x80 | len));
	else if (len < 65536) {
		buf_addc(&f, (char)(0x80 | 126));
		buf_addc(&f, (char)(len >> 8));
		buf_addc(&f, (char)len);
	} else {
		buf_addc(&f, (char)(0x80 | 127));
		for (i = 0; i < 8; i++)
			buf_addc(&f, (char)((uint64_t)len >> (56 - 8 * i)));
	}
	RAND_bytes(mask, sizeof mask);
	buf_add(&f, mask, 4);
	for (i = 0; i < len; i++)
		buf_addc(&f, (char)(p[i] ^ mask[i % 4]));
	rc = ws_write(w, f.data, f.len, cause);
	buf_free(&f);
	return rc;
}

int
ws_send_text(struct ws *w, const char *text, char **cause)
{
	return ws_send_frame(w, 1, text, strlen(text), cause);
}

char *
ws_recv_text(struct ws *w, int timeout_ms, char **cause)
{
	unsigned char hdr[2], ext[8];
	uint64_t len;
	char *payload;
	int opcode, i;

	for (;;) {
		if (ws_read(w, hdr, 2, timeout_ms, cause) == -1)
			return NULL;
		opcode = hdr[0] & 0x0f;
		len = hdr[1] & 0x7f;
		if (len == 126) {
			if (ws_read(w, ext, 2, timeout_ms, cause) == -1)
				return NULL;
			len = (uint64_t)ext[0] << 8 | ext[1];
		} else if (len == 127) {
			if (ws_read(w, ext, 8, timeout_ms, cause) == -1)
				return NULL;
			for (len = 0, i = 0; i < 8; i++)
				len = len << 8 | ext[i];
		}
		if (len > WS_MAX_FRAME) {
			*cause = xstrdup("websocket: oversize frame");
			return NULL;
		}
		payload = xmalloc(len + 1);
		if (ws_read(w, payload, len, timeout_ms, cause) == -1) {
			free(payload);
			return NULL;
		}
		payload[len] = '\0';
		if (opcode == 1)
			return payload;
		if (opcode == 9)
			ws_send_frame(w, 10, payload, len, cause);
		if (opcode == 8) {
			*cause = xstrdup("websocket: the server closed it");
			free(payload);
			return NULL;
		}
		free(payload);
	}
}
