/*
 * Hostile bundles, crafted here at test time: each is refused with a
 * message naming the file and the reason, the staging folder is gone
 * afterwards, and nothing appears outside it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "tmpdir.h"
#include <openssl/evp.h>

#include "bundle.h"
#include "xmalloc.h"

struct entry {
	const char *name;
	mode_t type; /* AE_IFREG (0 too), AE_IFLNK, ... */
	const char *data;
	size_t len;
	uint64_t size; /* when not 0: this many zero bytes, not data */
	mode_t perm; /* 0: 0644 */
	const char *link; /* symlink or hardlink target */
	int hardlink;
};

struct fx {
	char *dir; /* everything for one test */
	char *key;
	char *bundle;
	char *staging; /* dir/stage/s: must not exist before */
	char *outside; /* dir/outside: must stay empty */
	struct bundle_keys *keys;
	struct bundle_read_opts ro;
};

static int
fx_setup(void **state)
{
	struct fx *fx;
	char tmpl[] = "/tmp/test-bundle-XXXXXX", *cause = NULL, *pub;

	fx = xcalloc(1, sizeof *fx);
	assert_int_equal(tmpdir_make(tmpl), 0);
	fx->dir = xstrdup(tmpl);
	fx->key = xasprintf("%s/key", fx->dir);
	fx->bundle = xasprintf("%s/b.tar.zst", fx->dir);
	fx->outside = xasprintf("%s/outside", fx->dir);
	fx->staging = xasprintf("%s/stage/s", fx->dir);
	assert_int_equal(mkdir(fx->outside, 0755), 0);
	pub = xasprintf("%s/stage", fx->dir);
	assert_int_equal(mkdir(pub, 0755), 0);
	free(pub);
	assert_int_equal(bundle_keygen(fx->key, &cause), 0);
	fx->keys = bundle_keys_new();
	pub = xasprintf("%s.pub", fx->key);
	assert_int_equal(bundle_keys_add_file(fx->keys, pub, &cause), 0);
	free(pub);
	fx->ro.keys = fx->keys;
	fx->ro.state_dir = "";
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(tmpdir_remove(fx->dir), 0);
	bundle_keys_free(fx->keys);
	free(fx->dir);
	free(fx->key);
	free(fx->bundle);
	free(fx->outside);
	free(fx->staging);
	free(fx);
	return 0;
}

/* A manifest for (path, content) pairs, NULL-ended. */
static char *
make_manifest(size_t *len, ...)
{
	struct bundle_manifest m = {0};
	struct bundle_file *f;
	unsigned int mdlen;
	const char *path, *data;
	char *text, *pkgs[] = {"redis-server"};
	va_list ap;
	size_t i;

	m.component = "redis";
	m.version = "7.0.15-1";
	m.distro = "debian12";
	m.arch = "amd64";
	m.built = "2026-12-03T18:00:00Z";
	m.packages = pkgs;
	m.npackages = 1;
	va_start(ap, len);
	while ((path = va_arg(ap, const char *)) != NULL) {
		data = va_arg(ap, const char *);
		m.files = xreallocarray(m.files, m.nfiles + 1, sizeof *m.files);
		f = &m.files[m.nfiles++];
		f->path = (char *)path;
		f->mode = 0644;
		f->size = strlen(data);
		EVP_Digest(
		    data, f->size, f->sha256, &mdlen, EVP_sha256(), NULL);
	}
	va_end(ap);
	text = bundle_manifest_format(&m, len);
	for (i = 0; i < m.nfiles; i++)
		(void)m.files[i];
	free(m.files);
	return text;
}

static void
add_entry(struct archive *a, const struct entry *en)
{
	struct archive_entry *e;
	static char zeros[65536];
	uint64_t left;
	size_t n;

	e = archive_entry_new();
	archive_entry_set_pathname(e, en->name);
	archive_entry_set_perm(e, en->perm ? en->perm : 0644);
	if (en->hardlink) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, en->link);
		archive_entry_set_size(e, 0);
	} else if (en->type == AE_IFLNK) {
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, en->link);
	} else if (en->type != 0 && en->type != AE_IFREG) {
		archive_entry_set_filetype(e, en->type);
		archive_entry_set_rdev(e, 0x0103);
	} else {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(
		    e, en->size ? (la_int64_t)en->size : (la_int64_t)en->len);
	}
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if ((en->type == 0 || en->type == AE_IFREG) && !en->hardlink) {
		if (en->size) {
			for (left = en->size; left > 0; left -= n) {
				n = left < sizeof zeros ? left : sizeof zeros;
				archive_write_data(a, zeros, n);
			}
		} else
			archive_write_data(a, en->data, en->len);
	}
	archive_entry_free(e);
}

/* Writes a bundle: signature (of sigtext, or of man), manifest, entries. */
static void
write_bundle(struct fx *fx, const char *man, size_t manlen, const char *sigtext,
    size_t siglen, const struct entry *entries, size_t n)
{
	struct archive *a;
	unsigned char sig[BUNDLE_SIG_LEN];
	char *cause = NULL;
	struct entry se = {.name = BUNDLE_SIG_NAME,
			 .data = (char *)sig,
			 .len = sizeof sig},
		     me = {.name = BUNDLE_MANIFEST_NAME,
			 .data = man,
			 .len = manlen};
	size_t i;

	assert_int_equal(bundle_sign(fx->key, sigtext ? sigtext : man,
			     sigtext ? siglen : manlen, sig, &cause),
	    0);
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_zstd(a);
	assert_int_equal(archive_write_open_filename(a, fx->bundle), 0);
	add_entry(a, &se);
	add_entry(a, &me);
	for (i = 0; i < n; i++)
		add_entry(a, &entries[i]);
	archive_write_close(a);
	archive_write_free(a);
}

static int
dir_is_empty(const char *path)
{
	DIR *d;
	struct dirent *de;
	int n = 0;

	if ((d = opendir(path)) == NULL)
		return errno == ENOENT;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n == 0;
}

/* Extracts and expects a refusal whose message holds every needle. */
static void
expect_refused(struct fx *fx, const char *n1, const char *n2)
{
	struct bundle_manifest *m = NULL;
	char *cause = NULL, *parent;
	struct stat sb;

	assert_int_equal(
	    bundle_extract(fx->bundle, fx->staging, &fx->ro, &m, &cause), -1);
	assert_null(m);
	assert_non_null(cause);
	if (strstr(cause, n1) == NULL ||
	    (n2 != NULL && strstr(cause, n2) == NULL))
		fail_msg(
		    "message '%s' lacks '%s' or '%s'", cause, n1, n2 ? n2 : "");
	free(cause);
	/* Nothing left in staging, nothing written outside it. */
	assert_int_equal(lstat(fx->staging, &sb), -1);
	assert_true(dir_is_empty(fx->outside));
	parent = xasprintf("%s/stage", fx->dir);
	assert_true(dir_is_empty(parent));
	free(parent);
	assert_int_equal(lstat("/tmp/chatstack-test-bundle-evil", &sb), -1);
}

#define FILE_ENTRY(n, d)                                                       \
	{                                                                      \
		.name = (n), .data = (d), .len = sizeof(d) - 1                 \
	}

static void
test_bundle_good_bundle_extracts_into_0700_staging(void **state)
{
	struct fx *fx = *state;
	struct bundle_manifest *m = NULL;
	struct entry e[] = {FILE_ENTRY("repo/Packages", "Package: x\n"),
	    FILE_ENTRY("repo/x.deb", "debdata")};
	char *man, *cause = NULL, *p, *got;
	size_t len;
	struct stat sb;

	man = make_manifest(&len, "repo/Packages", "Package: x\n", "repo/x.deb",
	    "debdata", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 2);
	assert_int_equal(
	    bundle_extract(fx->bundle, fx->staging, &fx->ro, &m, &cause), 0);
	assert_string_equal(m->component, "redis");
	assert_int_equal(m->nfiles, 2);
	assert_int_equal(stat(fx->staging, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	p = xasprintf("%s/repo/x.deb", fx->staging);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0644);
	got = NULL;
	{
		FILE *f = fopen(p, "r");
		char buf[32] = {0};

		assert_non_null(f);
		assert_int_equal(fread(buf, 1, sizeof buf, f), 7);
		fclose(f);
		got = xstrdup(buf);
	}
	assert_string_equal(got, "debdata");
	free(got);
	free(p);
	bundle_manifest_free(m);
	free(man);

	/* The same folder again: staging must be fresh. */
	assert_int_equal(
	    bundle_extract(fx->bundle, fx->staging, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause, "must be new"));
	free(cause);
}

static void
test_bundle_refuses_dotdot_traversal(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("../outside/evil", "x")};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo/a", "x", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'../outside/evil'", "leaves the bundle");
	free(man);
}

static void
test_bundle_refuses_absolute_path(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("/tmp/chatstack-test-bundle-evil", "x")};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo/a", "x", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "/tmp/chatstack-test-bundle-evil'", "absolute");
	free(man);
}

static void
test_bundle_refuses_symlink_then_write_through(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {
	    {.name = "repo", .type = AE_IFLNK, .link = fx->outside},
	    FILE_ENTRY("repo/evil", "x")};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo", "", "repo/evil", "x", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 2);
	expect_refused(fx, "'repo'", "symlink");
	free(man);

	/* A relative link climbing out is named as leaving the bundle. */
	e[0].link = "../../outside";
	man = make_manifest(&len, "repo", "", "repo/evil", "x", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 2);
	expect_refused(fx, "'repo'", "leaves the bundle");
	free(man);
}

static void
test_bundle_refuses_hardlink_to_etc_passwd(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {
	    {.name = "repo/passwd", .hardlink = 1, .link = "/etc/passwd"}};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo/passwd", "", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/passwd'", "hardlink to '/etc/passwd'");
	free(man);
}

static void
test_bundle_refuses_device_node_and_fifo(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {{.name = "repo/null", .type = AE_IFCHR}};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo/null", "", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/null'", "device node");
	e[0].type = AE_IFBLK;
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/null'", "device node");
	e[0].type = AE_IFIFO;
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/null'", "FIFO");
	free(man);
}

static void
test_bundle_refuses_setuid_file(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {
	    {.name = "files/su", .data = "x", .len = 1, .perm = 04755}};
	char *man;
	size_t len;

	man = make_manifest(&len, "files/su", "x", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'files/su'", "setuid");
	e[0].perm = 02755;
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'files/su'", "setgid");
	free(man);
}

static void
test_bundle_refuses_long_paths(void **state)
{
	struct fx *fx = *state;
	struct entry e[1];
	char *man, longname[3000], comp[400];
	size_t len, i;

	for (i = 0; i + 2 < sizeof longname; i += 2)
		longname[i] = 'a', longname[i + 1] = '/';
	longname[i] = 'a';
	longname[i + 1] = '\0';
	e[0] = (struct entry){.name = longname, .data = "x", .len = 1};
	man = make_manifest(&len, "repo/a", "x", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "refused 'a/a/a/", "too long");

	memset(comp, 'b', sizeof comp - 1);
	comp[sizeof comp - 1] = '\0';
	e[0].name = comp;
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "bbbb", "longer than 255");
	free(man);
}

static void
test_bundle_refuses_file_swapped_after_signing(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("repo/x.deb", "evil!!!")};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo/x.deb", "debdata", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/x.deb'", "SHA-256 does not match");
	free(man);
}

static void
test_bundle_refuses_file_not_in_manifest(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {
	    FILE_ENTRY("repo/x.deb", "debdata"), FILE_ENTRY("repo/extra", "x")};
	char *man;
	size_t len;

	man = make_manifest(&len, "repo/x.deb", "debdata", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 2);
	expect_refused(fx, "'repo/extra'", "not in the manifest");
	free(man);
}

static void
test_bundle_refuses_missing_and_duplicate_files(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("repo/x.deb", "debdata"),
	    FILE_ENTRY("repo/x.deb", "debdata")};
	char *man;
	size_t len;

	man = make_manifest(
	    &len, "repo/x.deb", "debdata", "repo/y.deb", "y", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/y.deb'", "missing from the bundle");
	write_bundle(fx, man, len, NULL, 0, e, 2);
	expect_refused(fx, "'repo/x.deb'", "appears twice");
	free(man);
}

static void
test_bundle_refuses_truncated_archive(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {{.name = "repo/x.deb", .size = 0}};
	char *man, *data;
	size_t len, i;
	struct stat sb;
	FILE *f;

	/* Incompressible content, so the cut lands inside the file. */
	data = xmalloc(4000000);
	srand(7);
	for (i = 0; i < 4000000; i++)
		data[i] = (char)rand();
	data[3999999] = '\0';
	for (i = 0; i < 3999999; i++)
		if (data[i] == '\0')
			data[i] = 'z';
	e[0].data = data;
	e[0].len = 3999999;
	man = make_manifest(&len, "repo/x.deb", data, NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	assert_int_equal(stat(fx->bundle, &sb), 0);
	assert_int_equal(truncate(fx->bundle, sb.st_size / 2), 0);
	expect_refused(fx, "'repo/x.deb'", "truncated");
	/* Cut inside the head: the manifest itself is incomplete. */
	f = fopen(fx->bundle, "r+");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(truncate(fx->bundle, 40), 0);
	expect_refused(fx, "b.tar.zst", "");
	free(man);
	free(data);
}

static void
test_bundle_bomb_stops_at_declared_size(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {{.name = "repo/x.deb", .size = 64ULL << 20}};
	char *man, small[1001];
	size_t len;
	struct stat sb;

	memset(small, 0, sizeof small);
	memset(small, 'a', 1000);
	man = make_manifest(&len, "repo/x.deb", small, NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	assert_int_equal(stat(fx->bundle, &sb), 0);
	assert_true(sb.st_size < (1 << 20)); /* small archive, big content */
	expect_refused(fx, "'repo/x.deb'", "larger than the manifest");
	free(man);

	/* The bomb is not even in the manifest. */
	e[0].name = "repo/zeros";
	man = make_manifest(&len, "repo/x.deb", small, NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	expect_refused(fx, "'repo/zeros'", "not in the manifest");
	free(man);
}

/* One flipped byte anywhere is found, and the message says where. */
static void
test_bundle_flipped_byte_names_what_failed(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("repo/x.deb", "debdata")};
	struct bundle_manifest *m = NULL;
	char *man, *bad, *cause = NULL;
	size_t len;

	man = make_manifest(&len, "repo/x.deb", "debdata", NULL);

	/* Manifest changed after signing (its version). */
	bad = xstrdup(man);
	*strstr(bad, "7.0.15") = '8';
	write_bundle(fx, bad, len, man, len, e, 1);
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause,
	    "'MANIFEST.sig' does not match "
	    "'MANIFEST'"));
	free(cause);
	expect_refused(fx, "MANIFEST", "changed");

	/* Signature made over other bytes. */
	bad[0] ^= 1;
	write_bundle(fx, man, len, bad, len, e, 1);
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause, "signature 'MANIFEST.sig'"));
	free(cause);

	/* One payload byte. */
	e[0].data = "debdatA";
	write_bundle(fx, man, len, NULL, 0, e, 1);
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause, "'repo/x.deb'"));
	assert_non_null(strstr(cause, "SHA-256"));
	free(cause);
	free(bad);
	free(man);
}

static void
test_bundle_refuses_untrusted_signer(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("repo/x.deb", "debdata")};
	struct bundle_keys *other;
	struct bundle_manifest *m = NULL;
	char *man, *cause = NULL, *k2, *pub;
	size_t len;

	man = make_manifest(&len, "repo/x.deb", "debdata", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	k2 = xasprintf("%s/other", fx->dir);
	assert_int_equal(bundle_keygen(k2, &cause), 0);
	pub = xasprintf("%s.pub", k2);
	other = bundle_keys_new();
	assert_int_equal(bundle_keys_add_file(other, pub, &cause), 0);
	fx->ro.keys = other;
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause, "not trusted"));
	free(cause);
	fx->ro.keys = NULL;
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause, "no trusted keys"));
	free(cause);
	fx->ro.keys = fx->keys;
	bundle_keys_free(other);
	free(pub);
	free(k2);
	free(man);
}

static void
test_bundle_downgrade_refused_unless_allowed(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("repo/x.deb", "debdata")};
	struct bundle_manifest *m = NULL;
	char *man, *cause = NULL, *sd, *vf;
	size_t len;
	FILE *f;

	man = make_manifest(&len, "repo/x.deb", "debdata", NULL);
	write_bundle(fx, man, len, NULL, 0, e, 1);
	sd = xasprintf("%s/state", fx->dir);
	assert_int_equal(mkdir(sd, 0755), 0);
	vf = xasprintf("%s/redis.version", sd);
	f = fopen(vf, "w");
	fputs("7.2.4-1\n", f);
	fclose(f);
	fx->ro.state_dir = sd;
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	assert_non_null(strstr(cause, "older than the installed 7.2.4-1"));
	assert_non_null(strstr(cause, "--allow-downgrade"));
	free(cause);
	fx->ro.allow_downgrade = 1;
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), 0);
	bundle_manifest_free(m);

	/* Recording the same version keeps it from being a downgrade. */
	fx->ro.allow_downgrade = 0;
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), -1);
	free(cause);
	f = fopen(vf, "w");
	fputs("7.0.15-1\n", f);
	fclose(f);
	assert_int_equal(bundle_verify(fx->bundle, &fx->ro, &m, &cause), 0);
	bundle_manifest_free(m);
	fx->ro.state_dir = "";
	free(vf);
	free(sd);
	free(man);
}

static void
test_bundle_create_then_verify_round_trip(void **state)
{
	struct fx *fx = *state;
	struct bundle_manifest *m = NULL;
	struct bundle_create bc = {0};
	char *src, *cmd, *cause = NULL, *pkgs[] = {"redis-server"};

	src = xasprintf("%s/src", fx->dir);
	cmd = xasprintf("mkdir -p %s/repo %s/files/bin && echo p > "
			"%s/repo/Packages && printf '#!/bin/sh\\n' > "
			"%s/files/bin/x && chmod 755 %s/files/bin/x",
	    src, src, src, src, src);
	assert_int_equal(system(cmd), 0);
	bc.dir = src;
	bc.keypath = fx->key;
	bc.component = "redis";
	bc.version = "5:7.0.15-1~deb12u1";
	bc.distro = "debian12";
	bc.arch = "amd64";
	bc.packages = pkgs;
	bc.npackages = 1;
	assert_int_equal(bundle_create(&bc, fx->bundle, &cause), 0);
	assert_int_equal(
	    bundle_extract(fx->bundle, fx->staging, &fx->ro, &m, &cause), 0);
	assert_string_equal(m->version, "5:7.0.15-1~deb12u1");
	assert_int_equal(m->nfiles, 2);
	assert_int_equal(m->files[0].mode, 0755);
	assert_string_equal(m->files[0].path, "files/bin/x");
	bundle_manifest_free(m);
	free(cmd);
	free(src);
}

static void
test_bundle_refuses_before_writing_when_space_is_short(void **state)
{
	struct fx *fx = *state;
	struct entry e[] = {FILE_ENTRY("repo/x.deb", "debdata")};
	const char *man = "chatstack-bundle 1\ncomponent redis\n"
			  "version 1\ndistro debian12\narch amd64\n"
			  "built 2026-12-03T18:00:00Z\n"
			  "file 0644 1099511627775 "
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
			  "95991b7852b855 repo/x.deb\n";

	write_bundle(fx, man, strlen(man), NULL, 0, e, 1);
	expect_refused(fx, "not enough space", "MB are free");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_bundle_good_bundle_extracts_into_0700_staging, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_dotdot_traversal, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_absolute_path, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_symlink_then_write_through, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_hardlink_to_etc_passwd, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_device_node_and_fifo, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_setuid_file, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_long_paths, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_file_swapped_after_signing, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_file_not_in_manifest, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_missing_and_duplicate_files, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_truncated_archive, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_bomb_stops_at_declared_size, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_flipped_byte_names_what_failed, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_untrusted_signer, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_downgrade_refused_unless_allowed, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_create_then_verify_round_trip, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bundle_refuses_before_writing_when_space_is_short,
		fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
