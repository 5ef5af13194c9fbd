/*
 * The health gates' probes (probe.h), each through the service's own
 * client library, with a bound on connecting and on every answer so that
 * a service that takes the connection and then says nothing cannot hold
 * a gate. Causes quote what the service answered, escaped.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <curl/curl.h>
#include <errmsg.h>
#include <hiredis/hiredis.h>
#include <mysql.h>

#include "buf.h"
#include "probe.h"
#include "xmalloc.h"

/* The most of a service's answer quoted in a cause. */
#define PROBE_QUOTE_MAX 200

/* Returns an escaped copy of a service's text, shortened; caller frees. */
static char *
probe_quote(const char *s, size_t len)
{
	struct buf b = BUF_INIT;

	if (s == NULL || len == 0)
		return xstrdup("(nothing)");
	buf_add_escaped(&b, s, len > PROBE_QUOTE_MAX ? PROBE_QUOTE_MAX : len);
	if (len > PROBE_QUOTE_MAX)
		buf_adds(&b, "...");
	return buf_detach(&b, NULL);
}

static int
probe_timed_out(int error)
{
	return error == EAGAIN || error == EWOULDBLOCK || error == ETIMEDOUT ||
	    error == EINPROGRESS;
}

/* The cause for a service that did not answer in time. */
static char *
probe_timeout_cause(const char *what, const char *host, int port)
{
	return xasprintf("%s on %s port %d did not answer within %d s", what,
	    host, port, PROBE_TIMEOUT_S);
}

/*
 * Why a library could not connect. libmariadb and rabbitmq-c connect
 * without blocking and then lose the socket's error, so one plain
 * connect, bounded, asks the system again for the sentence.
 */
static const char *
probe_connect_error(const char *host, int port)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = {PROBE_TIMEOUT_S, 0};
	char service[16];
	int fd, error = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof service, "%d", port);
	if ((error = getaddrinfo(host, service, &hints, &res)) != 0)
		return gai_strerror(error);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			error = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		error =
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		close(fd);
		if (error == 0)
			break;
	}
	freeaddrinfo(res);
	if (error == 0)
		return "it accepts connections now, but did not then";
	if (probe_timed_out(error))
		return "no answer to the connection";
	return strerror(error);
}

static void
probe_redis_fail(redisContext *c, const char *host, int port, const char *doing,
    char **cause)
{
	int error = errno;

	if (c->err == REDIS_ERR_IO && probe_timed_out(error))
		*cause = probe_timeout_cause("redis", host, port);
	else if (c->err == REDIS_ERR_EOF)
		*cause = xasprintf("redis on %s port %d closed the connection "
				   "%s",
		    host, port, doing);
	else
		*cause = xasprintf("redis on %s port %d failed %s: %s", host,
		    port, doing, c->errstr);
}

static redisContext *
probe_redis_connect(const char *host, int port, char **cause)
{
	struct timeval tv = {PROBE_TIMEOUT_S, 0};
	redisContext *c;
	int error;

	errno = 0;
	c = redisConnectWithTimeout(host, port, tv);
	error = errno;
	if (c == NULL) {
		*cause =
		    xstrdup("cannot make a redis connection: out of memory");
		return NULL;
	}
	if (c->err != 0) {
		if (c->err == REDIS_ERR_IO && probe_timed_out(error))
			*cause = probe_timeout_cause("redis", host, port);
		else
			*cause = xasprintf("cannot connect to redis on %s port "
					   "%d: %s",
			    host, port, c->errstr);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		*cause = xasprintf("cannot set a timeout on the redis "
				   "connection to %s port %d",
		    host, port);
		redisFree(c);
		return NULL;
	}
	return c;
}

int
probe_redis(const char *host, int port, const char *user, const char *password,
    char **cause)
{
	redisContext *c;
	redisReply *r = NULL;
	char *q;
	int rc = -1;

	if ((c = probe_redis_connect(host, port, cause)) == NULL)
		return -1;

	errno = 0;
	if ((r = redisCommand(c, "AUTH %s %s", user, password)) == NULL) {
		probe_redis_fail(c, host, port, "at AUTH", cause);
		goto out;
	}
	if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0) {
		q = probe_quote(r->str, r->len);
		*cause = xasprintf("redis on %s port %d refused user '%s': %s",
		    host, port, user, q);
		free(q);
		goto out;
	}
	freeReplyObject(r);

	errno = 0;
	if ((r = redisCommand(c, "PING")) == NULL) {
		probe_redis_fail(c, host, port, "at PING", cause);
		goto out;
	}
	if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
		q = probe_quote(r->str, r->len);
		*cause = xasprintf("redis on %s port %d answered PING from "
				   "user '%s' with %s",
		    host, port, user, q);
		free(q);
		goto out;
	}
	rc = 0;
out:
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

int
probe_redis_noauth(const char *host, int port, char **cause)
{
	redisContext *c;
	redisReply *r = NULL;
	char *q;
	int rc = -1;

	if ((c = probe_redis_connect(host, port, cause)) == NULL)
		return -1;
	errno = 0;
	if ((r = redisCommand(c, "PING")) == NULL) {
		probe_redis_fail(c, host, port, "at PING", cause);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0)
		rc = 0;
	else {
		q = probe_quote(r->str, r->len);
		if (r->type == REDIS_REPLY_STATUS)
			*cause = xasprintf("redis on %s port %d answers PING "
					   "without authentication: %s",
			    host, port, q);
		else
			*cause = xasprintf("redis on %s port %d answered PING "
					   "without authentication with %s, "
					   "not NOAUTH",
			    host, port, q);
		free(q);
	}
out:
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	return rc;
}

/* A failed login as a sentence: the broker's reply text when it sent one. */
static char *
probe_amqp_cause(amqp_rpc_reply_t r, const char *host, int port,
    const char *vhost, const char *user)
{
	amqp_connection_close_t *conclose;
	amqp_channel_close_t *chclose;
	char *q, *s;

	switch (r.reply_type) {
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			conclose = r.reply.decoded;
			q = probe_quote(conclose->reply_text.bytes,
			    conclose->reply_text.len);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			chclose = r.reply.decoded;
			q = probe_quote(
			    chclose->reply_text.bytes, chclose->reply_text.len);
		} else
			q = xasprintf(
			    "unexpected method 0x%08x", (unsigned)r.reply.id);
		s = xasprintf("rabbitmq on %s port %d refused user '%s' on "
			      "vhost '%s': %s",
		    host, port, user, vhost, q);
		free(q);
		return s;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		if (r.library_error == AMQP_STATUS_TIMEOUT)
			return probe_timeout_cause("rabbitmq", host, port);
		if (r.library_error == AMQP_STATUS_CONNECTION_CLOSED ||
		    r.library_error == AMQP_STATUS_SOCKET_ERROR)
			return xasprintf("rabbitmq on %s port %d closed the "
					 "connection during the login of "
					 "user '%s'",
			    host, port, user);
		return xasprintf("rabbitmq on %s port %d: the login of user "
				 "'%s' failed: %s",
		    host, port, user, amqp_error_string2(r.library_error));
	default:
		return xasprintf("rabbitmq on %s port %d gave no answer to "
				 "the login of user '%s'",
		    host, port, user);
	}
}

int
probe_amqp(const char *host, int port, const char *vhost, const char *user,
    const char *password, char **cause)
{
	struct timeval tv = {PROBE_TIMEOUT_S, 0};
	amqp_connection_state_t conn;
	amqp_socket_t *sock;
	amqp_rpc_reply_t r;
	int status, rc = -1;

	if ((conn = amqp_new_connection()) == NULL) {
		*cause = xstrdup("cannot make an AMQP connection: out of "
				 "memory");
		return -1;
	}
	if ((sock = amqp_tcp_socket_new(conn)) == NULL) {
		*cause = xstrdup("cannot make an AMQP socket: out of memory");
		goto out;
	}
	amqp_set_handshake_timeout(conn, &tv);
	amqp_set_rpc_timeout(conn, &tv);

	status = amqp_socket_open_noblock(sock, host, port, &tv);
	if (status == AMQP_STATUS_TIMEOUT) {
		*cause = probe_timeout_cause("rabbitmq", host, port);
		goto out;
	}
	if (status != AMQP_STATUS_OK) {
		*cause = xasprintf("cannot connect to rabbitmq on %s port %d: "
				   "%s",
		    host, port,
		    status == AMQP_STATUS_SOCKET_ERROR
			? probe_connect_error(host, port)
			: amqp_error_string2(status));
		goto out;
	}

	/* Tune and Open-Ok both come inside the login: Open-Ok is the proof. */
	r = amqp_login(
	    conn, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		*cause = probe_amqp_cause(r, host, port, vhost, user);
		if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION)
			rc = PROBE_REFUSED;
		goto out;
	}
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	rc = 0;
out:
	amqp_destroy_connection(conn);
	return rc;
}

/* The start of an HTTP answer's body, kept for the cause. */
struct probe_body {
	char data[PROBE_QUOTE_MAX + 1]; /* always NUL-terminated */
	size_t len;
};

static size_t
probe_http_body(char *p, size_t size, size_t n, void *arg)
{
	struct probe_body *b = arg;
	size_t len = size * n, room = sizeof b->data - 1 - b->len;

	memcpy(b->data + b->len, p, len < room ? len : room);
	b->len += len < room ? len : room;
	return len;
}

int
probe_http(const char *host, int port, const char *path, char **cause)
{
	struct probe_body body = {.len = 0};
	char errbuf[CURL_ERROR_SIZE] = "", *url, *q;
	CURL *curl;
	CURLcode res;
	long status = 0, error = 0;
	int rc = -1;

	if ((curl = curl_easy_init()) == NULL) {
		*cause = xstrdup("cannot start an HTTP request: libcurl did "
				 "not initialise");
		return -1;
	}
	/* An IPv6 address goes in brackets in a URL. */
	url = xasprintf(
	    strchr(host, ':') != NULL ? "http://[%s]:%d%s" : "http://%s:%d%s",
	    host, port, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    curl, CURLOPT_CONNECTTIMEOUT_MS, (long)PROBE_TIMEOUT_S * 1000);
	curl_easy_setopt(
	    curl, CURLOPT_TIMEOUT_MS, (long)PROBE_TIMEOUT_S * 1000);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, probe_http_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);

	res = curl_easy_perform(curl);
	if (res == CURLE_OPERATION_TIMEDOUT) {
		*cause = probe_timeout_cause("HTTP", host, port);
		goto out;
	}
	if (res == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &error);
		*cause = xasprintf("cannot connect to HTTP on %s port %d: %s",
		    host, port,
		    error != 0 ? strerror((int)error)
			       : curl_easy_strerror(res));
		goto out;
	}
	if (res != CURLE_OK) {
		*cause = xasprintf("GET %s on %s port %d failed: %s", path,
		    host, port,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(res));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		/* The first line says it for a JSON error or a plain text. */
		q = probe_quote(body.data, strcspn(body.data, "\r\n"));
		*cause = xasprintf("GET %s on %s port %d answered %ld: %s",
		    path, host, port, status, q);
		free(q);
		goto out;
	}
	rc = 0;
out:
	curl_easy_cleanup(curl);
	free(url);
	return rc;
}

/*
 * A client error's message ends in the system error's number, "(2)";
 * the sentence says it in words.
 */
static char *
probe_mariadb_client_error(MYSQL *my)
{
	const char *msg = mysql_error(my), *p;
	int error;

	p = strrchr(msg, '(');
	if (p != NULL && sscanf(p, "(%d)", &error) == 1 && error > 0 &&
	    p[strspn(p + 1, "0123456789") + 1] == ')')
		return xasprintf(
		    "%.*s(%s)", (int)(p - msg), msg, strerror(error));
	return xstrdup(msg);
}

/* tcp_host is NULL for the unix socket. */
static char *
probe_mariadb_cause(MYSQL *my, const char *where, const char *user,
    const char *tcp_host, int port)
{
	unsigned int code = mysql_errno(my);
	const char *msg = mysql_error(my);
	char *q, *s;

	if (code == CR_SERVER_LOST &&
	    (strstr(msg, "error: 110") != NULL ||
		strstr(msg, "timed out") != NULL))
		return xasprintf(
		    "%s did not answer within %d s", where, PROBE_TIMEOUT_S);
	if (tcp_host != NULL &&
	    (code == CR_CONN_HOST_ERROR || code == CR_CONNECTION_ERROR))
		return xasprintf("cannot connect to %s: %s", where,
		    probe_connect_error(tcp_host, port));
	if (code >= CR_MIN_ERROR) {
		s = probe_mariadb_client_error(my);
		q = xasprintf("cannot reach %s: %s", where, s);
		free(s);
		return q;
	}
	q = probe_quote(msg, strlen(msg));
	s = xasprintf("%s refused user '%s': %s", where, user, q);
	free(q);
	return s;
}

int
probe_mariadb(const char *host, int port, const char *user,
    const char *password, const char *database, char **cause)
{
	unsigned int timeout = PROBE_TIMEOUT_S, proto = MYSQL_PROTOCOL_TCP;
	const char *sock = NULL;
	MYSQL *my;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char *where, *q;
	int rc = -1;

	if (host[0] == '/') {
		where = xasprintf("mariadb on '%s'", host);
		sock = host;
		host = "localhost";
		port = 0;
		proto = MYSQL_PROTOCOL_SOCKET;
	} else
		where = xasprintf("mariadb on %s port %d", host, port);
	if ((my = mysql_init(NULL)) == NULL) {
		*cause = xstrdup("cannot start the MariaDB client: out of "
				 "memory");
		free(where);
		return -1;
	}
	mysql_options(my, MYSQL_OPT_PROTOCOL, &proto);
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &timeout);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &timeout);

	if (mysql_real_connect(my, host, user, password, database,
		(unsigned int)port, sock, 0) == NULL) {
		*cause = probe_mariadb_cause(
		    my, where, user, sock == NULL ? host : NULL, port);
		goto out;
	}
	if (mysql_query(my, "SELECT 1") != 0 ||
	    (res = mysql_store_result(my)) == NULL) {
		q = probe_mariadb_cause(
		    my, where, user, sock == NULL ? host : NULL, port);
		*cause = xasprintf("%s (at SELECT 1)", q);
		free(q);
		goto out;
	}
	row = mysql_fetch_row(res);
	if (row == NULL || row[0] == NULL || strcmp(row[0], "1") != 0) {
		*cause = xasprintf(
		    "%s answered SELECT 1 with something else", where);
		goto out;
	}
	rc = 0;
out:
	if (res != NULL)
		mysql_free_result(res);
	mysql_close(my);
	free(where);
	return rc;
}
