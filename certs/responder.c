#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "responder.h"
#include "xmalloc.h"

#define RESPONDER_PREFIX "/.well-known/acme-challenge/"
#define RESPONDER_REQUEST_MAX 8192
#define RESPONDER_READ_TIMEOUT 5 /* seconds a client may take */

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
		n = write(fd, b.data + off, b.len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_free(&b);
}

static void
responder_serve(int fd, char *const *tokens, char *const *answers, size_t n)
{
	char req[RESPONDER_REQUEST_MAX + 1], *path, *end;
	size_t len = 0, i;
	ssize_t got;

	while (len < RESPONDER_REQUEST_MAX) {
		got = read(fd, req + len, RESPONDER_REQUEST_MAX - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[len] = '\0';
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

static __attribute__((noreturn)) void
responder_child(int lfd, char *const *tokens, char *const *answers, size_t n)
{
	struct timeval tv = {RESPONDER_READ_TIMEOUT, 0};
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, SIG_DFL);
	/* It serves tokens: no key, lock or socket of the parent stays open. */
	if (lfd > 3)
		close_range(3, (unsigned)lfd - 1, 0);
	close_range((unsigned)lfd + 1, ~0U, 0);
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		responder_serve(fd, tokens, answers, n);
		close(fd);
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
