/*
 * Small protocol clients for health gates (probe.h). They speak just
 * enough of each protocol to prove a login works, over loopback or the
 * private address, with a short timeout on every socket operation.
 * XXX they should be libcurl, hiredis and rabbitmq-c, the libraries the
 * project chose for these protocols (docs/known-issues.md).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "probe.h"
#include "xmalloc.h"

#define PROBE_TIMEOUT_S 3

static int
probe_connect(const char *host, int port, char **cause)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = {PROBE_TIMEOUT_S, 0};
	char service[16];
	int fd = -1, error;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof service, "%d", port);
	if ((error = getaddrinfo(host, service, &hints, &res)) != 0) {
		*cause = xasprintf(
		    "cannot resolve '%s': %s", host, gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		*cause = xasprintf("nothing answers on %s port %d: %s", host,
		    port, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static int
probe_send(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until want bytes, or the peer stops; returns the count. */
static size_t
probe_recv(int fd, char *buf, size_t want)
{
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = recv(fd, buf + got, want - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Reads one line ending in \r\n into buf (without it). */
static int
probe_line(int fd, char *buf, size_t len)
{
	size_t i = 0;
	char c;

	while (i + 1 < len) {
		if (recv(fd, &c, 1, 0) != 1)
			return -1;
		if (c == '\n')
			break;
		if (c != '\r')
			buf[i++] = c;
	}
	buf[i] = '\0';
	return 0;
}

static void
probe_redis_arg(struct buf *b, const char *s)
{
	buf_printf(b, "$%zu\r\n%s\r\n", strlen(s), s);
}

int
probe_redis(const char *host, int port, const char *user, const char *password,
    char **cause)
{
	struct buf b = BUF_INIT;
	char line[256];
	int fd, rc = -1;

	if ((fd = probe_connect(host, port, cause)) == -1)
		return -1;
	buf_adds(&b, "*3\r\n");
	probe_redis_arg(&b, "AUTH");
	probe_redis_arg(&b, user);
	probe_redis_arg(&b, password);
	buf_adds(&b, "*1\r\n");
	probe_redis_arg(&b, "PING");
	if (probe_send(fd, b.data, b.len) == -1) {
		*cause = xasprintf("redis on %s port %d closed the "
				   "connection",
		    host, port);
		goto out;
	}
	if (probe_line(fd, line, sizeof line) == -1 ||
	    strcmp(line, "+OK") != 0) {
		*cause =
		    xasprintf("redis refused user '%s': %.100s", user, line);
		goto out;
	}
	if (probe_line(fd, line, sizeof line) == -1 ||
	    strcmp(line, "+PONG") != 0) {
		*cause = xasprintf("redis did not answer PING: %.100s", line);
		goto out;
	}
	rc = 0;
out:
	buf_wipe(&b);
	close(fd);
	return rc;
}

int
probe_redis_noauth(const char *host, int port, char **cause)
{
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	char line[256];
	int fd, rc = -1;

	if ((fd = probe_connect(host, port, cause)) == -1)
		return -1;
	if (probe_send(fd, ping, sizeof ping - 1) == -1 ||
	    probe_line(fd, line, sizeof line) == -1) {
		*cause =
		    xasprintf("redis on %s port %d did not answer", host, port);
		goto out;
	}
	if (strncmp(line, "-NOAUTH", 7) != 0) {
		*cause = xasprintf("redis on %s port %d answers without "
				   "authentication: %.60s",
		    host, port, line);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* AMQP 0-9-1: a method frame's header and class/method ids. */
struct amqp_frame {
	uint8_t type;
	uint16_t channel;
	uint32_t size;
	uint16_t class_id;
	uint16_t method_id;
};

static int
probe_amqp_read(int fd, struct amqp_frame *f, char **cause)
{
	unsigned char hdr[7], *body = NULL;
	int rc = -1;

	if (probe_recv(fd, (char *)hdr, 7) != 7) {
		*cause = xstrdup("rabbitmq closed the connection");
		return -1;
	}
	f->type = hdr[0];
	f->channel = (uint16_t)(hdr[1] << 8 | hdr[2]);
	f->size = (uint32_t)hdr[3] << 24 | (uint32_t)hdr[4] << 16 |
	    (uint32_t)hdr[5] << 8 | hdr[6];
	if (f->size > 1024 * 1024) {
		*cause = xstrdup("rabbitmq sent an oversize frame");
		return -1;
	}
	body = xmalloc(f->size + 1);
	if (probe_recv(fd, (char *)body, f->size + 1) != f->size + 1) {
		*cause = xstrdup("rabbitmq closed the connection");
		goto out;
	}
	if (f->type == 1 && f->size >= 4) {
		f->class_id = (uint16_t)(body[0] << 8 | body[1]);
		f->method_id = (uint16_t)(body[2] << 8 | body[3]);
	}
	rc = 0;
out:
	free(body);
	return rc;
}

static void
probe_put16(struct buf *b, unsigned v)
{
	buf_addc(b, (char)(v >> 8));
	buf_addc(b, (char)v);
}

static void
probe_put32(struct buf *b, unsigned long v)
{
	buf_addc(b, (char)(v >> 24));
	buf_addc(b, (char)(v >> 16));
	buf_addc(b, (char)(v >> 8));
	buf_addc(b, (char)v);
}

static void
probe_amqp_send(int fd, struct buf *payload)
{
	struct buf f = BUF_INIT;

	buf_addc(&f, 1);
	probe_put16(&f, 0);
	probe_put32(&f, payload->len);
	buf_add(&f, payload->data, payload->len);
	buf_addc(&f, (char)0xce);
	probe_send(fd, f.data, f.len);
	buf_wipe(&f);
}

int
probe_amqp(const char *host, int port, const char *vhost, const char *user,
    const char *password, char **cause)
{
	struct amqp_frame f;
	struct buf m = BUF_INIT, resp = BUF_INIT;
	int fd, rc = -1;

	if ((fd = probe_connect(host, port, cause)) == -1)
		return -1;
	probe_send(fd, "AMQP\0\0\x09\x01", 8);
	if (probe_amqp_read(fd, &f, cause) == -1)
		goto out;
	if (f.class_id != 10 || f.method_id != 10) {
		*cause = xstrdup("rabbitmq did not start the AMQP handshake");
		goto out;
	}

	/* Connection.Start-Ok: empty properties, PLAIN, the response. */
	buf_addc(&resp, 0);
	buf_adds(&resp, user);
	buf_addc(&resp, 0);
	buf_adds(&resp, password);
	/*
	 * Client properties: capabilities.authentication_failure_close, so
	 * a refused login is answered at once, not after RabbitMQ's 3 s.
	 */
	probe_put16(&m, 10);
	probe_put16(&m, 11);
	probe_put32(&m, 1 + 12 + 1 + 4 + 1 + 28 + 2);
	buf_addc(&m, 12);
	buf_adds(&m, "capabilities");
	buf_addc(&m, 'F');
	probe_put32(&m, 1 + 28 + 2);
	buf_addc(&m, 28);
	buf_adds(&m, "authentication_failure_close");
	buf_addc(&m, 't');
	buf_addc(&m, 1);
	buf_addc(&m, 5);
	buf_adds(&m, "PLAIN");
	probe_put32(&m, resp.len);
	buf_add(&m, resp.data, resp.len);
	buf_addc(&m, 5);
	buf_adds(&m, "en_US");
	probe_amqp_send(fd, &m);
	buf_wipe(&m);

	/* Tune means the login was accepted; a refusal closes. */
	if (probe_amqp_read(fd, &f, cause) == -1) {
		free(*cause);
		*cause = xasprintf("rabbitmq refused the login of '%s'", user);
		goto out;
	}
	if (f.class_id != 10 || f.method_id != 30) {
		*cause = xasprintf("rabbitmq refused the login of '%s'", user);
		goto out;
	}
	/* Tune-Ok, then Open on the vhost: Open-Ok proves permissions. */
	probe_put16(&m, 10);
	probe_put16(&m, 31);
	probe_put16(&m, 1); /* channel_max: 0 would mean no limit */
	probe_put32(&m, 131072);
	probe_put16(&m, 0);
	probe_amqp_send(fd, &m);
	buf_reset(&m);
	probe_put16(&m, 10);
	probe_put16(&m, 40);
	buf_addc(&m, (char)strlen(vhost));
	buf_adds(&m, vhost);
	buf_addc(&m, 0);
	buf_addc(&m, 0);
	probe_amqp_send(fd, &m);
	if (probe_amqp_read(fd, &f, cause) == -1)
		goto out;
	if (f.class_id != 10 || f.method_id != 41) {
		*cause = xasprintf(
		    "rabbitmq refused vhost '%s' to '%s'", vhost, user);
		goto out;
	}
	rc = 0;
out:
	buf_wipe(&m);
	buf_wipe(&resp);
	close(fd);
	return rc;
}

int
probe_http(const char *host, int port, const char *path, char **cause)
{
	char req[512], line[256];
	int fd, rc = -1, status = 0;

	if ((fd = probe_connect(host, port, cause)) == -1)
		return -1;
	snprintf(req, sizeof req,
	    "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
	    host);
	if (probe_send(fd, req, strlen(req)) == -1 ||
	    probe_line(fd, line, sizeof line) == -1 ||
	    sscanf(line, "HTTP/%*d.%*d %d", &status) != 1) {
		*cause =
		    xasprintf("no HTTP answer from %s port %d", host, port);
		goto out;
	}
	if (status != 200) {
		*cause = xasprintf("GET %s on %s port %d answered %d", path,
		    host, port, status);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
