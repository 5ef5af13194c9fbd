#include <sys/stat.h>

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

#include "../../installer/answers.h"
#include "buf.h"

static char dir[] = "/tmp/chatstack-test-answers-XXXXXX";
static char path[300];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof path, "%s/site.yaml", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *p, const char *text, mode_t mode)
{
	int fd;

	unlink(p);
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/*
 * Loads text from a private file; returns every error, one a line, with
 * the directory taken out of the file name ("site.yaml:1:2: ..."), or ""
 * when it loaded. *ap gets the answers when not NULL.
 */
static char *
load_mode(const char *text, mode_t mode, struct answers **ap)
{
	struct answers_errors errs = {NULL, 0};
	struct answers *a;
	struct buf b;
	char *s;
	size_t i;

	write_file(path, text, mode);
	a = answers_load(path, &errs);
	buf_init(&b);
	for (i = 0; i < errs.n; i++) {
		s = answers_error_string(&errs.list[i]);
		assert_true(strncmp(s, dir, strlen(dir)) == 0);
		buf_adds(&b, s + strlen(dir) + 1);
		buf_addc(&b, '\n');
		free(s);
	}
	assert_true((a == NULL) == (errs.n != 0));
	answers_errors_free(&errs);
	if (ap != NULL)
		*ap = a;
	else
		answers_free(a);
	return buf_detach(&b, NULL);
}

static char *
load(const char *text, struct answers **ap)
{
	return load_mode(text, 0600, ap);
}

static void
expect_errors(const char *text, const char *want)
{
	char *got;

	got = load(text, NULL);
	assert_string_equal(got, want);
	free(got);
}

/* Checks that one of the errors is want. */
static void
expect_error_line(const char *text, const char *want)
{
	char *got;

	got = load(text, NULL);
	if (strstr(got, want) == NULL)
		fail_msg("no '%s' among:\n%s", want, got);
	free(got);
}

static void
expect_valid(const char *text)
{
	char *got;

	got = load(text, NULL);
	assert_string_equal(got, "");
	free(got);
}

static void
test_answers_minimal_file_gives_defaults(void **state)
{
	struct answers *a, *d;
	char *got;

	(void)state;
	got = load("version: 1\n", &a);
	assert_string_equal(got, "");
	free(got);
	d = answers_defaults();
	assert_string_equal(a->path, path);
	assert_int_equal(a->version, 1);
	assert_int_equal(a->profile, PROFILE_PRODUCTION);
	assert_string_equal(a->hostname, d->hostname);
	assert_string_equal(a->hostname, "localhost");
	assert_string_equal(a->bind_address, "127.0.0.1");
	assert_int_equal(a->tls.mode, TLS_MODE_SELFSIGNED);
	assert_string_equal(a->tls.key_type, "ec256");
	assert_string_equal(
	    a->tls.directory, "https://acme-v02.api.letsencrypt.org/directory");
	assert_null(a->tls.email);
	assert_null(a->tls.cert);
	assert_int_equal(a->tls.nextra_names, 0);
	assert_int_equal(a->mariadb.port, 3306);
	assert_string_equal(a->mariadb.data_dir, "/var/lib/mysql");
	assert_int_equal(a->redis.port, 6379);
	assert_int_equal(a->rabbitmq.port, 5672);
	assert_int_equal(a->rabbitmq.dist_port, 25672);
	assert_int_equal(a->rabbitmq.epmd_port, 4369);
	assert_int_equal(a->chatd.instances, 2);
	assert_int_equal(a->chatd.port, 8081);
	assert_int_equal(a->nginx.http_port, 80);
	assert_int_equal(a->nginx.https_port, 443);
	assert_int_equal(a->nwaivers, 0);
	answers_free(a);
	answers_free(d);
}

static void
test_answers_full_file_is_read(void **state)
{
	const struct answers_waiver *w;
	struct answers *a;
	char *got;

	(void)state;
	got = load("version: 1\n"
		   "profile: small\n"
		   "hostname: chat.example.com\n"
		   "bind_address: ::1\n"
		   "tls:\n"
		   "  mode: letsencrypt\n"
		   "  extra_names: [a.example.com, b.example.com]\n"
		   "  letsencrypt:\n"
		   "    email: ops@example.com\n"
		   "    directory: https://127.0.0.1:14000/dir\n"
		   "    key_type: rsa2048\n"
		   "components:\n"
		   "  mariadb: {port: 13306, data_dir: /srv/db}\n"
		   "  redis: {port: 16379}\n"
		   "  rabbitmq: {port: 15672, dist_port: 35672, epmd_port: "
		   "14369}\n"
		   "  chatd: {instances: 4, port: 9001}\n"
		   "  nginx: {http_port: 8080, https_port: 8443}\n"
		   "preflight:\n"
		   "  waive:\n"
		   "    - {check: cpu.cores, reason: \"lab machine\"}\n"
		   "    - check: disk.free\n"
		   "      reason: small disk\n",
	    &a);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(a->profile, PROFILE_SMALL);
	assert_string_equal(a->bind_address, "::1");
	assert_int_equal(a->tls.mode, TLS_MODE_LETSENCRYPT);
	assert_int_equal(a->tls.nextra_names, 2);
	assert_string_equal(a->tls.extra_names[1], "b.example.com");
	assert_string_equal(a->tls.email, "ops@example.com");
	assert_string_equal(a->tls.directory, "https://127.0.0.1:14000/dir");
	assert_string_equal(a->tls.key_type, "rsa2048");
	assert_int_equal(a->mariadb.port, 13306);
	assert_string_equal(a->mariadb.data_dir, "/srv/db");
	assert_int_equal(a->chatd.instances, 4);
	assert_int_equal(a->nginx.https_port, 8443);
	assert_int_equal(a->nwaivers, 2);
	w = answers_waiver(a, "disk.free");
	assert_non_null(w);
	assert_string_equal(w->reason, "small disk");
	assert_null(answers_waiver(a, "memory.total"));
	answers_free(a);
}

static void
test_answers_syntax_error_names_line(void **state)
{
	(void)state;
	expect_errors("version: 1\nhostname: [a, b\n",
	    "site.yaml:3:1: found malformed YAML (did not find expected ',' "
	    "or ']' while parsing a flow sequence at line 2, column 11), "
	    "expected valid YAML\n");
	expect_errors("version: 1\n\tprofile: small\n",
	    "site.yaml:2:1: found malformed YAML (found a tab character that "
	    "violates indentation while scanning a plain scalar at line 1, "
	    "column 10), expected valid YAML\n");
	expect_errors("version: 1\n---\nversion: 1\n",
	    "site.yaml:2:1: found a second YAML document, expected one\n");
}

static void
test_answers_empty_or_non_mapping_file_is_refused(void **state)
{
	(void)state;
	expect_errors("",
	    "site.yaml:1:1: version: found an empty file, "
	    "expected at least 'version: 1'\n");
	expect_errors("# only a comment\n",
	    "site.yaml:1:1: version: found an empty file, expected at least "
	    "'version: 1'\n");
	expect_errors("- version\n",
	    "site.yaml:1:1: found a list, expected a mapping with the keys "
	    "version, profile, hostname, bind_address, tls, components, "
	    "preflight\n");
	expect_errors("hostname: chat.example.com\n",
	    "site.yaml:1:1: version: found no value, expected 1\n");
}

static void
test_answers_unknown_key_names_line(void **state)
{
	(void)state;
	expect_errors("version: 1\nhostnme: chat.example.com\n",
	    "site.yaml:2:1: hostnme: found unknown key 'hostnme', expected "
	    "one of version, profile, hostname, bind_address, tls, "
	    "components, preflight\n");
	expect_errors("version: 1\ncomponents:\n  redis:\n    prot: 1\n",
	    "site.yaml:4:5: components.redis.prot: found unknown key 'prot', "
	    "expected one of port, data_dir\n");
}

static void
test_answers_inline_secret_is_refused_without_echo(void **state)
{
	char *got;

	(void)state;
	got = load("version: 1\ntls:\n  letsencrypt:\n"
		   "    eab_hmac_key: c2VjcmV0LXZhbHVl\n",
	    NULL);
	assert_string_equal(got,
	    "site.yaml:4:5: tls.letsencrypt.eab_hmac_key: found the secret "
	    "'eab_hmac_key' written inline, expected a file holding it named "
	    "by 'eab_hmac_key_file' (secrets never go in the answer file)\n");
	assert_null(strstr(got, "c2VjcmV0"));
	free(got);
	/* Nor an unknown key's value. */
	got = load("version: 1\npassword: hunter2\n", NULL);
	assert_null(strstr(got, "hunter2"));
	free(got);
}

static void
test_answers_duplicate_key_names_both_lines(void **state)
{
	(void)state;
	expect_errors("version: 1\nhostname: a.example\nhostname: b.example\n",
	    "site.yaml:3:1: hostname: found the key a second time, expected "
	    "each key once (first at line 2)\n");
}

static void
test_answers_wrong_types_name_line(void **state)
{
	(void)state;
	expect_errors("version: 1\ncomponents:\n  redis: {port: \"6379\"}\n",
	    "site.yaml:3:17: components.redis.port: found '6379' (quoted, so "
	    "text), expected a port number from 1 to 65535\n");
	expect_errors("version: 1\ncomponents:\n  redis: {port: six}\n",
	    "site.yaml:3:17: components.redis.port: found 'six', expected a "
	    "port number from 1 to 65535\n");
	expect_errors("version: 1\nhostname: 1234\n",
	    "site.yaml:2:11: hostname: found 1234 (a number; quote it to make "
	    "it text), expected a host name (letters, digits and '-' in "
	    "dot-separated labels of 1 to 63 characters, 253 at most, not an "
	    "IP address)\n");
	expect_errors("version: 1\nprofile: true\n",
	    "site.yaml:2:10: profile: found true (a boolean; quote it to make "
	    "it text), expected one of production or small\n");
	expect_errors("version: 1\nhostname: [a]\n",
	    "site.yaml:2:11: hostname: found a list, expected a host name "
	    "(letters, digits and '-' in dot-separated labels of 1 to 63 "
	    "characters, 253 at most, not an IP address)\n");
	expect_errors("version: 1\ntls: selfsigned\n",
	    "site.yaml:2:6: tls: found 'selfsigned', expected a mapping with "
	    "the keys mode, extra_names, letsencrypt, provided\n");
	expect_errors("version: 1\ntls:\n  extra_names: a.example\n",
	    "site.yaml:3:16: tls.extra_names: found 'a.example', expected a "
	    "list of host names\n");
	expect_errors("version: 1\nhostname:\n",
	    "site.yaml:2:10: hostname: found no value, expected a host name "
	    "(letters, digits and '-' in dot-separated labels of 1 to 63 "
	    "characters, 253 at most, not an IP address)\n");
	expect_errors("version: 1\ncomponents:\n  chatd: {port: !!int 9000}\n",
	    "site.yaml:3:17: components.chatd.port: found 9000, expected a "
	    "port number from 1 to 65535\n");
	expect_errors("version: 1\nhostname: !!str chat.example.com\n", "");
	expect_errors("version: 1\n? [a]\n: b\n",
	    "site.yaml:2:3: found a list as a key, expected a key name\n");
}

static void
test_answers_numbers_out_of_range_name_line(void **state)
{
	(void)state;
	expect_errors("version: 2\n",
	    "site.yaml:1:10: version: found 2, "
	    "expected 1\n");
	expect_errors("version: 1\ncomponents:\n  nginx:\n    http_port: 0\n",
	    "site.yaml:4:16: components.nginx.http_port: found 0, expected a "
	    "port number from 1 to 65535\n");
	expect_errors("version: 1\ncomponents:\n  nginx:\n"
		      "    https_port: 65536\n",
	    "site.yaml:4:17: components.nginx.https_port: found 65536, "
	    "expected a port number from 1 to 65535\n");
	expect_errors("version: 1\ncomponents:\n  nginx:\n"
		      "    https_port: 99999999999999999999\n",
	    "site.yaml:4:17: components.nginx.https_port: found "
	    "99999999999999999999, expected a port number from 1 to 65535\n");
	expect_errors("version: 1\ncomponents:\n  chatd: {instances: 0}\n",
	    "site.yaml:3:22: components.chatd.instances: found 0, expected an "
	    "integer from 1 to 32\n");
	expect_errors("version: 1\ncomponents:\n  redis: {port: 63.79}\n",
	    "site.yaml:3:17: components.redis.port: found 63.79, expected a "
	    "port number from 1 to 65535\n");
}

static void
test_answers_unknown_choices_name_line(void **state)
{
	(void)state;
	expect_errors("version: 1\nprofile: huge\n",
	    "site.yaml:2:10: profile: found 'huge', expected one of "
	    "production or small\n");
	expect_errors("version: 1\ntls: {mode: acme}\n",
	    "site.yaml:2:13: tls.mode: found 'acme', expected one of "
	    "letsencrypt, selfsigned or provided\n");
	expect_errors("version: 1\ntls:\n  letsencrypt: {key_type: rsa1024}\n",
	    "site.yaml:3:27: tls.letsencrypt.key_type: found 'rsa1024', "
	    "expected one of ec256 or rsa2048\n");
}

static void
test_answers_hostname_cannot_inject_a_line(void **state)
{
	static const char *bad[] = {
	    "hostname: \"chat.example.com\\nlisten 80;\"\n",
	    "hostname: \"chat.example.com;\"\n",
	    "hostname: \"chat example.com\"\n",
	    "hostname: -chat.example.com\n",
	    "hostname: chat-.example.com\n",
	    "hostname: chat..example.com\n",
	    "hostname: 10.0.0.1\n",
	    "hostname: \"\"\n",
	    "hostname: chat_1.example.com\n",
	    "hostname: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".example\n",
	    NULL,
	};
	char text[256];
	char *got;
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof text, "version: 1\n%s", bad[i]);
		got = load(text, NULL);
		if (strncmp(got, "site.yaml:2:11: hostname: found ", 32) != 0 ||
		    strstr(got, "expected a host name") == NULL)
			fail_msg("%s gave: %s", bad[i], got);
		free(got);
	}
	expect_errors("version: 1\nhostname: \"a.example\\nb\"\n",
	    "site.yaml:2:11: hostname: found 'a.example\\nb', expected a host "
	    "name (letters, digits and '-' in dot-separated labels of 1 to 63 "
	    "characters, 253 at most, not an IP address)\n");
	expect_valid("version: 1\nhostname: Chat-1.Example.COM\n");
	expect_valid("version: 1\nhostname: 1chat.example\n");
}

static void
test_answers_bind_address_must_be_a_host_address(void **state)
{
	(void)state;
	expect_errors("version: 1\nbind_address: 0.0.0.0\n",
	    "site.yaml:2:15: bind_address: found '0.0.0.0', expected an IPv4 "
	    "or IPv6 address of this host such as 127.0.0.1 (not a wildcard "
	    "such as 0.0.0.0)\n");
	expect_error_line("version: 1\nbind_address: \"::\"\n",
	    "site.yaml:2:15: bind_address: found '::'");
	expect_error_line("version: 1\nbind_address: localhost\n",
	    "site.yaml:2:15: bind_address: found 'localhost'");
	expect_error_line("version: 1\nbind_address: 127.0.0.256\n",
	    "site.yaml:2:15: bind_address: found '127.0.0.256'");
	expect_valid("version: 1\nbind_address: 10.1.2.3\n");
	expect_valid("version: 1\nbind_address: \"fd00::1\"\n");
}

static void
test_answers_paths_must_be_absolute_and_plain(void **state)
{
	(void)state;
	expect_errors(
	    "version: 1\ncomponents:\n  redis: {data_dir: var/redis}\n",
	    "site.yaml:3:21: components.redis.data_dir: found 'var/redis', "
	    "expected an absolute path (letters, digits and '/._-+@', no "
	    "'..')\n");
	expect_error_line("version: 1\ncomponents:\n"
			  "  redis: {data_dir: /var/../etc}\n",
	    "site.yaml:3:21: components.redis.data_dir: found '/var/../etc'");
	expect_error_line("version: 1\ncomponents:\n"
			  "  redis: {data_dir: \"/var/a b\"}\n",
	    "site.yaml:3:21: components.redis.data_dir: found '/var/a b'");
	expect_error_line("version: 1\ncomponents:\n"
			  "  redis: {data_dir: \"/var/a;b\"}\n",
	    "site.yaml:3:21: components.redis.data_dir: found '/var/a;b'");
	expect_error_line("version: 1\ncomponents:\n  redis: {data_dir: /}\n",
	    "site.yaml:3:21: components.redis.data_dir: found '/'");
	expect_valid("version: 1\ncomponents:\n"
		     "  redis: {data_dir: /srv/redis..old/x}\n");
}

static void
test_answers_email_and_url_are_checked(void **state)
{
	(void)state;
	expect_errors("version: 1\ntls:\n  letsencrypt: {email: ops}\n",
	    "site.yaml:3:24: tls.letsencrypt.email: found 'ops', expected an "
	    "e-mail address such as ops@example.com\n");
	expect_error_line("version: 1\ntls:\n"
			  "  letsencrypt: {email: \"ops@ex ample.com\"}\n",
	    "site.yaml:3:24: tls.letsencrypt.email: found");
	expect_error_line("version: 1\ntls:\n"
			  "  letsencrypt: {email: ops@localhost}\n",
	    "site.yaml:3:24: tls.letsencrypt.email: found");
	expect_errors("version: 1\ntls:\n"
		      "  letsencrypt: {directory: http://acme.example/dir}\n",
	    "site.yaml:3:28: tls.letsencrypt.directory: found "
	    "'http://acme.example/dir', expected an https:// URL such as "
	    "https://acme-v02.api.letsencrypt.org/directory\n");
	expect_error_line("version: 1\ntls:\n  letsencrypt:\n"
			  "    directory: \"https://a.example/d ir\"\n",
	    "site.yaml:4:16: tls.letsencrypt.directory: found");
	expect_error_line("version: 1\ntls:\n  letsencrypt:\n"
			  "    directory: https://a.example:99999/dir\n",
	    "site.yaml:4:16: tls.letsencrypt.directory: found");
	expect_valid("version: 1\ntls:\n  letsencrypt:\n"
		     "    directory: https://[::1]:14000/dir\n"
		     "    email: first.last+chat@mail.example.org\n");
}

static void
test_answers_letsencrypt_needs_email_and_public_name(void **state)
{
	(void)state;
	expect_errors("version: 1\nhostname: chat.example.com\n"
		      "tls:\n  mode: letsencrypt\n",
	    "site.yaml:4:3: tls.letsencrypt.email: found no value, expected "
	    "an e-mail address for the ACME account (tls.mode is "
	    "letsencrypt)\n");
	expect_errors("version: 1\nhostname: chat\ntls:\n  mode: letsencrypt\n"
		      "  letsencrypt: {email: ops@example.com}\n",
	    "site.yaml:2:11: hostname: found 'chat', expected a public name "
	    "with a dot for Let's Encrypt (tls.mode is letsencrypt)\n");
	expect_errors("version: 1\nhostname: chat.example.com\ntls:\n"
		      "  mode: letsencrypt\n"
		      "  letsencrypt:\n    email: ops@example.com\n"
		      "    eab_kid: kid-1\n",
	    "site.yaml:6:5: tls.letsencrypt.eab_hmac_key_file: found no "
	    "value, expected eab_kid and eab_hmac_key_file together (External "
	    "Account Binding needs both)\n");
}

static void
test_answers_provided_needs_cert_and_key(void **state)
{
	(void)state;
	expect_errors("version: 1\ntls:\n  mode: provided\n",
	    "site.yaml:3:3: tls.provided.cert: found no value, expected the "
	    "path of the certificate (tls.mode is provided)\n"
	    "site.yaml:3:3: tls.provided.key: found no value, expected the "
	    "path of the private key (tls.mode is provided)\n");
}

static void
test_answers_referenced_files_must_exist(void **state)
{
	char text[1024], want[1024], *got;

	(void)state;
	snprintf(text, sizeof text,
	    "version: 1\ntls:\n  mode: provided\n  provided:\n"
	    "    cert: %s/none.pem\n    key: %s\n",
	    dir, dir);
	got = load(text, NULL);
	snprintf(want, sizeof want,
	    "site.yaml:5:11: tls.provided.cert: found '%s/none.pem', which "
	    "cannot be read (No such file or directory), expected an existing "
	    "file\n"
	    "site.yaml:6:10: tls.provided.key: found '%s', which is not a "
	    "regular file, expected a file\n",
	    dir, dir);
	assert_string_equal(got, want);
	free(got);
}

static void
test_answers_secret_file_readable_by_others_is_refused(void **state)
{
	char key[320], cert[320], text[1024], want[1024], *got;

	(void)state;
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	write_file(key, "not a real key\n", 0640);
	write_file(cert, "not a real cert\n", 0644);
	snprintf(text, sizeof text,
	    "version: 1\ntls:\n  mode: provided\n  provided:\n"
	    "    cert: %s\n    key: %s\n",
	    cert, key);
	got = load(text, NULL);
	snprintf(want, sizeof want,
	    "site.yaml:6:10: tls.provided.key: found '%s' with mode 0640, "
	    "which lets other users read a secret, expected a file only its "
	    "owner can read (run 'chmod 600 %s')\n",
	    key, key);
	assert_string_equal(got, want);
	free(got);

	assert_int_equal(chmod(key, 0600), 0);
	expect_valid(text);

	snprintf(text, sizeof text,
	    "version: 1\nhostname: chat.example.com\ntls:\n"
	    "  mode: letsencrypt\n  letsencrypt:\n"
	    "    email: ops@example.com\n    eab_kid: kid-1\n"
	    "    eab_hmac_key_file: %s\n",
	    cert);
	got = load(text, NULL);
	snprintf(want, sizeof want,
	    "site.yaml:8:24: tls.letsencrypt.eab_hmac_key_file: found '%s' "
	    "with mode 0644, which lets other users read a secret, expected a "
	    "file only its owner can read (run 'chmod 600 %s')\n",
	    cert, cert);
	assert_string_equal(got, want);
	free(got);
}

static void
test_answers_file_readable_by_others_is_refused(void **state)
{
	char *got, *want;

	(void)state;
	got = load_mode("version: 1\n", 0644, NULL);
	assert_true(asprintf(&want,
			"site.yaml: found mode 0644, which lets other users "
			"read or change the answers and the secret files they "
			"name, expected a file only its owner can read (run "
			"'chmod 600 %s')\n",
			path) > 0);
	assert_string_equal(got, want);
	free(got);
	free(want);
	got = load_mode("version: 1\n", 0620, NULL);
	assert_non_null(strstr(got, "found mode 0620"));
	free(got);
	got = load_mode("version: 1\n", 0400, NULL);
	assert_string_equal(got, "");
	free(got);
}

static void
test_answers_missing_file_is_an_error(void **state)
{
	struct answers_errors errs = {NULL, 0};
	char *s;

	(void)state;
	assert_null(answers_load("/nonexistent/site.yaml", &errs));
	assert_int_equal(errs.n, 1);
	s = answers_error_string(&errs.list[0]);
	assert_string_equal(s,
	    "/nonexistent/site.yaml: cannot read the "
	    "answer file: No such file or directory");
	free(s);
	answers_errors_free(&errs);
	assert_null(answers_load(dir, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.list[0].message, "special file"));
	answers_errors_free(&errs);
}

static void
test_answers_port_clash_names_later_key(void **state)
{
	(void)state;
	expect_errors("version: 1\ncomponents:\n  redis: {port: 3306}\n",
	    "site.yaml:3:17: components.redis.port: found port 3306, which "
	    "components.mariadb.port also uses, expected each port used "
	    "once\n");
	expect_errors("version: 1\ncomponents:\n  nginx: {http_port: 8082}\n",
	    "site.yaml:3:22: components.nginx.http_port: found port 8082, "
	    "which components.chatd.port also uses (chatd instance N listens "
	    "on port+N-1), expected each port used once\n");
	expect_errors("version: 1\ncomponents:\n"
		      "  chatd: {instances: 4, port: 4366}\n",
	    "site.yaml:3:31: components.chatd.port: found port 4366, which "
	    "components.rabbitmq.epmd_port also uses (chatd instance N listens "
	    "on port+N-1), expected each port used once\n");
	expect_errors("version: 1\ncomponents:\n"
		      "  chatd: {instances: 3, port: 65534}\n",
	    "site.yaml:3:31: components.chatd.port: found 65534, expected a "
	    "port that leaves room for 3 instances (at most 65533)\n");
	expect_valid("version: 1\ncomponents:\n  chatd: {instances: 32, "
		     "port: 9000}\n");
}

static void
test_answers_shared_data_dir_is_refused(void **state)
{
	(void)state;
	expect_errors("version: 1\ncomponents:\n"
		      "  rabbitmq: {data_dir: /var/lib/redis}\n",
	    "site.yaml:3:24: components.rabbitmq.data_dir: found "
	    "'/var/lib/redis', which components.redis.data_dir also uses, "
	    "expected a directory of its own\n");
}

static void
test_answers_waivers_need_check_and_reason(void **state)
{
	(void)state;
	expect_errors(
	    "version: 1\npreflight:\n  waive:\n    - check: cpu.cores\n",
	    "site.yaml:4:7: preflight.waive[0].reason: found no value, "
	    "expected text on one line, 1 to 200 characters\n");
	expect_errors("version: 1\npreflight:\n  waive:\n"
		      "    - reason: lab\n",
	    "site.yaml:4:7: preflight.waive[0].check: found no value, "
	    "expected a preflight check id such as cpu.cores (lowercase "
	    "letters, digits, '_' and '-' in dot-separated parts)\n");
	expect_errors("version: 1\npreflight:\n  waive:\n"
		      "    - {check: CPU, reason: lab}\n",
	    "site.yaml:4:15: preflight.waive[0].check: found 'CPU', expected "
	    "a preflight check id such as cpu.cores (lowercase letters, "
	    "digits, '_' and '-' in dot-separated parts)\n");
	expect_error_line("version: 1\npreflight:\n  waive:\n"
			  "    - {check: cpu, reason: lab}\n",
	    "site.yaml:4:15: preflight.waive[0].check: found 'cpu'");
	expect_errors("version: 1\npreflight:\n  waive:\n"
		      "    - {check: cpu.cores, reason: \"a\\nb\"}\n",
	    "site.yaml:4:34: preflight.waive[0].reason: found 'a\\nb', "
	    "expected text on one line, 1 to 200 characters\n");
	expect_error_line("version: 1\npreflight:\n  waive:\n"
			  "    - {check: cpu.cores, reason: \"  \"}\n",
	    "site.yaml:4:34: preflight.waive[0].reason: found '  '");
	expect_errors("version: 1\npreflight:\n  waive:\n"
		      "    - {check: cpu.cores, reason: a}\n"
		      "    - {check: cpu.cores, reason: b}\n",
	    "site.yaml:5:15: preflight.waive[1].check: found 'cpu.cores' "
	    "waived a second time, expected each check waived once\n");
	expect_errors("version: 1\npreflight:\n  waive:\n    - cpu.cores\n",
	    "site.yaml:4:7: preflight.waive[0]: found 'cpu.cores', expected "
	    "a mapping with the keys check, reason\n");
	expect_errors("version: 1\npreflight:\n  waive: cpu.cores\n",
	    "site.yaml:3:10: preflight.waive: found 'cpu.cores', expected a "
	    "list of { check: ID, reason: TEXT }\n");
}

static void
test_answers_empty_sections_keep_defaults(void **state)
{
	(void)state;
	expect_valid("version: 1\ntls:\ncomponents:\n  redis:\npreflight:\n"
		     "  waive:\n");
	expect_valid("version: 1\ntls:\n  letsencrypt:\n    ca_file: ~\n");
}

static void
test_answers_every_error_in_one_run_in_file_order(void **state)
{
	char *got;

	(void)state;
	got = load("version: 1\n"
		   "profile: huge\n"
		   "hostname: \"a;b\"\n"
		   "colour: blue\n"
		   "components:\n"
		   "  redis: {port: 0}\n",
	    NULL);
	assert_string_equal(got,
	    "site.yaml:2:10: profile: found 'huge', expected one of "
	    "production or small\n"
	    "site.yaml:3:11: hostname: found 'a;b', expected a host name "
	    "(letters, digits and '-' in dot-separated labels of 1 to 63 "
	    "characters, 253 at most, not an IP address)\n"
	    "site.yaml:4:1: colour: found unknown key 'colour', expected one "
	    "of version, profile, hostname, bind_address, tls, components, "
	    "preflight\n"
	    "site.yaml:6:17: components.redis.port: found 0, expected a port "
	    "number from 1 to 65535\n");
	free(got);
}

static void
test_answers_error_flood_is_capped(void **state)
{
	struct answers_errors errs = {NULL, 0};
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_adds(&b, "version: 1\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&b, "k%d: 1\n", i);
	assert_null(answers_parse("x.yaml", b.data, b.len, &errs));
	assert_int_equal(errs.n, 101);
	assert_string_equal(
	    errs.list[100].message, "too many errors; stopped reporting");
	answers_errors_free(&errs);
	buf_free(&b);
}

static void
test_answers_error_string_formats(void **state)
{
	struct answers_error e = {"f.yaml", 3, 7, "tls.mode", "found x"};
	char *s;

	(void)state;
	s = answers_error_string(&e);
	assert_string_equal(s, "f.yaml:3:7: tls.mode: found x");
	free(s);
	e.line = 0;
	s = answers_error_string(&e);
	assert_string_equal(s, "f.yaml: tls.mode: found x");
	free(s);
	e.key = NULL;
	s = answers_error_string(&e);
	assert_string_equal(s, "f.yaml: found x");
	free(s);
}

static void
test_answers_to_json_has_the_yaml_shape(void **state)
{
	struct answers *a;
	json_t *j;
	char *got;

	(void)state;
	got = load("version: 1\nbind_address: \"::1\"\n"
		   "tls: {extra_names: [x.example]}\n"
		   "preflight:\n  waive: [{check: cpu.cores, reason: lab}]\n",
	    &a);
	assert_string_equal(got, "");
	free(got);
	j = answers_to_json(a);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(j, "profile")), "production");
	assert_string_equal(
	    json_string_value(json_object_get(j, "hostname")), "localhost");
	assert_string_equal(
	    json_string_value(json_object_get(j, "bind_host")), "[::1]");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(j, "tls"), "mode")),
	    "selfsigned");
	assert_true(json_is_null(json_object_get(
	    json_object_get(json_object_get(j, "tls"), "letsencrypt"),
	    "email")));
	assert_string_equal(
	    json_string_value(json_array_get(
		json_object_get(json_object_get(j, "tls"), "extra_names"), 0)),
	    "x.example");
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(j, "components"), "mariadb"),
		"port")),
	    3306);
	assert_int_equal(
	    json_integer_value(json_array_get(
		json_object_get(
		    json_object_get(json_object_get(j, "components"), "chatd"),
		    "ports"),
		1)),
	    8082);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(
		    json_object_get(json_object_get(j, "preflight"), "waive"),
		    0),
		"reason")),
	    "lab");
	json_decref(j);
	answers_free(a);

	a = answers_defaults();
	j = answers_to_json(a);
	assert_string_equal(
	    json_string_value(json_object_get(j, "bind_host")), "127.0.0.1");
	json_decref(j);
	answers_free(a);
}

static void
test_answers_names_of_enums(void **state)
{
	(void)state;
	assert_string_equal(answers_profile_name(PROFILE_SMALL), "small");
	assert_string_equal(
	    answers_profile_name(PROFILE_PRODUCTION), "production");
	assert_string_equal(
	    answers_tls_mode_name(TLS_MODE_LETSENCRYPT), "letsencrypt");
	assert_string_equal(
	    answers_tls_mode_name(TLS_MODE_PROVIDED), "provided");
	assert_string_equal(
	    answers_tls_mode_name(TLS_MODE_SELFSIGNED), "selfsigned");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_answers_minimal_file_gives_defaults),
	    cmocka_unit_test(test_answers_full_file_is_read),
	    cmocka_unit_test(test_answers_syntax_error_names_line),
	    cmocka_unit_test(test_answers_empty_or_non_mapping_file_is_refused),
	    cmocka_unit_test(test_answers_unknown_key_names_line),
	    cmocka_unit_test(
		test_answers_inline_secret_is_refused_without_echo),
	    cmocka_unit_test(test_answers_duplicate_key_names_both_lines),
	    cmocka_unit_test(test_answers_wrong_types_name_line),
	    cmocka_unit_test(test_answers_numbers_out_of_range_name_line),
	    cmocka_unit_test(test_answers_unknown_choices_name_line),
	    cmocka_unit_test(test_answers_hostname_cannot_inject_a_line),
	    cmocka_unit_test(test_answers_bind_address_must_be_a_host_address),
	    cmocka_unit_test(test_answers_paths_must_be_absolute_and_plain),
	    cmocka_unit_test(test_answers_email_and_url_are_checked),
	    cmocka_unit_test(
		test_answers_letsencrypt_needs_email_and_public_name),
	    cmocka_unit_test(test_answers_provided_needs_cert_and_key),
	    cmocka_unit_test(test_answers_referenced_files_must_exist),
	    cmocka_unit_test(
		test_answers_secret_file_readable_by_others_is_refused),
	    cmocka_unit_test(test_answers_file_readable_by_others_is_refused),
	    cmocka_unit_test(test_answers_missing_file_is_an_error),
	    cmocka_unit_test(test_answers_port_clash_names_later_key),
	    cmocka_unit_test(test_answers_shared_data_dir_is_refused),
	    cmocka_unit_test(test_answers_waivers_need_check_and_reason),
	    cmocka_unit_test(test_answers_empty_sections_keep_defaults),
	    cmocka_unit_test(test_answers_every_error_in_one_run_in_file_order),
	    cmocka_unit_test(test_answers_error_flood_is_capped),
	    cmocka_unit_test(test_answers_error_string_formats),
	    cmocka_unit_test(test_answers_to_json_has_the_yaml_shape),
	    cmocka_unit_test(test_answers_names_of_enums),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
