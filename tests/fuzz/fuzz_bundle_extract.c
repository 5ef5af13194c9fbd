/*
 * Extraction on arbitrary entries behind a valid signature: the input
 * describes entries (type, mode, name, data, what the manifest claims);
 * the harness signs a manifest for them with a key made at start, packs
 * them and extracts. Whatever happens, nothing may appear outside the
 * staging folder, a refusal must leave no staging folder, and a success
 * must have written exactly the manifest's files.
 *
 * Record: [flags][namelen][name][datalen][data]
 *   flags & 7: 0-3 regular, 4 symlink, 5 hardlink, 6 directory, 7 FIFO
 *   flags & 8: not in the manifest; 16: manifest hash wrong;
 *   32: manifest size one less; 64: setuid; 128: executable
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "bundle.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *fz_dir, *fz_key, *fz_bundle, *fz_stage, *fz_outside;
static struct bundle_keys *fz_keys;

static void
fz_cleanup(void)
{
	bundle_remove_staging(fz_dir);
}

static void
fz_init(void)
{
	char tmpl[] = "/tmp/fuzz-bundle-XXXXXX", *cause = NULL, *pub;

	if (mkdtemp(tmpl) == NULL)
		abort();
	fz_dir = xstrdup(tmpl);
	fz_key = xasprintf("%s/key", fz_dir);
	fz_bundle = xasprintf("%s/b.tar.zst", fz_dir);
	fz_stage = xasprintf("%s/stage", fz_dir);
	fz_outside = xasprintf("%s/outside", fz_dir);
	atexit(fz_cleanup);
	if (mkdir(fz_outside, 0755) != 0 || bundle_keygen(fz_key, &cause))
		abort();
	fz_keys = bundle_keys_new();
	pub = xasprintf("%s.pub", fz_key);
	if (bundle_keys_add_file(fz_keys, pub, &cause) != 0)
		abort();
	free(pub);
}

static int
fz_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_manifest m = {0}, *got = NULL;
	struct bundle_read_opts ro = {0};
	struct bundle_file *f;
	struct archive *a;
	struct archive_entry *e;
	unsigned char sig[BUNDLE_SIG_LEN];
	char *text, *cause = NULL, name[256], *pkgs[] = {"x"};
	const uint8_t *p = data, *end = data + size, *body;
	size_t len, nlen, dlen, i, n = 0;
	unsigned int mdlen;
	int flags, rc;
	struct stat sb;

	if (fz_dir == NULL)
		fz_init();
	m.component = "fuzz";
	m.version = "1";
	m.distro = "debian12";
	m.arch = "amd64";
	m.built = "2026-12-03T18:00:00Z";
	m.packages = pkgs;
	m.npackages = 1;

	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, fz_bundle) != ARCHIVE_OK)
		abort();
	/* First pass: the manifest. Second: the archive. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			text = bundle_manifest_format(&m, &len);
			if (bundle_sign(fz_key, text, len, sig, &cause) != 0)
				abort();
			e = archive_entry_new();
			archive_entry_set_pathname(e, BUNDLE_SIG_NAME);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, sizeof sig);
			archive_write_header(a, e);
			archive_write_data(a, sig, sizeof sig);
			archive_entry_clear(e);
			archive_entry_set_pathname(e, BUNDLE_MANIFEST_NAME);
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, len);
			archive_write_header(a, e);
			archive_write_data(a, text, len);
			archive_entry_free(e);
			free(text);
		}
		for (p = data, n = 0; p + 3 <= end && n < 64; n++) {
			flags = p[0];
			nlen = p[1];
			if (p + 2 + nlen + 1 > end)
				break;
			memcpy(name, p + 2, nlen);
			name[nlen] = '\0';
			dlen = p[2 + nlen];
			body = p + 3 + nlen;
			if (body + dlen > end)
				dlen = end - body;
			p = body + dlen;
			if (nlen == 0 || memchr(name, '\0', nlen) != NULL)
				continue;
			if (pass == 0) {
				if ((flags & 8) || bundle_path_problem(name) ||
				    bundle_manifest_find(&m, name) != NULL)
					continue;
				m.files = xreallocarray(
				    m.files, m.nfiles + 1, sizeof *m.files);
				f = &m.files[m.nfiles++];
				f->path = xstrdup(name);
				f->mode = (flags & 128) ? 0755 : 0644;
				f->size = dlen - ((flags & 32) && dlen > 0);
				EVP_Digest(body, dlen, f->sha256, &mdlen,
				    EVP_sha256(), NULL);
				if (flags & 16)
					f->sha256[0] ^= 1;
				/* Sorted, so bundle_manifest_find works. */
				text = bundle_manifest_format(&m, &len);
				free(text);
				continue;
			}
			e = archive_entry_new();
			archive_entry_set_pathname(e, name);
			archive_entry_set_perm(
			    e, ((flags & 64) ? 04000 : 0) | 0644);
			switch (flags & 7) {
			case 4:
				archive_entry_set_filetype(e, AE_IFLNK);
				archive_entry_copy_symlink(e,
				    (flags & 16) ? fz_outside : "../outside");
				break;
			case 5:
				archive_entry_set_filetype(e, AE_IFREG);
				archive_entry_copy_hardlink(e, "/etc/passwd");
				break;
			case 6:
				archive_entry_set_filetype(e, AE_IFDIR);
				break;
			case 7:
				archive_entry_set_filetype(e, AE_IFIFO);
				break;
			default:
				archive_entry_set_filetype(e, AE_IFREG);
				archive_entry_set_size(e, dlen);
			}
			archive_write_header(a, e);
			if ((flags & 7) < 4)
				archive_write_data(a, body, dlen);
			archive_entry_free(e);
		}
	}
	archive_write_close(a);
	archive_write_free(a);

	ro.keys = fz_keys;
	ro.state_dir = "";
	rc = bundle_extract(fz_bundle, fz_stage, &ro, &got, &cause);
	if (!fz_empty(fz_outside))
		abort(); /* written outside staging */
	if (rc != 0) {
		if (lstat(fz_stage, &sb) == 0)
			abort(); /* a refusal left staging behind */
		free(cause);
	} else {
		for (i = 0; i < got->nfiles; i++) {
			char *path =
			    xasprintf("%s/%s", fz_stage, got->files[i].path);

			if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
			    (uint64_t)sb.st_size != got->files[i].size ||
			    (sb.st_mode & 07000) != 0)
				abort();
			free(path);
		}
		bundle_manifest_free(got);
		bundle_remove_staging(fz_stage);
	}
	for (i = 0; i < m.nfiles; i++)
		free(m.files[i].path);
	free(m.files);
	return 0;
}
