/* The built-in http-01 responder, asked as the CA's validator asks. */
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../certs/responder.h"

#define PORT 21090 /* in the certs part's test range */

/* Sends request to the responder and returns its whole reply. */
static char *
ask(const char *request)
{
	struct sockaddr_in sin;
	char *reply;
	size_t len = 0;
	ssize_t n;
	int fd, tries;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(PORT);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	for (tries = 0; connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1;
	     tries++) {
		assert_true(tries < 50);
		usleep(20000);
	}
	assert_int_equal(
	    write(fd, request, strlen(request)), (ssize_t)strlen(request));
	reply = calloc(1, 4096);
	while ((n = read(fd, reply + len, 4095 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return reply;
}

static void
test_responder_answers_its_tokens_only(void **state)
{
	char *tokens[] = {"tok1", "tok2"};
	char *answers[] = {"tok1.thumb", "tok2.thumb"};
	struct responder *r;
	char *cause = NULL, *reply;

	(void)state;
	r = responder_start("127.0.0.1", PORT, tokens, answers, 2, &cause);
	assert_non_null(r);

	reply = ask("GET /.well-known/acme-challenge/tok2 HTTP/1.1\r\n"
		    "Host: chat.example.com\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(reply, "\r\n\r\ntok2.thumb"));
	free(reply);

	reply = ask("GET /.well-known/acme-challenge/tok3 HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 404"));
	free(reply);
	reply = ask("GET /etc/passwd HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 404"));
	free(reply);
	reply = ask("POST /.well-known/acme-challenge/tok1 HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(reply, "HTTP/1.1 404"));
	free(reply);

	responder_stop(r);
}

static void
test_responder_slow_client_does_not_block_others(void **state)
{
	char *tokens[] = {"tok1"};
	char *answers[] = {"tok1.thumb"};
	struct sockaddr_in sin;
	struct responder *r;
	char *cause = NULL, *reply;
	int slow, tries;

	(void)state;
	r = responder_start("127.0.0.1", PORT, tokens, answers, 1, &cause);
	assert_non_null(r);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(PORT);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	slow = socket(AF_INET, SOCK_STREAM, 0);
	for (tries = 0;
	     connect(slow, (struct sockaddr *)&sin, sizeof sin) == -1;
	     tries++) {
		assert_true(tries < 50);
		usleep(20000);
	}
	/* Half a request, then nothing: the next client is still answered. */
	assert_int_equal(write(slow, "GET /", 5), 5);
	reply = ask("GET /.well-known/acme-challenge/tok1 HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(reply, "\r\n\r\ntok1.thumb"));
	free(reply);
	close(slow);
	responder_stop(r);
}

static void
test_responder_names_a_port_in_use(void **state)
{
	char *tokens[] = {"tok1"};
	char *answers[] = {"tok1.thumb"};
	struct responder *a, *b;
	char *cause = NULL;

	(void)state;
	a = responder_start("127.0.0.1", PORT, tokens, answers, 1, &cause);
	assert_non_null(a);
	b = responder_start("127.0.0.1", PORT, tokens, answers, 1, &cause);
	assert_null(b);
	assert_non_null(strstr(cause, "port 21090 is in use"));
	free(cause);
	responder_stop(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_responder_answers_its_tokens_only),
	    cmocka_unit_test(test_responder_slow_client_does_not_block_others),
	    cmocka_unit_test(test_responder_names_a_port_in_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
