/*
 * Network facts for preflight: listening sockets (/proc/net/tcp, tcp6),
 * this host's addresses (/proc/net/fib_trie, if_inet6) and name
 * resolution, under the same root as every other fact (host.h).
 */
#include <sys/socket.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "xmalloc.h"

#define HOST_TCP_LISTEN 10 /* TCP_LISTEN in the kernel's tcp_states.h */

/* Reads one 32-bit word printed by the kernel in its own byte order. */
static int
host_hex_word(const char *s, uint8_t *out)
{
	char word[9];
	uint32_t v;
	char *end;

	memcpy(word, s, 8);
	word[8] = '\0';
	v = (uint32_t)strtoul(word, &end, 16);
	if (end != word + 8)
		return -1;
	memcpy(out, &v, 4);
	return 0;
}

static int
host_parse_tcp(
    const char *text, int family, struct host_listener **list, size_t *n)
{
	struct host_listener l;
	const char *line;
	char local[64], state[8];
	unsigned long long inode;
	unsigned port;
	size_t hexlen, i;
	char *colon;

	hexlen = family == AF_INET ? 8 : 32;
	line = strchr(text, '\n'); /* the header */
	while (line != NULL && *++line != '\0') {
		if (sscanf(line, "%*s %63s %*s %7s %*s %*s %*s %*s %*s %llu",
			local, state, &inode) != 3)
			goto next;
		if (strcmp(state, "0A") != 0) /* TCP_LISTEN */
			goto next;
		if ((colon = strchr(local, ':')) == NULL ||
		    (size_t)(colon - local) != hexlen ||
		    sscanf(colon + 1, "%x", &port) != 1)
			goto next;
		memset(&l, 0, sizeof l);
		l.family = family;
		l.port = (int)port;
		l.inode = inode;
		l.v6only = -1; /* /proc does not say */
		for (i = 0; i < hexlen / 8; i++) {
			if (host_hex_word(local + i * 8, l.addr + i * 4) == -1)
				goto next;
		}
		*list = xreallocarray(*list, *n + 1, sizeof **list);
		(*list)[(*n)++] = l;
	next:
		line = strchr(line, '\n');
	}
	return 0;
}

/* The IPV6_V6ONLY flag the kernel attaches to an IPv6 socket; -1: none. */
static int
host_diag_v6only(const struct nlmsghdr *nh, const struct inet_diag_msg *m)
{
	const struct rtattr *a;
	int len;

	a = (const struct rtattr *)((const char *)m + NLMSG_ALIGN(sizeof *m));
	len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(sizeof *m));
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(a) >= 1)
			return *(const uint8_t *)RTA_DATA(a) != 0;
	}
	return -1;
}

/*
 * Asks the kernel for listening TCP sockets of one family (sock_diag).
 * Unlike /proc/net/tcp, which makes the kernel walk every connection, the
 * LISTEN filter walks only the listening table: on a busy server with
 * thousands of connections that is the difference between microseconds
 * and seconds. Returns -1 when sock_diag is unavailable.
 */
static int
host_listeners_diag(int family, struct host_listener **list, size_t *n)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	struct sockaddr_nl sa;
	union {
		struct nlmsghdr align;
		char data[32768];
	} buf;
	const struct nlmsghdr *nh;
	const struct inet_diag_msg *m;
	struct host_listener l;
	int fd, rc = -1, done = 0;
	ssize_t len;
	size_t start = *n;

	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
		 NETLINK_SOCK_DIAG)) == -1)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.nl_family = AF_NETLINK;
	memset(&msg, 0, sizeof msg);
	msg.nlh.nlmsg_len = sizeof msg;
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.req.sdiag_family = (uint8_t)family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = 1U << HOST_TCP_LISTEN;
	if (sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&sa,
		sizeof sa) == -1)
		goto out;
	while (!done) {
		if ((len = recv(fd, buf.data, sizeof buf.data, 0)) <= 0)
			goto out;
		for (nh = &buf.align; NLMSG_OK(nh, (size_t)len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof *m))
				goto out;
			m = NLMSG_DATA(nh);
			if (m->idiag_family != family)
				continue;
			memset(&l, 0, sizeof l);
			l.family = family;
			memcpy(l.addr, m->id.idiag_src,
			    family == AF_INET ? 4 : 16);
			l.port = ntohs(m->id.idiag_sport);
			l.inode = m->idiag_inode;
			l.v6only = host_diag_v6only(nh, m);
			*list = xreallocarray(*list, *n + 1, sizeof **list);
			(*list)[(*n)++] = l;
		}
	}
	rc = 0;
out:
	if (rc == -1)
		*n = start; /* what a failed dump left is not a listing */
	close(fd);
	return rc;
}

int
host_listeners(
    const struct host *h, struct host_listener **list, size_t *n, char **cause)
{
	char *text;

	*list = NULL;
	*n = 0;
	if (host_is_live(h) && host_listeners_diag(AF_INET, list, n) == 0 &&
	    host_listeners_diag(AF_INET6, list, n) == 0)
		return 0;
	free(*list);
	*list = NULL;
	*n = 0;

	/* Fixture roots, and kernels without sock_diag: the /proc files. */
	if ((text = host_read(h, "/proc/net/tcp", cause)) == NULL)
		return -1;
	host_parse_tcp(text, AF_INET, list, n);
	free(text);
	/* A host without IPv6 has no tcp6. */
	if ((text = host_read(h, "/proc/net/tcp6", cause)) == NULL) {
		free(*cause);
		*cause = NULL;
		return 0;
	}
	host_parse_tcp(text, AF_INET6, list, n);
	free(text);
	return 0;
}

static void
host_addr_add(
    struct host_addr **list, size_t *n, int family, const uint8_t *addr)
{
	size_t i, len = family == AF_INET ? 4 : 16;

	for (i = 0; i < *n; i++) {
		if ((*list)[i].family == family &&
		    memcmp((*list)[i].addr, addr, len) == 0)
			return;
	}
	*list = xreallocarray(*list, *n + 1, sizeof **list);
	memset(&(*list)[*n], 0, sizeof **list);
	(*list)[*n].family = family;
	memcpy((*list)[*n].addr, addr, len);
	(*n)++;
}

int
host_local_addrs(const struct host *h, struct host_addr **list, size_t *n)
{
	char *cause = NULL, *text, *line, *last = NULL, *p;
	char hex[33], word[3];
	uint8_t addr[16];
	int i;

	*list = NULL;
	*n = 0;
	/* IPv4: a "|-- A.B.C.D" line followed by "/32 host LOCAL". */
	if ((text = host_read(h, "/proc/net/fib_trie", &cause)) != NULL) {
		for (line = strtok(text, "\n"); line != NULL;
		     line = strtok(NULL, "\n")) {
			if ((p = strstr(line, "|-- ")) != NULL)
				last = p + 4;
			else if (last != NULL &&
			    strstr(line, "/32 host LOCAL") != NULL &&
			    inet_pton(AF_INET, last, addr) == 1)
				host_addr_add(list, n, AF_INET, addr);
		}
		free(text);
	} else {
		free(cause);
		cause = NULL;
	}
	if ((text = host_read(h, "/proc/net/if_inet6", &cause)) != NULL) {
		for (line = strtok(text, "\n"); line != NULL;
		     line = strtok(NULL, "\n")) {
			if (sscanf(line, "%32s", hex) != 1 || strlen(hex) != 32)
				continue;
			for (i = 0; i < 16; i++) {
				memcpy(word, hex + i * 2, 2);
				word[2] = '\0';
				addr[i] = (uint8_t)strtoul(word, NULL, 16);
			}
			host_addr_add(list, n, AF_INET6, addr);
		}
		free(text);
	} else
		free(cause);
	return 0;
}

/* Looks name up in ROOT/etc/hosts. */
static void
host_resolve_files(
    const struct host *h, const char *name, struct host_addr **list, size_t *n)
{
	char *cause = NULL, *text, *line, *save = NULL, *tok, *tsave;
	uint8_t addr[16];
	int family;

	if ((text = host_read(h, "/etc/hosts", &cause)) == NULL) {
		free(cause);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "#")] = '\0';
		if ((tok = strtok_r(line, " \t", &tsave)) == NULL)
			continue;
		if (inet_pton(AF_INET, tok, addr) == 1)
			family = AF_INET;
		else if (inet_pton(AF_INET6, tok, addr) == 1)
			family = AF_INET6;
		else
			continue;
		while ((tok = strtok_r(NULL, " \t", &tsave)) != NULL) {
			if (strcasecmp(tok, name) == 0)
				host_addr_add(list, n, family, addr);
		}
	}
	free(text);
}

/* The system resolver, bounded: an air-gapped host's DNS may never answer. */
static int
host_resolve_dns(const char *name, int timeout_ms, struct host_addr **list,
    size_t *n, char **cause)
{
	static const struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct gaicb *req, *reqs[1];
	struct addrinfo *ai;
	struct timespec ts;
	int error;

	req = xcalloc(1, sizeof *req);
	req->ar_name = xstrdup(name);
	req->ar_request = &hints;
	reqs[0] = req;
	if ((error = getaddrinfo_a(GAI_NOWAIT, reqs, 1, NULL)) != 0) {
		*cause = xasprintf(
		    "cannot look up '%s': %s", name, gai_strerror(error));
		goto fail;
	}
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
	(void)gai_suspend((const struct gaicb *const *)reqs, 1, &ts);
	error = gai_error(req);
	if (error == EAI_INPROGRESS && gai_cancel(req) != EAI_CANCELED) {
		/*
		 * XXX the resolver thread still owns req: leaked on purpose,
		 * once, rather than freed under it.
		 */
		*cause = xasprintf(
		    "looking up '%s' took longer than %d ms", name, timeout_ms);
		return -1;
	}
	if (error == EAI_NONAME || error == EAI_NODATA)
		goto done;
	if (error != 0) {
		*cause = xasprintf("cannot look up '%s': %s", name,
		    error == EAI_CANCELED ? "timed out" : gai_strerror(error));
		goto fail;
	}
	for (ai = req->ar_result; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			host_addr_add(list, n, AF_INET,
			    (const uint8_t *)&(
				(struct sockaddr_in *)ai->ai_addr)
				->sin_addr);
		else if (ai->ai_family == AF_INET6)
			host_addr_add(list, n, AF_INET6,
			    (const uint8_t *)&(
				(struct sockaddr_in6 *)ai->ai_addr)
				->sin6_addr);
	}
done:
	if (req->ar_result != NULL)
		freeaddrinfo(req->ar_result);
	free((char *)req->ar_name);
	free(req);
	return 0;
fail:
	free((char *)req->ar_name);
	free(req);
	return -1;
}

int
host_resolve(const struct host *h, const char *name, int network,
    int timeout_ms, struct host_addr **list, size_t *n, char **cause)
{
	*list = NULL;
	*n = 0;
	host_resolve_files(h, name, list, n);
	if (*n > 0 || !host_is_live(h) || !network)
		return (int)*n;
	if (host_resolve_dns(name, timeout_ms, list, n, cause) == -1)
		return -1;
	return (int)*n;
}

const char *
host_addr_string(int family, const uint8_t *addr, char *buf, size_t len)
{
	if (inet_ntop(family, addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}
