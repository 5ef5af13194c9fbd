/*
 * The live host: a socket this test listens on is found the same way
 * through sock_diag (root "/") and through a copy of /proc/net/tcp (a
 * fixture root), and its holder is this process.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../preflight/host.h"
#include "test_preflight_fixture.h"
#include "fileio.h"

/* Our port range is 24000-24999; this file uses 244xx. */
#define LIVE_PORT_FIRST 24400
#define LIVE_PORT_LAST 24420

static int
listen_in_range(int *port, uint64_t *inode)
{
	struct sockaddr_in sin;
	struct stat sb;
	int fd, p;

	for (p = LIVE_PORT_FIRST; p <= LIVE_PORT_LAST; p++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return -1;
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)p);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
		    listen(fd, 1) == 0 && fstat(fd, &sb) == 0) {
			*port = p;
			*inode = (uint64_t)sb.st_ino;
			return fd;
		}
		close(fd);
	}
	return -1;
}

static int
has_listener(struct host *h, int port, uint64_t inode)
{
	struct host_listener *ls;
	char *cause = NULL, text[64];
	size_t n, i;
	int found = 0;

	if (host_listeners(h, &ls, &n, &cause) == -1) {
		free(cause);
		return -1;
	}
	for (i = 0; i < n; i++) {
		host_addr_string(ls[i].family, ls[i].addr, text, sizeof text);
		if (ls[i].port == port && ls[i].inode == inode &&
		    strcmp(text, "127.0.0.1") == 0)
			found = 1;
	}
	free(ls);
	return found;
}

static void
copy_file(const char *from, const char *to)
{
	char *cause = NULL, *text;

	text = file_read(from, 0, NULL, &cause);
	assert_non_null(text);
	fx_write(to, text);
	free(text);
}

static void
test_preflight_live_listener_found_by_sock_diag_and_by_proc(void **state)
{
	struct host *live, *copy;
	uint64_t inode;
	int fd, port;

	(void)state;
	if ((fd = listen_in_range(&port, &inode)) == -1)
		skip();
	live = host_open("/");
	assert_int_equal(has_listener(live, port, inode), 1);

	copy_file("/proc/net/tcp", "/proc/net/tcp");
	copy_file("/proc/net/tcp6", "/proc/net/tcp6");
	copy = host_open(fx_root);
	assert_int_equal(has_listener(copy, port, inode), 1);
	host_free(copy);
	host_free(live);
	close(fd);
}

/* Listens on [::]:port in the range, v6only or dual-stack. */
static int
listen6_in_range(int v6only, int *port)
{
	struct sockaddr_in6 sin6;
	int fd, p;

	for (p = LIVE_PORT_FIRST; p <= LIVE_PORT_LAST; p++) {
		if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
			return -1;
		(void)setsockopt(
		    fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
		memset(&sin6, 0, sizeof sin6);
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)p);
		if (bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0 &&
		    listen(fd, 1) == 0) {
			*port = p;
			return fd;
		}
		close(fd);
	}
	return -1;
}

static int
v6only_of(struct host *h, int port)
{
	struct host_listener *ls;
	char *cause = NULL;
	size_t n, i;
	int v = -2;

	if (host_listeners(h, &ls, &n, &cause) == -1) {
		free(cause);
		return -2;
	}
	for (i = 0; i < n; i++) {
		if (ls[i].family == AF_INET6 && ls[i].port == port)
			v = ls[i].v6only;
	}
	free(ls);
	return v;
}

static void
test_preflight_live_sock_diag_tells_v6only_from_dual_stack(void **state)
{
	struct host *live;
	int fd, port;

	(void)state;
	live = host_open("/");
	if ((fd = listen6_in_range(1, &port)) == -1) {
		host_free(live);
		skip();
	}
	assert_int_equal(v6only_of(live, port), 1);
	close(fd);
	if ((fd = listen6_in_range(0, &port)) == -1) {
		host_free(live);
		skip();
	}
	assert_int_equal(v6only_of(live, port), 0);
	close(fd);
	host_free(live);
}

static void
test_preflight_live_holder_is_this_process(void **state)
{
	struct host *live;
	uint64_t inode;
	char *names[1];
	int fd, port, pids[1];

	(void)state;
	if ((fd = listen_in_range(&port, &inode)) == -1)
		skip();
	live = host_open("/");
	assert_int_equal(host_socket_owners(live, &inode, 1, pids, names), 0);
	assert_int_equal(pids[0], getpid());
	/* comm is cut at 15 characters; the name comes whole. */
	assert_string_equal(names[0], "test_preflight_live");
	free(names[0]);
	host_free(live);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_preflight_live_listener_found_by_sock_diag_and_by_proc,
		fx_setup, fx_teardown),
	    cmocka_unit_test(test_preflight_live_holder_is_this_process),
	    cmocka_unit_test(
		test_preflight_live_sock_diag_tells_v6only_from_dual_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
