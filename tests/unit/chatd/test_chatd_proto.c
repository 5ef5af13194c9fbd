/* The pure parts of chatd: routes, frames, validation, token buckets. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../chat/server/proto.h"

static void
route(enum http_method m, const char *path, struct route_match *r)
{
	proto_route(m, path, strlen(path), r);
}

static void
test_chatd_route_matches_ids(void **state)
{
	struct route_match r;

	(void)state;
	route(HTTP_DELETE, "/api/v1/groups/12/members/34", &r);
	assert_int_equal(r.op, OP_GROUP_REMOVE);
	assert_int_equal(r.ids[0], 12);
	assert_int_equal(r.ids[1], 34);
	route(HTTP_POST, "/api/v1/friends/requests/7/accept", &r);
	assert_int_equal(r.op, OP_FRIEND_ACCEPT);
	assert_int_equal(r.ids[0], 7);
	route(HTTP_GET, "/api/v1/conversations/", &r);
	assert_int_equal(r.op, OP_CONVERSATIONS);
	route(HTTP_POST, "/api/v1/conversations/direct", &r);
	assert_int_equal(r.op, OP_DIRECT);
	route(HTTP_DELETE, "/api/v1/account", &r);
	assert_int_equal(r.op, OP_ACCOUNT_DELETE);
	assert_true(proto_op_needs_auth(OP_ACCOUNT_DELETE));
	route(HTTP_GET, "/api/v1/account", &r);
	assert_int_equal(r.op, OP_NONE);
	assert_true(r.method_mismatch);
}

static void
test_chatd_route_rejects_bad_ids_and_paths(void **state)
{
	static const char *bad[] = {"/api/v1/users/0", "/api/v1/users/-1",
	    "/api/v1/users/01", "/api/v1/users/1x",
	    "/api/v1/users/99999999999999999999", "/api/v1/users//",
	    "/api/v1/me/extra", "/api/v1", "", "/api/v1/groups/1/members/",
	    NULL};
	struct route_match r;
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		route(HTTP_GET, bad[i], &r);
		assert_int_equal(r.op, OP_NONE);
	}
}

static void
test_chatd_route_wrong_method_is_noticed(void **state)
{
	struct route_match r;

	(void)state;
	route(HTTP_DELETE, "/api/v1/me", &r);
	assert_int_equal(r.op, OP_NONE);
	assert_true(r.method_mismatch);
	route(HTTP_GET, "/api/v1/nothing", &r);
	assert_false(r.method_mismatch);
}

static int
parse(const char *text, struct frame *f, const char **code)
{
	char *cause = NULL;
	int rc;

	rc = proto_parse_frame(text, strlen(text), f, code, &cause);
	if (rc != 0)
		assert_non_null(cause);
	free(cause);
	return rc;
}

static void
test_chatd_frame_send_parses(void **state)
{
	struct frame f;
	const char *code;

	(void)state;
	assert_int_equal(parse("{\"type\":\"send\",\"conversation_id\":4,"
			       "\"client_msg_id\":\"a-1:b.c_d\",\"body\":"
			       "\"h\\u00e9\",\"ref\":\"r\"}",
			     &f, &code),
	    0);
	assert_int_equal(f.type, FRAME_SEND);
	assert_int_equal(f.conversation_id, 4);
	assert_string_equal(f.client_msg_id, "a-1:b.c_d");
	assert_string_equal(f.body, "h\xc3\xa9");
	assert_string_equal(json_string_value(f.ref), "r");
	proto_frame_free(&f);
}

static void
test_chatd_frame_errors_have_codes(void **state)
{
	static const struct {
		const char *text, *code;
	} cases[] = {
	    {"", "bad_json"},
	    {"nope", "bad_json"},
	    {"[]", "bad_json"},
	    {"{\"type\":\"a\",\"type\":\"b\"}", "bad_json"},
	    {"{}", "bad_request"},
	    {"{\"type\":\"dance\"}", "bad_request"},
	    {"{\"type\":\"auth\",\"token\":\"abc\"}", "unauthorized"},
	    {"{\"type\":\"send\",\"conversation_id\":0,"
	     "\"client_msg_id\":\"a\",\"body\":\"b\"}",
		"bad_request"},
	    {"{\"type\":\"send\",\"conversation_id\":1,"
	     "\"client_msg_id\":\"a b\",\"body\":\"b\"}",
		"bad_request"},
	    {"{\"type\":\"send\",\"conversation_id\":1,"
	     "\"client_msg_id\":\"a\",\"body\":\"\"}",
		"bad_request"},
	    {"{\"type\":\"send\",\"conversation_id\":1,"
	     "\"client_msg_id\":\"a\",\"body\":\"a\\u0000b\"}",
		"bad_json"},
	    {"{\"type\":\"read\",\"conversation_id\":1,\"seq\":-1}",
		"bad_request"},
	    {"{\"type\":\"sync\",\"conversations\":[1]}", "bad_request"},
	    {"{\"type\":\"sync\",\"conversations\":{\"01\":1}}", "bad_request"},
	    {"{\"type\":\"sync\",\"limit\":501}", "bad_request"},
	    {"{\"type\":\"ping\",\"ref\":[1]}", "bad_request"},
	};
	struct frame f;
	const char *code;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(parse(cases[i].text, &f, &code), -1);
		assert_string_equal(code, cases[i].code);
		proto_frame_free(&f);
	}
}

static void
test_chatd_frame_body_over_limit_is_too_large(void **state)
{
	char *text, *body;
	struct frame f;
	const char *code;

	(void)state;
	body = malloc(PROTO_BODY_MAX + 2);
	memset(body, 'x', PROTO_BODY_MAX + 1);
	body[PROTO_BODY_MAX + 1] = '\0';
	assert_true(asprintf(&text,
			"{\"type\":\"send\",\"conversation_id\":1,"
			"\"client_msg_id\":\"a\",\"body\":\"%s\"}",
			body) > 0);
	assert_int_equal(parse(text, &f, &code), -1);
	assert_string_equal(code, "too_large");
	proto_frame_free(&f);
	free(text);
	free(body);
}

static void
test_chatd_frame_sync_reads_positions(void **state)
{
	struct frame f;
	const char *code;

	(void)state;
	assert_int_equal(parse("{\"type\":\"sync\",\"conversations\":"
			       "{\"3\":10,\"9\":0},\"limit\":7}",
			     &f, &code),
	    0);
	assert_int_equal(f.nsync, 2);
	assert_int_equal(f.limit, 7);
	assert_int_equal(
	    f.sync[0].conversation_id + f.sync[1].conversation_id, 12);
	proto_frame_free(&f);
	assert_int_equal(parse("{\"type\":\"sync\"}", &f, &code), 0);
	assert_int_equal(f.nsync, 0);
	assert_int_equal(f.limit, 100);
	proto_frame_free(&f);
}

static void
test_chatd_username_rules(void **state)
{
	char out[33], *cause = NULL;

	(void)state;
	assert_int_equal(
	    proto_check_username("Alice.B-2_", out, sizeof out, &cause), 0);
	assert_string_equal(out, "alice.b-2_");
	assert_int_equal(
	    proto_check_username("al", out, sizeof out, &cause), -1);
	free(cause);
	assert_int_equal(
	    proto_check_username("al ice", out, sizeof out, &cause), -1);
	free(cause);
	assert_int_equal(
	    proto_check_username("\xc3\xa9lise", out, sizeof out, &cause), -1);
	free(cause);
	assert_int_equal(proto_check_name("name", "a\tb", &cause), -1);
	free(cause);
	assert_int_equal(proto_check_name("name", "Équipe", &cause), 0);
}

static void
test_chatd_query_args_decode(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(
	    proto_query_arg("q=a%41+b&limit=5", "q", out, sizeof out), 0);
	assert_string_equal(out, "aA b");
	assert_int_equal(
	    proto_query_arg("q=a&limit=5", "limit", out, sizeof out), 0);
	assert_string_equal(out, "5");
	assert_int_equal(proto_query_arg("qq=1", "q", out, sizeof out), -1);
	assert_int_equal(proto_query_arg(NULL, "q", out, sizeof out), -1);
	assert_int_equal(
	    proto_query_arg("q=0123456789012345678", "q", out, sizeof out), 0);
	assert_int_equal(strlen(out), sizeof out - 1);
}

static void
test_chatd_token_shape(void **state)
{
	(void)state;
	assert_true(proto_is_token("0123456789abcdef0123456789abcdef0123456789a"
				   "bcdef0123456789abcdef"));
	assert_false(proto_is_token("0123456789ABCDEF0123456789abcdef0123456789"
				    "abcdef0123456789abcdef"));
	assert_false(proto_is_token("abc"));
}

static void
test_chatd_bucket_limits_and_refills(void **state)
{
	struct bucket b = {0, 0};
	uint64_t retry = 0;
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_int_equal(bucket_take(&b, 2, 3, 1000, &retry), 0);
	assert_int_equal(bucket_take(&b, 2, 3, 1000, &retry), -1);
	assert_true(retry > 0 && retry <= 501);
	assert_int_equal(bucket_take(&b, 2, 3, 1500, &retry), 0);
	assert_int_equal(bucket_take(&b, 2, 3, 1500, &retry), -1);
}

static void
test_chatd_remote_delivery_header_parses(void **state)
{
	int64_t ids[4];
	const char *frame;
	size_t flen;
	static const char *bad[] = {"", "\n{}", "1,\n{}", ",1\n{}", "1,,2\n{}",
	    "x\n{}", "0\n{}", "1 2\n{}", "12", NULL};
	int i;

	(void)state;
	assert_int_equal(
	    proto_parse_remote("7,8,9\n{\"a\":1}", 13, ids, 4, &frame, &flen),
	    3);
	assert_int_equal(ids[0], 7);
	assert_int_equal(ids[2], 9);
	assert_int_equal(flen, 7);
	assert_memory_equal(frame, "{\"a\":1}", 7);
	assert_int_equal(
	    proto_parse_remote("1,2,3,4,5\nx", 11, ids, 4, &frame, &flen), 4);
	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(proto_parse_remote(bad[i], strlen(bad[i]), ids,
				     4, &frame, &flen),
		    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chatd_route_matches_ids),
	    cmocka_unit_test(test_chatd_route_rejects_bad_ids_and_paths),
	    cmocka_unit_test(test_chatd_route_wrong_method_is_noticed),
	    cmocka_unit_test(test_chatd_frame_send_parses),
	    cmocka_unit_test(test_chatd_frame_errors_have_codes),
	    cmocka_unit_test(test_chatd_frame_body_over_limit_is_too_large),
	    cmocka_unit_test(test_chatd_frame_sync_reads_positions),
	    cmocka_unit_test(test_chatd_username_rules),
	    cmocka_unit_test(test_chatd_query_args_decode),
	    cmocka_unit_test(test_chatd_token_shape),
	    cmocka_unit_test(test_chatd_bucket_limits_and_refills),
	    cmocka_unit_test(test_chatd_remote_delivery_header_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
