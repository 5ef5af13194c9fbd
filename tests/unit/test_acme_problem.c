/* The CA's replies: problem documents become sentences for operators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../certs/acme.h"

static char *
sentence(const char *body, enum acme_stage stage, const char *name, int eab,
    time_t retry_after)
{
	struct acme_problem p;
	struct acme_context ctx;
	char *s;

	memset(&ctx, 0, sizeof ctx);
	ctx.stage = stage;
	ctx.name = name;
	ctx.eab = eab;
	ctx.retry_after = retry_after;
	assert_int_equal(acme_problem_parse(body, strlen(body), &p), 0);
	s = acme_problem_sentence(&p, &ctx);
	acme_problem_free(&p);
	return s;
}

static void
assert_has(const char *s, const char *want)
{
	if (strstr(s, want) == NULL)
		fail_msg("'%s' lacks '%s'", s, want);
}

static void
test_problem_parse_shortens_acme_types(void **state)
{
	static const char body[] =
	    "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
	    "\"detail\":\"too many certificates\",\"status\":429}";
	struct acme_problem p;

	(void)state;
	assert_int_equal(acme_problem_parse(body, strlen(body), &p), 0);
	assert_string_equal(p.type, "rateLimited");
	assert_string_equal(p.detail, "too many certificates");
	assert_int_equal(p.status, 429);
	assert_null(p.identifier);
	acme_problem_free(&p);
}

static void
test_problem_parse_refuses_what_is_not_a_problem(void **state)
{
	struct acme_problem p;

	(void)state;
	assert_int_equal(acme_problem_parse("{}", 2, &p), -1);
	assert_int_equal(acme_problem_parse("[1]", 3, &p), -1);
	assert_int_equal(acme_problem_parse("{\"type\":1}", 10, &p), -1);
	assert_int_equal(acme_problem_parse("not json", 8, &p), -1);
}

static void
test_problem_connection_names_port_80(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:connection\","
		     "\"detail\":\"connection refused\"}",
	    ACME_STAGE_CHALLENGE, "chat.example.com", 0, 0);
	assert_has(s, "could not connect to 'chat.example.com' on port 80");
	assert_has(s, "connection refused");
	assert_has(s, "reachable from the internet");
	free(s);
}

static void
test_problem_dns_says_to_check_the_records(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:dns\","
		     "\"detail\":\"NXDOMAIN\"}",
	    ACME_STAGE_CHALLENGE, "chat.example.com", 0, 0);
	assert_has(s, "could not resolve 'chat.example.com'");
	assert_has(s, "DNS A/AAAA records");
	free(s);
}

static void
test_problem_unauthorized_says_dns_and_port_80(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:unauthorized\","
		     "\"detail\":\"404\"}",
	    ACME_STAGE_CHALLENGE, "chat.example.com", 0, 0);
	assert_has(s, "DNS for 'chat.example.com' points here");
	assert_has(s, "port 80");
	free(s);
}

static void
test_problem_rate_limit_says_when(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
		     "\"detail\":\"too many\"}",
	    ACME_STAGE_ORDER, "chat.example.com", 0, 1800000000);
	assert_has(s, "rate limit");
	assert_has(s, "until 2027-01-15 08:00 UTC");
	free(s);
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:rateLimited\"}",
	    ACME_STAGE_ORDER, NULL, 0, 0);
	assert_has(s, "for the limit to reset");
	free(s);
}

static void
test_problem_refused_binding_is_named(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:unauthorized\","
		     "\"detail\":\"bad MAC\"}",
	    ACME_STAGE_ACCOUNT, NULL, 1, 0);
	assert_has(s, "refused the External Account Binding (bad MAC)");
	assert_has(s, "eab_kid");
	free(s);
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:"
		     "externalAccountRequired\"}",
	    ACME_STAGE_ACCOUNT, NULL, 0, 0);
	assert_has(s, "requires External Account Binding");
	free(s);
}

static void
test_problem_subproblem_names_the_identifier(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:compound\","
		     "\"detail\":\"x\",\"subproblems\":[{\"type\":"
		     "\"urn:ietf:params:acme:error:caa\",\"identifier\":"
		     "{\"type\":\"dns\",\"value\":\"www.example.com\"}}]}",
	    ACME_STAGE_ORDER, "chat.example.com", 0, 0);
	assert_has(s, "the CA refused the request: x (compound)");
	free(s);
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:caa\","
		     "\"detail\":\"forbidden\",\"subproblems\":[{"
		     "\"identifier\":{\"value\":\"www.example.com\"}}]}",
	    ACME_STAGE_ORDER, "chat.example.com", 0, 0);
	assert_has(s, "CAA DNS record of 'www.example.com'");
	free(s);
}

static void
test_problem_unknown_type_keeps_detail_and_type(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"https://ca.example/oops\","
		     "\"detail\":\"something\"}",
	    ACME_STAGE_ORDER, NULL, 0, 0);
	assert_string_equal(s,
	    "the CA refused the request: something "
	    "(https://ca.example/oops)");
	free(s);
}

static void
test_problem_detail_is_escaped(void **state)
{
	char *s;

	(void)state;
	s = sentence("{\"type\":\"urn:ietf:params:acme:error:serverInternal\","
		     "\"detail\":\"line\\nforged: \\u001b[31m\"}",
	    ACME_STAGE_ORDER, NULL, 0, 0);
	assert_null(strchr(s, '\n'));
	assert_null(strchr(s, '\033'));
	assert_has(s, "try again later");
	free(s);
}

static void
test_directory_parse_reads_urls_and_eab_flag(void **state)
{
	static const char body[] =
	    "{\"newNonce\":\"https://ca/n\",\"newAccount\":\"https://ca/a\","
	    "\"newOrder\":\"https://ca/o\",\"meta\":{\"termsOfService\":"
	    "\"https://ca/tos\",\"externalAccountRequired\":true}}";
	struct acme_directory d;
	char *cause = NULL;

	(void)state;
	assert_int_equal(
	    acme_directory_parse(body, strlen(body), &d, &cause), 0);
	assert_string_equal(d.new_nonce, "https://ca/n");
	assert_string_equal(d.new_order, "https://ca/o");
	assert_string_equal(d.terms, "https://ca/tos");
	assert_true(d.eab_required);
	acme_directory_free(&d);
	assert_int_equal(
	    acme_directory_parse("{\"newNonce\":\"x\"}", 16, &d, &cause), -1);
	assert_non_null(strstr(cause, "check the directory URL"));
	free(cause);
}

static void
test_authz_parse_picks_http01_and_checks_token(void **state)
{
	static const char good[] =
	    "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
	    "\"value\":\"chat.example.com\"},\"challenges\":[{\"type\":"
	    "\"dns-01\",\"url\":\"https://ca/c/1\",\"token\":\"AAA\"},"
	    "{\"type\":\"http-01\",\"url\":\"https://ca/c/2\",\"status\":"
	    "\"pending\",\"token\":\"tok_en-1\"}]}";
	static const char evil[] =
	    "{\"status\":\"pending\",\"identifier\":{\"value\":\"a\"},"
	    "\"challenges\":[{\"type\":\"http-01\",\"url\":\"u\",\"token\":"
	    "\"../../etc/passwd\"}]}";
	struct acme_authz a;
	char *cause = NULL;

	(void)state;
	assert_int_equal(acme_authz_parse(good, strlen(good), &a, &cause), 0);
	assert_string_equal(a.identifier, "chat.example.com");
	assert_string_equal(a.challenge_url, "https://ca/c/2");
	assert_string_equal(a.token, "tok_en-1");
	acme_authz_free(&a);
	assert_int_equal(acme_authz_parse(evil, strlen(evil), &a, &cause), -1);
	assert_non_null(strstr(cause, "no usable http-01 challenge"));
	free(cause);
}

static void
test_order_parse_reads_authorizations_and_error(void **state)
{
	static const char body[] =
	    "{\"status\":\"invalid\",\"finalize\":\"https://ca/f\","
	    "\"authorizations\":[\"https://ca/z/1\",\"https://ca/z/2\",3],"
	    "\"error\":{\"type\":\"urn:ietf:params:acme:error:"
	    "unauthorized\",\"detail\":\"no\"}}";
	static const char weird[] =
	    "{\"status\":\"val\\nid\",\"finalize\":\"https://ca/f\"}";
	struct acme_order o;
	char *cause = NULL;

	(void)state;
	assert_int_equal(acme_order_parse(body, strlen(body), &o, &cause), 0);
	assert_string_equal(o.status, "invalid");
	assert_int_equal(o.nauthorizations, 2);
	assert_string_equal(o.authorizations[1], "https://ca/z/2");
	assert_string_equal(o.error.type, "unauthorized");
	assert_null(o.certificate);
	acme_order_free(&o);
	assert_int_equal(
	    acme_order_parse("{\"status\":\"valid\"}", 18, &o, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(
	    acme_order_parse(weird, strlen(weird), &o, &cause), -1);
	assert_non_null(strstr(cause, "known status"));
	free(cause);
}

static void
test_retry_after_takes_seconds_and_dates(void **state)
{
	(void)state;
	assert_int_equal(acme_retry_after("120", 1000), 1120);
	assert_int_equal(
	    acme_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0), 1445412480);
	assert_int_equal(acme_retry_after("soon", 1000), 0);
	assert_int_equal(acme_retry_after("", 1000), 0);
	assert_int_equal(acme_retry_after("99999999999999999999", 1000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_problem_parse_shortens_acme_types),
	    cmocka_unit_test(test_problem_parse_refuses_what_is_not_a_problem),
	    cmocka_unit_test(test_problem_connection_names_port_80),
	    cmocka_unit_test(test_problem_dns_says_to_check_the_records),
	    cmocka_unit_test(test_problem_unauthorized_says_dns_and_port_80),
	    cmocka_unit_test(test_problem_rate_limit_says_when),
	    cmocka_unit_test(test_problem_refused_binding_is_named),
	    cmocka_unit_test(test_problem_subproblem_names_the_identifier),
	    cmocka_unit_test(test_problem_unknown_type_keeps_detail_and_type),
	    cmocka_unit_test(test_problem_detail_is_escaped),
	    cmocka_unit_test(test_directory_parse_reads_urls_and_eab_flag),
	    cmocka_unit_test(test_authz_parse_picks_http01_and_checks_token),
	    cmocka_unit_test(test_order_parse_reads_authorizations_and_error),
	    cmocka_unit_test(test_retry_after_takes_seconds_and_dates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
