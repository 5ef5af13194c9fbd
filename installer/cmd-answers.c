/*
 * chatstack answers validate FILE | example: check an answer file, or
 * print a commented example that passes the check.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answers.h"
#include "cmd.h"
#include "fileio.h"
#include "xmalloc.h"

static int cmd_answers_validate(int, char **);
static int cmd_answers_example(int, char **);

static const char cmd_answers_example_text[] =
    "# chatstack answer file, version 1 (see docs/answers.md).\n"
    "# Keep it private: chatstack refuses an answer file that other users\n"
    "# can read (chmod 600). Secrets never go in here: they are generated\n"
    "# on the server, or named by *_file keys.\n"
    "\n"
    "# The schema this file is written for. Required.\n"
    "version: 1\n"
    "\n"
    "# production (the default) or small: small lowers the preflight\n"
    "# thresholds (CPU, memory, disk) for labs and demos.\n"
    "profile: production\n"
    "\n"
    "# The public name of the chat site: nginx serves it and the TLS\n"
    "# certificate is issued for it. Default: localhost.\n"
    "hostname: chat.example.com\n"
    "\n"
    "# Where MariaDB, Redis, RabbitMQ and chatd listen: an address of\n"
    "# this host, never a wildcard. Only nginx faces the network.\n"
    "bind_address: 127.0.0.1\n"
    "\n"
    "tls:\n"
    "  # selfsigned (the default): a local CA made on the server;\n"
    "  # letsencrypt: a certificate from an ACME server (needs email);\n"
    "  # provided: your own certificate and key (needs provided.cert and\n"
    "  # provided.key).\n"
    "  mode: selfsigned\n"
    "  # More names for the certificate, besides hostname.\n"
    "  extra_names: [chat-internal.example.com]\n"
    "  letsencrypt:\n"
    "    # The ACME account's contact address.\n"
    "    email: ops@example.com\n"
    "    # The ACME directory; the default is Let's Encrypt's.\n"
    "    directory: https://acme-v02.api.letsencrypt.org/directory\n"
    "    # ec256 (the default) or rsa2048.\n"
    "    key_type: ec256\n"
    "    # A CA to trust for a private ACME server:\n"
    "    # ca_file: /etc/chatstack/acme-ca.pem\n"
    "    # External Account Binding, when the ACME server wants it; the\n"
    "    # HMAC key lives in a file only root can read:\n"
    "    # eab_kid: kid-1\n"
    "    # eab_hmac_key_file: /etc/chatstack/eab.key\n"
    "  # provided:\n"
    "  #   cert: /etc/ssl/chat/fullchain.pem\n"
    "  #   key: /etc/ssl/chat/privkey.pem     # mode 0600\n"
    "  #   chain: /etc/ssl/chat/chain.pem     # when cert lacks it\n"
    "\n"
    "# Ports and data directories; every port must differ. The values\n"
    "# shown are the defaults.\n"
    "components:\n"
    "  mariadb:\n"
    "    port: 3306\n"
    "    data_dir: /var/lib/mysql\n"
    "  redis:\n"
    "    port: 6379\n"
    "    data_dir: /var/lib/redis\n"
    "  rabbitmq:\n"
    "    port: 5672        # AMQP\n"
    "    dist_port: 25672  # Erlang distribution\n"
    "    epmd_port: 4369\n"
    "    data_dir: /var/lib/rabbitmq\n"
    "  chatd:\n"
    "    # chatd@1 listens on port, chatd@2 on port+1, and so on.\n"
    "    instances: 2\n"
    "    port: 8081\n"
    "  nginx:\n"
    "    http_port: 80\n"
    "    https_port: 443\n"
    "\n"
    "preflight:\n"
    "  # Checks to let pass on this host, each with the reason, which\n"
    "  # every report shows. 'chatstack preflight' lists the check ids.\n"
    "  waive:\n"
    "    - check: cpu.cores\n"
    "      reason: lab machine with 1 core, not for production\n";

static const struct cmd_entry cmd_answers_validate_entry = {
    .name = "validate",
    .args = "FILE",
    .summary = "Check an answer file; print every problem with its place.",
    .help = "Prints one line a problem, 'FILE:LINE:COLUMN: KEY: found X, "
	    "expected Y',\nand exits 1; prints nothing and exits 0 when the "
	    "file is valid.\nThe file must be readable by its owner only "
	    "(chmod 600).\n",
    .exec = cmd_answers_validate,
};

static const struct cmd_entry cmd_answers_example_entry = {
    .name = "example",
    .args = "[-o FILE]",
    .summary = "Print a fully commented example answer file.",
    .help = "options:\n"
	    "  -o FILE   write it to FILE (created with mode 0600, never "
	    "overwritten)\n"
	    "            instead of standard output\n",
    .exec = cmd_answers_example,
};

static const struct cmd_entry *const cmd_answers_children[] = {
    &cmd_answers_validate_entry,
    &cmd_answers_example_entry,
    NULL,
};

static int cmd_answers_exec(int, char **);

const struct cmd_entry cmd_answers_entry = {
    .name = "answers",
    .args = "validate FILE | example [-o FILE]",
    .summary = "Check an answer file, or print a commented example.",
    .exec = cmd_answers_exec,
    .children = cmd_answers_children,
};

static int
cmd_answers_exec(int argc, char **argv)
{
	return cmd_dispatch(&cmd_answers_entry, argc, argv);
}

static int
cmd_answers_validate(int argc, char **argv)
{
	struct answers_errors errs = {NULL, 0};
	struct answers *a;
	char *s;
	size_t i;

	if (argc != 2 || argv[1][0] == '-')
		return cmd_child_usage_error(&cmd_answers_entry,
		    &cmd_answers_validate_entry, "takes one answer FILE");
	a = answers_load(argv[1], &errs);
	for (i = 0; i < errs.n; i++) {
		s = answers_error_string(&errs.list[i]);
		fprintf(stdout, "%s\n", s);
		free(s);
	}
	answers_errors_free(&errs);
	if (a == NULL)
		return EXIT_FAILURE;
	answers_free(a);
	return EXIT_SUCCESS;
}

static int
cmd_answers_example(int argc, char **argv)
{
	const char *text = cmd_answers_example_text;
	size_t len = sizeof cmd_answers_example_text - 1;
	int fd, error;

	if (argc == 1) {
		fwrite(text, 1, len, stdout);
		return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	if (argc != 3 || strcmp(argv[1], "-o") != 0)
		return cmd_child_usage_error(&cmd_answers_entry,
		    &cmd_answers_example_entry,
		    "takes no arguments but '-o FILE'");
	fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		fprintf(stderr,
		    "chatstack answers example: cannot create "
		    "'%s': %s\n",
		    argv[2], strerror(errno));
		return EXIT_FAILURE;
	}
	if (file_write_all(fd, text, len) == -1) {
		error = errno;
		close(fd);
	} else if (close(fd) == -1)
		error = errno;
	else
		return EXIT_SUCCESS;
	fprintf(stderr, "chatstack answers example: cannot write '%s': %s\n",
	    argv[2], strerror(error));
	unlink(argv[2]);
	return EXIT_FAILURE;
}
