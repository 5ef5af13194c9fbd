#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "responder.h"
#include "xmalloc.h"

#define RESPONDER_PREFIX "/.well-known/acme-challenge/"
#define RESPONDER_REQUEST_MAX 8192
#define RESPONDER_READ_TIMEOUT 5 /* seconds a client may take */
#define RESPONDER_CONNS 32 /* clients served at once */

struct responder {
	pid_t pid;
};

static int
responder_listen(const char *address, int port, char **cause)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[16];
	int fd = -1, on = 1, off = 0, error, saved = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	snprintf(service, sizeof service, "%d", port);
	if (address == NULL)
		address = "::";
	if ((error = getaddrinfo(address, service, &hints, &res)) != 0) {
		*cause = xasprintf("cannot use challenge address '%s': %s",
		    address, gai_strerror(error));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
		if (ai->ai_family == AF_INET6)
			setsockopt(
			    fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 16) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1 && saved == EADDRINUSE)
		*cause = xasprintf("port %d is in use, so the built-in "
				   "challenge responder cannot answer on it; "
				   "stop what listens there or let nginx "
				   "answer from its webroot",
		    port);
	else if (fd == -1)
		*cause = xasprintf("cannot listen on port %d for the "
				   "challenge: %s",
		    port, strerror(saved));
	return fd;
}

static void
responder_reply(int fd, int code, const char *text)
{
	struct buf b = BUF_INIT;
	size_t off = 0;
	ssize_t n;

	buf_printf(&b,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    code, code == 200 ? "OK" : "Not Found", strlen(text), text);
	while (off < b.len) {
		n = send(fd, b.data + off, b.len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_free(&b);
}

/* Answers one complete (or cut off) request held in req. */
static void
responder_answer(
    int fd, char *req, char *const *tokens, char *const *answers, size_t n)
{
	char *path, *end;
	size_t i;

	if (strncmp(req, "GET ", 4) != 0) {
		responder_reply(fd, 404, "");
		return;
	}
	path = req + 4;
	if ((end = strchr(path, ' ')) == NULL) {
		responder_reply(fd, 404, "");
		return;
	}
	*end = '\0';
	if (strncmp(path, RESPONDER_PREFIX, strlen(RESPONDER_PREFIX)) == 0) {
		path += strlen(RESPONDER_PREFIX);
		for (i = 0; i < n; i++) {
			if (strcmp(path, tokens[i]) == 0) {
				responder_reply(fd, 200, answers[i]);
				return;
			}
		}
	}
	responder_reply(fd, 404, "");
}

/* A connection being read; fd -1 when the slot is free. */
struct responder_conn {
	int fd;
	size_t len;
	time_t deadline;
	char req[RESPONDER_REQUEST_MAX + 1];
};

static void
responder_close(struct responder_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Reads what c's client sent; answers and closes once it is complete. */
static void
responder_read(struct responder_conn *c, char *const *tokens,
    char *const *answers, size_t n)
{
	ssize_t got;

	got = read(c->fd, c->req + c->len, RESPONDER_REQUEST_MAX - c->len);
	if (got == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (got > 0) {
		c->len += (size_t)got;
		c->req[c->len] = '\0';
		if (strstr(c->req, "\r\n\r\n") == NULL &&
		    c->len < RESPONDER_REQUEST_MAX)
			return;
	}
	c->req[c->len] = '\0';
	responder_answer(c->fd, c->req, tokens, answers, n);
	responder_close(c);
}

/*
 * Serves up to RESPONDER_CONNS clients at once (a CA validates from
 * several places), each given RESPONDER_READ_TIMEOUT seconds to ask.
 * XXX a flood of idle connections can still crowd the CA out for a while.
 */
static __attribute__((noreturn)) void
responder_child(int lfd, char *const *tokens, char *const *answers, size_t n)
{
	static struct responder_conn conns[RESPONDER_CONNS];
	struct pollfd pfd[RESPONDER_CONNS + 1];
	int slot[RESPONDER_CONNS + 1];
	time_t now;
	int fd, i, np, free_slot;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, SIG_DFL);
	/* It serves tokens: no key, lock or socket of the parent stays open. */
	if (lfd > 3)
		close_range(3, (unsigned)lfd - 1, 0);
	close_range((unsigned)lfd + 1, ~0U, 0);
	for (i = 0; i < RESPONDER_CONNS; i++)
		conns[i].fd = -1;
	for (;;) {
		np = 0;
		free_slot = -1;
		for (i = 0; i < RESPONDER_CONNS; i++) {
			if (conns[i].fd == -1) {
				free_slot = i;
				continue;
			}
			pfd[np].fd = conns[i].fd;
			pfd[np].events = POLLIN;
			slot[np++] = i;
		}
		if (free_slot != -1) {
			pfd[np].fd = lfd;
			pfd[np].events = POLLIN;
			slot[np++] = -1;
		}
		if (poll(pfd, (nfds_t)np, 1000) == -1 && errno != EINTR)
			_exit(1);
		now = time(NULL);
		for (i = 0; i < np; i++) {
			if (slot[i] == -1 ||
			    (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) ==
				0)
				continue;
			responder_read(&conns[slot[i]], tokens, answers, n);
		}
		for (i = 0; i < RESPONDER_CONNS; i++) {
			if (conns[i].fd != -1 && now > conns[i].deadline)
				responder_close(&conns[i]);
		}
		if (free_slot == -1 || (pfd[np - 1].revents & POLLIN) == 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1)
			continue;
		conns[free_slot].fd = fd;
		conns[free_slot].len = 0;
		conns[free_slot].deadline = now + RESPONDER_READ_TIMEOUT;
	}
}

struct responder *
responder_start(const char *address, int port, char *const *tokens,
    char *const *answers, size_t n, char **cause)
{
	struct responder *r;
	int lfd;

	if ((lfd = responder_listen(address, port, cause)) == -1)
		return NULL;
	r = xcalloc(1, sizeof *r);
	fflush(NULL);
	if ((r->pid = fork()) == -1) {
		*cause = xasprintf("cannot fork: %s", strerror(errno));
		close(lfd);
		free(r);
		return NULL;
	}
	if (r->pid == 0)
		responder_child(lfd, tokens, answers, n);
	close(lfd);
	return r;
}

void
responder_stop(struct responder *r)
{
	int status;

	if (r == NULL)
		return;
	kill(r->pid, SIGTERM);
	while (waitpid(r->pid, &status, 0) == -1 && errno == EINTR)
		;
	free(r);
}
