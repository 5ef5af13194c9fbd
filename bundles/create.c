/*
 * Making bundles (at build time): every regular file under a folder is
 * hashed into the manifest, the manifest is signed, and signature,
 * manifest and files are packed in that order as .tar.zst.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "bundle.h"
#include "xmalloc.h"

#define CREATE_CHUNK (256 * 1024)

/* Hashes one file into f (size, mode, SHA-256). */
static int
create_hash(const char *full, struct bundle_file *f, char **cause)
{
	EVP_MD_CTX *md = NULL;
	char *chunk = NULL;
	ssize_t n;
	unsigned int mdlen;
	int fd, rc = -1;

	if ((fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		*cause =
		    xasprintf("cannot open '%s': %s", full, strerror(errno));
		return -1;
	}
	chunk = xmalloc(CREATE_CHUNK);
	md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	f->size = 0;
	while ((n = read(fd, chunk, CREATE_CHUNK)) > 0) {
		EVP_DigestUpdate(md, chunk, n);
		f->size += n;
	}
	if (n < 0) {
		*cause =
		    xasprintf("cannot read '%s': %s", full, strerror(errno));
		goto out;
	}
	EVP_DigestFinal_ex(md, f->sha256, &mdlen);
	rc = 0;

out:
	EVP_MD_CTX_free(md);
	free(chunk);
	close(fd);
	return rc;
}

/* Walks dir/rel, adding every regular file to m. */
static int
create_walk(
    const char *dir, const char *rel, struct bundle_manifest *m, char **cause)
{
	DIR *d;
	struct dirent *de;
	struct stat sb;
	struct bundle_file *f;
	const char *problem;
	char *full, *sub, *path;
	int rc = 0;

	full = rel[0] ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	if ((d = opendir(full)) == NULL) {
		*cause =
		    xasprintf("cannot open '%s': %s", full, strerror(errno));
		free(full);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = rel[0] ? xasprintf("%s/%s", rel, de->d_name)
			     : xstrdup(de->d_name);
		path = xasprintf("%s/%s", dir, sub);
		if (lstat(path, &sb) != 0) {
			*cause = xasprintf(
			    "cannot stat '%s': %s", path, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(sb.st_mode))
			rc = create_walk(dir, sub, m, cause);
		else if (!S_ISREG(sb.st_mode)) {
			*cause = xasprintf("'%s' is not a regular file or "
					   "folder; bundles hold files only",
			    path);
			rc = -1;
		} else if ((problem = bundle_path_problem(sub)) != NULL) {
			*cause =
			    xasprintf("cannot bundle '%s': %s", sub, problem);
			rc = -1;
		} else {
			m->files = xreallocarray(
			    m->files, m->nfiles + 1, sizeof *m->files);
			f = &m->files[m->nfiles];
			memset(f, 0, sizeof *f);
			f->path = xstrdup(sub);
			f->mode = (sb.st_mode & 0111) ? 0755 : 0644;
			m->nfiles++;
			rc = create_hash(path, f, cause);
			m->total += f->size;
		}
		free(path);
		free(sub);
	}
	closedir(d);
	free(full);
	return rc;
}

static int
create_add(struct archive *a, const char *name, mode_t mode, const void *data,
    size_t len, int fd, uint64_t size, time_t mtime, char **cause)
{
	struct archive_entry *e;
	char *chunk = NULL;
	ssize_t n;
	uint64_t done = 0;
	int rc = -1;

	e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(
	    e, fd == -1 ? (la_int64_t)len : (la_int64_t)size);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uname(e, "root");
	archive_entry_set_gname(e, "root");
	if (archive_write_header(a, e) != ARCHIVE_OK)
		goto fail;
	if (fd == -1) {
		if (archive_write_data(a, data, len) != (la_ssize_t)len)
			goto fail;
	} else {
		chunk = xmalloc(CREATE_CHUNK);
		while (done < size && (n = read(fd, chunk, CREATE_CHUNK)) > 0) {
			if (archive_write_data(a, chunk, n) != n)
				goto fail;
			done += n;
		}
		if (done != size) {
			*cause = xasprintf(
			    "'%s' changed while it was bundled", name);
			goto out;
		}
	}
	rc = 0;
	goto out;

fail:
	*cause = xasprintf("cannot write '%s' into the bundle: %s", name,
	    archive_error_string(a));
out:
	free(chunk);
	archive_entry_free(e);
	return rc;
}

int
bundle_create(const struct bundle_create *bc, const char *out, char **cause)
{
	struct bundle_manifest m = {0};
	struct archive *a = NULL;
	unsigned char sig[BUNDLE_SIG_LEN];
	char *text = NULL, *tmp = NULL, *full, built[32];
	size_t len, i;
	time_t now;
	struct tm tm;
	int fd, rc = -1;

	now = bc->built != 0 ? bc->built : time(NULL);
	gmtime_r(&now, &tm);
	strftime(built, sizeof built, "%Y-%m-%dT%H:%M:%SZ", &tm);
	m.component = (char *)bc->component;
	m.version = (char *)bc->version;
	m.distro = (char *)bc->distro;
	m.arch = (char *)bc->arch;
	m.built = built;
	m.packages = bc->packages;
	m.npackages = bc->npackages;
	if (create_walk(bc->dir, "", &m, cause) != 0)
		goto out;
	text = bundle_manifest_format(&m, &len);

	/* What we write must be what a reader accepts. */
	{
		struct bundle_manifest *check;

		if ((check = bundle_manifest_parse(text, len, cause)) == NULL)
			goto out;
		bundle_manifest_free(check);
	}
	if (bundle_sign(bc->keypath, text, len, sig, cause) != 0)
		goto out;

	tmp = xasprintf("%s.tmp", out);
	a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
		*cause = xasprintf(
		    "cannot write '%s': %s", tmp, archive_error_string(a));
		goto out;
	}
	if (create_add(a, BUNDLE_SIG_NAME, 0644, sig, sizeof sig, -1, 0, now,
		cause) != 0 ||
	    create_add(a, BUNDLE_MANIFEST_NAME, 0644, text, len, -1, 0, now,
		cause) != 0)
		goto out;
	for (i = 0; i < m.nfiles; i++) {
		full = xasprintf("%s/%s", bc->dir, m.files[i].path);
		fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		free(full);
		if (fd == -1) {
			*cause = xasprintf("cannot open '%s': %s",
			    m.files[i].path, strerror(errno));
			goto out;
		}
		rc = create_add(a, m.files[i].path, m.files[i].mode, NULL, 0,
		    fd, m.files[i].size, now, cause);
		close(fd);
		if (rc != 0)
			goto out;
		rc = -1;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		*cause = xasprintf(
		    "cannot write '%s': %s", tmp, archive_error_string(a));
		goto out;
	}
	if (rename(tmp, out) != 0) {
		*cause =
		    xasprintf("cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	rc = 0;

out:
	if (a != NULL)
		archive_write_free(a);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	for (i = 0; i < m.nfiles; i++)
		free(m.files[i].path);
	free(m.files);
	free(text);
	free(tmp);
	return rc;
}
