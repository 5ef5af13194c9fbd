/*
 * chatstack bundle: keys, verification, listing and extraction of signed
 * bundles, and the builder's create. The work is in bundles/; this file
 * only reads options and prints.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "bundle.h"
#include "cmd.h"
#include "xmalloc.h"

extern const struct cmd_entry cmd_bundle_keygen_entry;
extern const struct cmd_entry cmd_bundle_verify_entry;
extern const struct cmd_entry cmd_bundle_list_entry;
extern const struct cmd_entry cmd_bundle_extract_entry;
extern const struct cmd_entry cmd_bundle_install_entry;
extern const struct cmd_entry cmd_bundle_create_entry;

/* Options every reading command shares. */
struct bundle_cli {
	struct bundle_keys *keys;
	struct bundle_read_opts ro;
	int default_keys;
	int keep;
	const char *staging;
};

enum {
	OPT_KEY = 256,
	OPT_NO_DEFAULT_KEYS,
	OPT_ALLOW_DOWNGRADE,
	OPT_STATE_DIR,
	OPT_KEEP,
	OPT_STAGING,
};

static const struct option bundle_read_longopts[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"no-default-keys", no_argument, NULL, OPT_NO_DEFAULT_KEYS},
    {"allow-downgrade", no_argument, NULL, OPT_ALLOW_DOWNGRADE},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"staging", required_argument, NULL, OPT_STAGING}, {NULL, 0, NULL, 0}};

#define BUNDLE_READ_HELP                                                       \
	"  --key FILE          also trust this public key (repeatable)\n"      \
	"  --no-default-keys   trust only the --key files, not\n"              \
	"                      " BUNDLE_TRUSTED_DIR "/ and the release key\n"  \
	"  --allow-downgrade   accept a version older than the installed "     \
	"one\n"                                                                \
	"  --state-dir DIR     installed versions (" BUNDLE_STATE_DIR ")\n"

static void
bundle_print_error(const struct cmd_entry *e, char *cause)
{
	fprintf(stderr, "chatstack bundle %s: %s\n", e->name, cause);
	free(cause);
}

/* Parses the shared options; returns optind, or -1 after a usage error. */
static int
bundle_cli_parse(
    const struct cmd_entry *e, struct bundle_cli *c, int argc, char **argv)
{
	char *cause = NULL;
	int ch;

	memset(c, 0, sizeof *c);
	c->keys = bundle_keys_new();
	c->ro.keys = c->keys;
	c->default_keys = 1;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(
		    argc, argv, "+:", bundle_read_longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_KEY:
			if (bundle_keys_add_file(c->keys, optarg, &cause) !=
			    0) {
				bundle_print_error(e, cause);
				return -1;
			}
			break;
		case OPT_NO_DEFAULT_KEYS:
			c->default_keys = 0;
			break;
		case OPT_ALLOW_DOWNGRADE:
			c->ro.allow_downgrade = 1;
			break;
		case OPT_STATE_DIR:
			c->ro.state_dir = optarg;
			break;
		case OPT_KEEP:
			c->keep = 1;
			break;
		case OPT_STAGING:
			c->staging = optarg;
			break;
		case ':':
			cmd_child_usage_error(&cmd_bundle_entry, e,
			    "option '%s' needs a value", argv[optind - 1]);
			return -1;
		default:
			cmd_child_usage_error(&cmd_bundle_entry, e,
			    "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if ((c->keep || c->staging != NULL) && e != &cmd_bundle_install_entry) {
		cmd_child_usage_error(&cmd_bundle_entry, e,
		    "--keep and --staging are for 'install' only");
		return -1;
	}
	if (c->default_keys && bundle_keys_add_default(c->keys, &cause) != 0) {
		bundle_print_error(e, cause);
		return -1;
	}
	return optind;
}

static void
bundle_cli_free(struct bundle_cli *c)
{
	bundle_keys_free(c->keys);
}

static void
bundle_print_summary(const char *path, const struct bundle_manifest *m)
{
	printf("%s: %s %s (%s %s), built %s, %zu files, %llu bytes, signed "
	       "by key %s\n",
	    path, m->component, m->version, m->distro, m->arch, m->built,
	    m->nfiles, (unsigned long long)m->total,
	    m->signer != NULL ? m->signer : "?");
}

static int
cmd_bundle_keygen_exec(int argc, char **argv)
{
	char *cause = NULL;

	if (argc != 2)
		return cmd_child_usage_error(&cmd_bundle_entry,
		    &cmd_bundle_keygen_entry,
		    "takes one argument: the private key file to write");
	if (bundle_keygen(argv[1], &cause) != 0) {
		bundle_print_error(&cmd_bundle_keygen_entry, cause);
		return EXIT_FAILURE;
	}
	printf("wrote private key %s (0600) and public key %s.pub\n", argv[1],
	    argv[1]);
	return EXIT_SUCCESS;
}

static int
cmd_bundle_verify_exec(int argc, char **argv)
{
	struct bundle_cli c;
	struct bundle_manifest *m;
	char *cause = NULL;
	int i, rc = EXIT_SUCCESS;

	if ((i = bundle_cli_parse(&cmd_bundle_verify_entry, &c, argc, argv)) <
	    0) {
		bundle_cli_free(&c);
		return EXIT_USAGE;
	}
	if (i == argc) {
		bundle_cli_free(&c);
		return cmd_child_usage_error(&cmd_bundle_entry,
		    &cmd_bundle_verify_entry, "no bundle given");
	}
	for (; i < argc; i++) {
		if (bundle_verify(argv[i], &c.ro, &m, &cause) != 0) {
			bundle_print_error(&cmd_bundle_verify_entry, cause);
			rc = EXIT_FAILURE;
			continue;
		}
		bundle_print_summary(argv[i], m);
		bundle_manifest_free(m);
	}
	bundle_cli_free(&c);
	return rc;
}

static int
cmd_bundle_list_exec(int argc, char **argv)
{
	struct bundle_cli c;
	struct bundle_manifest *m;
	const struct bundle_file *f;
	char *cause = NULL;
	size_t j;
	int i;

	if ((i = bundle_cli_parse(&cmd_bundle_list_entry, &c, argc, argv)) <
	    0) {
		bundle_cli_free(&c);
		return EXIT_USAGE;
	}
	if (i != argc - 1) {
		bundle_cli_free(&c);
		return cmd_child_usage_error(&cmd_bundle_entry,
		    &cmd_bundle_list_entry, "takes one bundle");
	}
	c.ro.state_dir = "";
	if (bundle_read_manifest(argv[i], &c.ro, &m, &cause) != 0) {
		bundle_print_error(&cmd_bundle_list_entry, cause);
		bundle_cli_free(&c);
		return EXIT_FAILURE;
	}
	bundle_print_summary(argv[i], m);
	for (j = 0; j < m->npackages; j++)
		printf("package %s\n", m->packages[j]);
	for (j = 0; j < m->nfiles; j++) {
		f = &m->files[j];
		printf("%04o %12llu %s\n", (unsigned)f->mode,
		    (unsigned long long)f->size, f->path);
	}
	bundle_manifest_free(m);
	bundle_cli_free(&c);
	return EXIT_SUCCESS;
}

static int
cmd_bundle_extract_exec(int argc, char **argv)
{
	struct bundle_cli c;
	struct bundle_manifest *m;
	char *cause = NULL;
	int i;

	if ((i = bundle_cli_parse(&cmd_bundle_extract_entry, &c, argc, argv)) <
	    0) {
		bundle_cli_free(&c);
		return EXIT_USAGE;
	}
	if (i != argc - 2) {
		bundle_cli_free(&c);
		return cmd_child_usage_error(&cmd_bundle_entry,
		    &cmd_bundle_extract_entry,
		    "takes a bundle and a new folder to extract into");
	}
	if (bundle_extract(argv[i], argv[i + 1], &c.ro, &m, &cause) != 0) {
		bundle_print_error(&cmd_bundle_extract_entry, cause);
		bundle_cli_free(&c);
		return EXIT_FAILURE;
	}
	if (!cmd_global.quiet)
		printf("extracted %s %s (%zu files, %llu bytes) into %s\n",
		    m->component, m->version, m->nfiles,
		    (unsigned long long)m->total, argv[i + 1]);
	bundle_manifest_free(m);
	bundle_cli_free(&c);
	return EXIT_SUCCESS;
}

static int
cmd_bundle_install_exec(int argc, char **argv)
{
	struct bundle_cli c;
	struct bundle_install_opts io = {0};
	struct bundle_manifest *m = NULL;
	char *cause = NULL;
	int i;

	if ((i = bundle_cli_parse(&cmd_bundle_install_entry, &c, argc, argv)) <
	    0) {
		bundle_cli_free(&c);
		return EXIT_USAGE;
	}
	if (i != argc - 1) {
		bundle_cli_free(&c);
		return cmd_child_usage_error(&cmd_bundle_entry,
		    &cmd_bundle_install_entry, "takes one bundle");
	}
	io.read = c.ro;
	io.staging = c.staging;
	io.keep = c.keep;
	if (bundle_install(argv[i], &io, &m, &cause) != 0) {
		bundle_print_error(&cmd_bundle_install_entry, cause);
		bundle_cli_free(&c);
		return EXIT_FAILURE;
	}
	printf("installed %s %s from %s\n", m->component, m->version, argv[i]);
	bundle_manifest_free(m);
	bundle_cli_free(&c);
	return EXIT_SUCCESS;
}

static int
cmd_bundle_create_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"component", required_argument, NULL, 'c'},
	    {"version", required_argument, NULL, 'v'},
	    {"distro", required_argument, NULL, 'd'},
	    {"arch", required_argument, NULL, 'a'},
	    {"package", required_argument, NULL, 'p'},
	    {"built", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
	struct bundle_create bc = {.distro = "debian12", .arch = "amd64"};
	char *cause = NULL, *end;
	int ch, rc = EXIT_FAILURE;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			bc.keypath = optarg;
			break;
		case 'c':
			bc.component = optarg;
			break;
		case 'v':
			bc.version = optarg;
			break;
		case 'd':
			bc.distro = optarg;
			break;
		case 'a':
			bc.arch = optarg;
			break;
		case 'p':
			bc.packages = xreallocarray(
			    bc.packages, bc.npackages + 1, sizeof *bc.packages);
			bc.packages[bc.npackages++] = optarg;
			break;
		case 'b':
			bc.built = (time_t)strtoll(optarg, &end, 10);
			if (*end != '\0' || bc.built <= 0) {
				rc = cmd_child_usage_error(&cmd_bundle_entry,
				    &cmd_bundle_create_entry,
				    "--built takes seconds since 1970");
				goto out;
			}
			break;
		case ':':
			rc = cmd_child_usage_error(&cmd_bundle_entry,
			    &cmd_bundle_create_entry,
			    "option '%s' needs a value", argv[optind - 1]);
			goto out;
		default:
			rc = cmd_child_usage_error(&cmd_bundle_entry,
			    &cmd_bundle_create_entry, "unknown option '%s'",
			    argv[optind - 1]);
			goto out;
		}
	}
	if (bc.keypath == NULL || bc.component == NULL || bc.version == NULL ||
	    optind != argc - 2) {
		rc = cmd_child_usage_error(&cmd_bundle_entry,
		    &cmd_bundle_create_entry,
		    "needs --key, --component, --version, a folder and "
		    "an output file");
		goto out;
	}
	bc.dir = argv[optind];
	if (bundle_create(&bc, argv[optind + 1], &cause) != 0) {
		bundle_print_error(&cmd_bundle_create_entry, cause);
		goto out;
	}
	if (!cmd_global.quiet)
		printf("wrote %s\n", argv[optind + 1]);
	rc = EXIT_SUCCESS;

out:
	free(bc.packages);
	return rc;
}

const struct cmd_entry cmd_bundle_keygen_entry = {
    .name = "keygen",
    .args = "KEYFILE",
    .summary = "Make an Ed25519 signing key (KEYFILE, 0600) and "
	       "KEYFILE.pub.",
    .help = "The public key goes into " BUNDLE_TRUSTED_DIR "/ on hosts\n"
	    "that should accept bundles signed with it. Never commit the\n"
	    "private key.\n",
    .exec = cmd_bundle_keygen_exec,
};

const struct cmd_entry cmd_bundle_verify_entry = {
    .name = "verify",
    .args = "[options] BUNDLE...",
    .summary = "Check signature, and every file's size and SHA-256.",
    .help = "options:\n" BUNDLE_READ_HELP,
    .exec = cmd_bundle_verify_exec,
};

const struct cmd_entry cmd_bundle_list_entry = {
    .name = "list",
    .args = "[options] BUNDLE",
    .summary = "Check the signature and print the manifest.",
    .help = "options:\n" BUNDLE_READ_HELP,
    .exec = cmd_bundle_list_exec,
};

const struct cmd_entry cmd_bundle_extract_entry = {
    .name = "extract",
    .args = "[options] BUNDLE DIR",
    .summary = "Verify and extract into a new folder DIR (0700).",
    .help = "options:\n" BUNDLE_READ_HELP,
    .exec = cmd_bundle_extract_exec,
};

const struct cmd_entry cmd_bundle_install_entry = {
    .name = "install",
    .args = "[options] BUNDLE",
    .summary = "Verify, extract and install a bundle's packages with "
	       "apt, offline.",
    .help = "options:\n" BUNDLE_READ_HELP
	    "  --staging DIR       extract here (new) instead of under\n"
	    "                      " BUNDLE_STAGING_DIR "/\n"
	    "  --keep              keep the staging folder afterwards\n",
    .exec = cmd_bundle_install_exec,
};

const struct cmd_entry cmd_bundle_create_entry = {
    .name = "create",
    .args = "--key KEY --component NAME --version V [--package P]... DIR "
	    "OUT",
    .summary = "Sign and pack the files under DIR as a bundle (for "
	       "builders).",
    .help = "options:\n"
	    "  --distro D          default debian12\n"
	    "  --arch A            default amd64\n"
	    "  --package P         a package apt installs (repeatable)\n"
	    "  --built SECONDS     build time, for reproducible bundles\n",
    .exec = cmd_bundle_create_exec,
};

static const struct cmd_entry *const cmd_bundle_children[] = {
    &cmd_bundle_keygen_entry, &cmd_bundle_verify_entry, &cmd_bundle_list_entry,
    &cmd_bundle_extract_entry, &cmd_bundle_install_entry,
    &cmd_bundle_create_entry, NULL};

static int
cmd_bundle_exec(int argc, char **argv)
{
	return cmd_dispatch(&cmd_bundle_entry, argc, argv);
}

const struct cmd_entry cmd_bundle_entry = {
    .name = "bundle",
    .args = "keygen|verify|list|extract|install|create ...",
    .summary = "Create keys for, verify, list and extract signed bundles.",
    .exec = cmd_bundle_exec,
    .children = cmd_bundle_children,
};
