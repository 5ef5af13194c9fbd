#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "../../installer/template.h"

static json_t *vars;

static int
setup(void **state)
{
	json_error_t err;

	(void)state;
	vars = json_loads("{"
			  "\"hostname\": \"chat.example.com\","
			  "\"empty\": \"\","
			  "\"nothing\": null,"
			  "\"yes\": true, \"no\": false,"
			  "\"zero\": 0,"
			  "\"tls\": {\"mode\": \"letsencrypt\", \"port\": 443},"
			  "\"names\": [\"a.example\", \"b.example\"],"
			  "\"none\": [],"
			  "\"chatd\": [{\"port\": 8081}, {\"port\": 8082}],"
			  "\"grid\": [[1, 2], [3]],"
			  "\"evil\": \"x\\nlisten 80;\","
			  "\"cr\": \"x\\ry\","
			  "\"nul\": \"x\\u0000y\","
			  "\"tab\": \"a\\tb\""
			  "}",
	    JSON_ALLOW_NUL, &err);
	return vars == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(vars);
	return 0;
}

/* Renders text; returns the output or the error, both allocated. */
static char *
render(const char *text, int *rc)
{
	struct buf out;
	char *cause = NULL;

	buf_init(&out);
	*rc = template_render("t.conf", text, vars, &out, &cause);
	if (*rc != 0) {
		buf_free(&out);
		return cause;
	}
	assert_null(cause);
	return buf_detach(&out, NULL);
}

static void
expect_output(const char *text, const char *want)
{
	char *got;
	int rc;

	got = render(text, &rc);
	if (rc != 0)
		fail_msg("unexpected error: %s", got);
	assert_string_equal(got, want);
	free(got);
}

static void
expect_error(const char *text, const char *want)
{
	char *got;
	int rc;

	got = render(text, &rc);
	if (rc == 0)
		fail_msg("rendered without error: '%s'", got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_template_plain_text_passes_through(void **state)
{
	(void)state;
	expect_output("", "");
	expect_output(
	    "server {\n\tlisten 80;\n}\n", "server {\n\tlisten 80;\n}\n");
	expect_output("a { b } % # {", "a { b } % # {");
}

static void
test_template_variables_print_scalars(void **state)
{
	(void)state;
	expect_output(
	    "server_name {{ hostname }};", "server_name chat.example.com;");
	expect_output("{{hostname}}", "chat.example.com");
	expect_output(
	    "{{ tls.port }} {{ yes }} {{ no }} {{ zero }}", "443 true false 0");
	expect_output("[{{ empty }}]", "[]");
	expect_output("{{ tab }}", "a\tb");
}

static void
test_template_if_else(void **state)
{
	(void)state;
	expect_output("{% if yes %}Y{% endif %}", "Y");
	expect_output("{% if no %}Y{% endif %}", "");
	expect_output("{% if no %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if tls %}Y{% endif %}", "Y");
	expect_output("{%if hostname%}Y{%endif%}", "Y");
}

static void
test_template_truthiness(void **state)
{
	(void)state;
	expect_output("{% if empty %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if zero %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if nothing %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if none %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if names %}Y{% else %}N{% endif %}", "Y");
	expect_output("{% if tls.port %}Y{% else %}N{% endif %}", "Y");
}

static void
test_template_if_compares_as_strings(void **state)
{
	(void)state;
	expect_output("{% if tls.mode == \"letsencrypt\" %}Y{% endif %}", "Y");
	expect_output("{% if tls.mode != \"letsencrypt\" %}Y{% endif %}", "");
	expect_output("{% if tls.port == \"443\" %}Y{% endif %}", "Y");
	expect_output("{% if yes == \"true\" %}Y{% endif %}", "Y");
	expect_output("{% if nothing == \"\" %}Y{% endif %}", "Y");
	expect_output(
	    "{% if hostname == \"a b\" %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if empty == \"\\\"\" %}Y{% else %}N{% endif %}", "N");
	expect_output("{% if nul == \"x\" %}Y{% else %}N{% endif %}", "N");
}

static void
test_template_nested_if(void **state)
{
	(void)state;
	expect_output("{% if yes %}a{% if no %}b{% else %}c{% endif %}d"
		      "{% else %}e{% endif %}",
	    "acd");
}

static void
test_template_for_over_list(void **state)
{
	(void)state;
	expect_output("{% for n in names %}{{ loop.index }}={{ n }} "
		      "{% endfor %}",
	    "1=a.example 2=b.example ");
	expect_output("{% for c in chatd %}server 127.0.0.1:{{ c.port }};"
		      "{% endfor %}",
	    "server 127.0.0.1:8081;server 127.0.0.1:8082;");
	expect_output("{% for n in none %}x{% endfor %}", "");
	expect_output("{% for n in names %}{{ n }}{% if loop.last %}"
		      "{% else %},{% endif %}{% endfor %}",
	    "a.example,b.example");
	expect_output("{% for n in names %}{% if loop.first %}{{ n }}"
		      "{% endif %}{% endfor %}",
	    "a.example");
}

static void
test_template_nested_for_has_inner_loop(void **state)
{
	(void)state;
	expect_output("{% for row in grid %}{% for x in row %}"
		      "{{ loop.index }}:{{ x }} {% endfor %}|{% endfor %}",
	    "1:1 2:2 |1:3 |");
	/* The item shadows a variable of the same name. */
	expect_output("{% for hostname in names %}{{ hostname }} "
		      "{% endfor %}{{ hostname }}",
	    "a.example b.example chat.example.com");
}

static void
test_template_comments_vanish(void **state)
{
	(void)state;
	expect_output("a{# note #}b", "ab");
	expect_output("a{# two\nlines #}b", "ab");
	expect_output("{# {{ not_a_variable }} {% bogus %} #}x", "x");
}

static void
test_template_raw_blocks_keep_tags_as_text(void **state)
{
	(void)state;
	expect_output("a{% raw %}{{ x }} {% if %} {#{% endraw %}b",
	    "a{{ x }} {% if %} {#b");
	expect_output("n=1\n{% raw %}\necho ${#list}\n{% endraw %}\n"
		      "{{ hostname }}\n",
	    "n=1\necho ${#list}\nchat.example.com\n");
	expect_output("{%raw%}{% endif %}{%  endraw  %}", "{% endif %}");
	/* Lines inside a raw block still count for later errors. */
	expect_error("{% raw %}\n\n{% endraw %}\n{{ nope }}",
	    "t.conf:4: unknown variable 'nope'");
	expect_error("x\n{% raw %}{{ a }}",
	    "t.conf:2: '{% raw %}' is never closed with '{% endraw %}'");
}

static void
test_template_tag_alone_on_line_leaves_no_blank_line(void **state)
{
	(void)state;
	expect_output("a\n{% if yes %}\nb\n{% endif %}\nc\n", "a\nb\nc\n");
	expect_output("a\n  {% if no %}  \nb\n  {% else %}\nB\n\t{% endif "
		      "%}\nc\n",
	    "a\nB\nc\n");
	expect_output("{# header #}\nx\n", "x\n");
	expect_output("x\n{# last #}", "x\n");
	expect_output(
	    "a\r\n{% if yes %}\r\nb\r\n{% endif %}\r\n", "a\r\nb\r\n");
	expect_output("{% for n in names %}\n- {{ n }}\n{% endfor %}\n",
	    "- a.example\n- b.example\n");
	/* Not alone: the text around the tag stays. */
	expect_output("a {% if yes %}b{% endif %}\n", "a b\n");
	expect_output("{% if yes %}b\n{% endif %} c\n", "b\n c\n");
	/* A variable alone on its line keeps its line. */
	expect_output("{{ hostname }}\nx", "chat.example.com\nx");
}

static void
test_template_unknown_variable_names_line(void **state)
{
	(void)state;
	expect_error("a\nb\n{{ nope }}\n", "t.conf:3: unknown variable 'nope'");
	expect_error("{{ tls.nope }}", "t.conf:1: unknown variable 'tls.nope'");
	expect_error(
	    "{{ hostname.x }}", "t.conf:1: unknown variable 'hostname.x'");
	expect_error(
	    "\n{% if nope %}{% endif %}", "t.conf:2: unknown variable 'nope'");
	expect_error("{% for x in nope %}{% endfor %}",
	    "t.conf:1: unknown variable 'nope'");
	expect_error("{{ loop.index }}",
	    "t.conf:1: unknown variable "
	    "'loop.index'");
	expect_error("{% for n in names %}{% endfor %}{{ n }}",
	    "t.conf:1: unknown variable 'n'");
}

static void
test_template_malformed_tags_name_line(void **state)
{
	(void)state;
	expect_error("a\n{{ hostname\n}}",
	    "t.conf:2: '{{' is not closed with "
	    "'}}' on its line");
	expect_error("{% if yes",
	    "t.conf:1: '{%' is not closed with '%}' "
	    "on its line");
	expect_error("x\n\n{# open",
	    "t.conf:3: comment '{#' is never closed "
	    "with '#}'");
	expect_error("{{ }}",
	    "t.conf:1: '{{ }}' holds exactly one variable "
	    "name");
	expect_error("{{ a b }}",
	    "t.conf:1: '{{ }}' holds exactly one "
	    "variable name");
	expect_error("{{ a..b }}",
	    "t.conf:1: 'a..b' is not a variable name "
	    "(names are letters, digits and '_', "
	    "joined by '.')");
	expect_error("{{ 1a }}",
	    "t.conf:1: '1a' is not a variable name "
	    "(names are letters, digits and '_', joined "
	    "by '.')");
	expect_error("{{ a- }}",
	    "t.conf:1: 'a-' is not a variable name "
	    "(names are letters, digits and '_', joined "
	    "by '.')");
	expect_error("{% %}", "t.conf:1: empty tag '{% %}'");
	expect_error("\n{% include x %}",
	    "t.conf:2: unknown tag 'include' "
	    "(known: if, else, endif, for, "
	    "endfor)");
}

static void
test_template_unbalanced_blocks_name_line(void **state)
{
	(void)state;
	expect_error("a\n{% if yes %}\nb\n",
	    "t.conf:2: 'if' is never closed "
	    "with 'endif'");
	expect_error("{% if yes %}{% else %}",
	    "t.conf:1: 'if' is never "
	    "closed with 'endif'");
	expect_error("\n\n{% for n in names %}",
	    "t.conf:3: 'for' is never "
	    "closed with 'endfor'");
	expect_error("x\n{% endif %}",
	    "t.conf:2: 'endif' without an open "
	    "'if'");
	expect_error("{% else %}", "t.conf:1: 'else' without an open 'if'");
	expect_error("{% endfor %}",
	    "t.conf:1: 'endfor' without an open "
	    "'for'");
	expect_error("{% for n in names %}{% endif %}{% endfor %}",
	    "t.conf:1: 'endif' without an open 'if'");
	expect_error("{% if yes %}\n{% endfor %}{% endif %}",
	    "t.conf:2: 'endfor' without an open 'for'");
	expect_error("{% if yes %}{% else %}\n{% else %}{% endif %}",
	    "t.conf:2: 'if' from line 1 has a second 'else'");
	expect_error("{% if yes %}{% endif x %}",
	    "t.conf:1: 'endif' takes "
	    "nothing after it");
}

static void
test_template_bad_if_and_for_name_line(void **state)
{
	(void)state;
	expect_error("{% if %}{% endif %}",
	    "t.conf:1: 'if' takes a variable, "
	    "optionally followed by == or != "
	    "and a \"string\"");
	expect_error("{% if a == %}{% endif %}",
	    "t.conf:1: 'if' takes a variable, optionally followed by == or "
	    "!= and a \"string\"");
	expect_error("{% if a < \"b\" %}{% endif %}",
	    "t.conf:1: 'if' compares with == or !=, not '<'");
	expect_error("{% if a == b %}{% endif %}",
	    "t.conf:1: 'if' compares with a \"quoted string\"");
	expect_error("{% if a == \"b %}{% endif %}",
	    "t.conf:1: string is not closed with '\"'");
	expect_error("{% for n names %}{% endfor %}",
	    "t.conf:1: 'for' reads 'for NAME in LIST'");
	expect_error("{% for n of names %}{% endfor %}",
	    "t.conf:1: 'for' reads 'for NAME in LIST'");
	expect_error("{% for a.b in names %}{% endfor %}",
	    "t.conf:1: 'a.b' cannot name a loop item");
	expect_error("{% for loop in names %}{% endfor %}",
	    "t.conf:1: 'loop' cannot name a loop item");
	expect_error("{% if a b c d e f g %}",
	    "t.conf:1: too many words in "
	    "tag");
}

static void
test_template_wrong_types_name_line(void **state)
{
	(void)state;
	expect_error("{{ tls }}",
	    "t.conf:1: 'tls' is an object, not a value "
	    "to print");
	expect_error("{{ names }}",
	    "t.conf:1: 'names' is a list, not a value "
	    "to print");
	expect_error("{{ nothing }}",
	    "t.conf:1: 'nothing' is null, not a "
	    "value to print");
	expect_error("{% for x in hostname %}{% endfor %}",
	    "t.conf:1: 'for' needs a list, 'hostname' is a string");
	expect_error("{% for x in tls %}{% endfor %}",
	    "t.conf:1: 'for' needs a list, 'tls' is an object");
	expect_error("{% if names == \"a\" %}{% endif %}",
	    "t.conf:1: 'names' is a list and cannot be compared with a "
	    "string");
}

static void
test_template_value_cannot_inject_a_line(void **state)
{
	(void)state;
	expect_error("server_name {{ evil }};\n",
	    "t.conf:1: the value of 'evil' holds a control character (0x0a) "
	    "and would break the line");
	expect_error("\n{{ cr }}",
	    "t.conf:2: the value of 'cr' holds a "
	    "control character (0x0d) and would break "
	    "the line");
	expect_error("{{ nul }}",
	    "t.conf:1: the value of 'nul' holds a NUL "
	    "byte");
}

static void
test_template_error_leaves_output_untouched(void **state)
{
	struct buf out;
	char *cause = NULL;

	(void)state;
	buf_init(&out);
	buf_adds(&out, "before;");
	assert_int_equal(template_render("t.conf", "x{{ hostname }}{{ nope }}",
			     vars, &out, &cause),
	    -1);
	assert_string_equal(out.data, "before;");
	free(cause);
	assert_int_equal(
	    template_render("t.conf", "x{{ hostname }}", vars, &out, &cause),
	    0);
	assert_string_equal(out.data, "before;xchat.example.com");
	buf_free(&out);
}

static void
test_template_error_in_untaken_branch_is_found(void **state)
{
	(void)state;
	expect_error("{% if no %}\n{% bogus %}\n{% endif %}",
	    "t.conf:2: unknown tag 'bogus' (known: if, else, endif, for, "
	    "endfor)");
}

static void
test_template_deep_nesting_is_refused(void **state)
{
	char text[2048];
	size_t i;

	(void)state;
	text[0] = '\0';
	for (i = 0; i < 40; i++)
		strcat(text, "{% if yes %}");
	expect_error(text, "t.conf:1: blocks are nested more than 32 deep");
}

static void
test_template_render_file_names_path(void **state)
{
	char path[] = "/tmp/chatstack-test-template-XXXXXX";
	struct buf out;
	char *cause = NULL, *want;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, "ok {{ hostname }}\n{{ bad }}\n", 27), 27);
	close(fd);
	buf_init(&out);
	assert_int_equal(template_render_file(path, vars, &out, &cause), -1);
	want = NULL;
	assert_true(asprintf(&want, "%s:2: unknown variable 'bad'", path) > 0);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	cause = NULL;

	assert_true((fd = open(path, O_WRONLY | O_TRUNC)) != -1);
	assert_int_equal(write(fd, "ok {{ hostname }}\n", 18), 18);
	close(fd);
	assert_int_equal(template_render_file(path, vars, &out, &cause), 0);
	assert_string_equal(out.data, "ok chat.example.com\n");
	unlink(path);

	assert_int_equal(template_render_file(path, vars, &out, &cause), -1);
	assert_non_null(strstr(cause, "cannot open"));
	free(cause);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template_plain_text_passes_through),
	    cmocka_unit_test(test_template_variables_print_scalars),
	    cmocka_unit_test(test_template_if_else),
	    cmocka_unit_test(test_template_truthiness),
	    cmocka_unit_test(test_template_if_compares_as_strings),
	    cmocka_unit_test(test_template_nested_if),
	    cmocka_unit_test(test_template_for_over_list),
	    cmocka_unit_test(test_template_nested_for_has_inner_loop),
	    cmocka_unit_test(test_template_comments_vanish),
	    cmocka_unit_test(test_template_raw_blocks_keep_tags_as_text),
	    cmocka_unit_test(
		test_template_tag_alone_on_line_leaves_no_blank_line),
	    cmocka_unit_test(test_template_unknown_variable_names_line),
	    cmocka_unit_test(test_template_malformed_tags_name_line),
	    cmocka_unit_test(test_template_unbalanced_blocks_name_line),
	    cmocka_unit_test(test_template_bad_if_and_for_name_line),
	    cmocka_unit_test(test_template_wrong_types_name_line),
	    cmocka_unit_test(test_template_value_cannot_inject_a_line),
	    cmocka_unit_test(test_template_error_leaves_output_untouched),
	    cmocka_unit_test(test_template_error_in_untaken_branch_is_found),
	    cmocka_unit_test(test_template_deep_nesting_is_refused),
	    cmocka_unit_test(test_template_render_file_names_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
