/*
 * Reading bundles: the signature is checked before the manifest is
 * parsed, and the manifest decides everything after that. Payload files
 * are hashed as they stream out of the archive and into the staging
 * folder, so the data is read once; the byte count is checked as it is
 * written, so a decompression bomb stops at the size the manifest
 * declares.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "buf.h"
#include "bundle.h"
#include "fileio.h"
#include "xmalloc.h"

struct bundle_reader {
	const char *path;
	const struct bundle_read_opts *opts;
	struct archive *a;
	int fd;
	int dirfd; /* staging, or -1 to verify only */
	struct bundle_manifest *m;
	unsigned char *seen;
	EVP_MD_CTX *md;
};

/* An entry name fit for a message: escaped, and long ones shortened. */
static char *
read_quote(const char *s)
{
	char *cut, *q;

	if (s == NULL)
		return xstrdup("(no name)");
	if (strlen(s) <= 160)
		return str_escape(s);
	cut = xstrndup(s, 160);
	q = str_escape(cut);
	free(cut);
	cut = xasprintf("%s...", q);
	free(q);
	return cut;
}

/* Makes a refusal naming the entry: "'repo/x.deb': <reason>". */
static void read_refuse(char **cause, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
read_refuse(char **cause, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *why, *q;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	q = read_quote(name);
	*cause = xasprintf("refused '%s': %s", q, why);
	free(q);
	free(why);
}

static int
read_open(struct bundle_reader *r, char **cause)
{
	struct stat sb;

	r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (r->fd == -1) {
		*cause = xasprintf(
		    "cannot open bundle '%s': %s", r->path, strerror(errno));
		return -1;
	}
	if (fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		*cause =
		    xasprintf("bundle '%s' is not a regular file", r->path);
		return -1;
	}
	r->a = archive_read_new();
	archive_read_support_filter_zstd(r->a);
	archive_read_support_format_tar(r->a);
	if (archive_read_open_fd(r->a, r->fd, 256 * 1024) != ARCHIVE_OK) {
		*cause = xasprintf("bundle '%s' cannot be read as .tar.zst "
				   "(damaged, truncated or not a bundle): %s",
		    r->path, archive_error_string(r->a));
		return -1;
	}
	return 0;
}

/* Reads the next entry, which must be the regular file called name. */
static int
read_small(struct bundle_reader *r, const char *name, size_t max, struct buf *b,
    char **cause)
{
	struct archive_entry *e;
	la_ssize_t n;
	char chunk[16384];
	int ret;

	ret = archive_read_next_header(r->a, &e);
	if (ret == ARCHIVE_EOF) {
		*cause =
		    xasprintf("bundle '%s' ends before '%s'", r->path, name);
		return -1;
	}
	if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN) {
		*cause = xasprintf("cannot read bundle '%s' at '%s': %s",
		    r->path, name, archive_error_string(r->a));
		return -1;
	}
	if (archive_entry_pathname(e) == NULL ||
	    strcmp(archive_entry_pathname(e), name) != 0) {
		read_refuse(cause, archive_entry_pathname(e),
		    "expected '%s' here: a bundle starts with '%s' and '%s'",
		    name, BUNDLE_SIG_NAME, BUNDLE_MANIFEST_NAME);
		return -1;
	}
	if (archive_entry_filetype(e) != AE_IFREG ||
	    archive_entry_hardlink(e) != NULL) {
		read_refuse(cause, name, "not a regular file");
		return -1;
	}
	if (archive_entry_size(e) < 0 || (size_t)archive_entry_size(e) > max) {
		read_refuse(cause, name, "larger than %zu bytes", max);
		return -1;
	}
	while ((n = archive_read_data(r->a, chunk, sizeof chunk)) > 0) {
		if (b->len + (size_t)n > max) {
			read_refuse(cause, name, "larger than %zu bytes", max);
			return -1;
		}
		buf_add(b, chunk, n);
	}
	if (n < 0) {
		*cause = xasprintf("cannot read '%s' from bundle '%s': %s",
		    name, r->path, archive_error_string(r->a));
		return -1;
	}
	return 0;
}

/* Signature first, then (and only then) the manifest is parsed. */
static int
read_head(struct bundle_reader *r, char **cause)
{
	struct buf sig = BUF_INIT, man = BUF_INIT;
	const char *id;
	char *why = NULL;
	int rc = -1;

	if (read_small(r, BUNDLE_SIG_NAME, BUNDLE_SIG_LEN, &sig, cause) != 0)
		goto out;
	if (read_small(
		r, BUNDLE_MANIFEST_NAME, BUNDLE_MANIFEST_MAX, &man, cause) != 0)
		goto out;
	if (bundle_keys_verify(r->opts->keys, man.data, man.len,
		(unsigned char *)sig.data, sig.len, &id, &why) != 0) {
		*cause = xasprintf("bundle '%s': %s", r->path, why);
		goto out;
	}
	r->m = bundle_manifest_parse(man.data, man.len, &why);
	if (r->m == NULL) {
		*cause = xasprintf("bundle '%s': %s", r->path, why);
		goto out;
	}
	r->m->signer = xstrdup(id);
	rc = 0;

out:
	free(why);
	buf_free(&sig);
	buf_free(&man);
	return rc;
}

/*
 * Opens path below dirfd for writing, making parent folders (0755) on the
 * way; no component may be a symlink, and the file must be new.
 */
static int
read_create(int dirfd, const char *path, char **why)
{
	char *copy, *p, *slash;
	int fd = -1, cur, next;

	copy = xstrdup(path);
	cur = dirfd;
	p = copy;
	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (mkdirat(cur, p, 0755) != 0 && errno != EEXIST) {
			*why = xasprintf(
			    "cannot make folder '%s': %s", p, strerror(errno));
			goto out;
		}
		next = openat(
		    cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next == -1) {
			*why = xasprintf(
			    "cannot open folder '%s': %s", p, strerror(errno));
			goto out;
		}
		if (cur != dirfd)
			close(cur);
		cur = next;
		p = slash + 1;
	}
	fd = openat(
	    cur, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		*why = xasprintf("cannot create it: %s", strerror(errno));

out:
	if (cur != dirfd)
		close(cur);
	free(copy);
	return fd;
}

/* Checks an entry's header against the manifest, before any data. */
static const struct bundle_file *
read_check_entry(struct bundle_reader *r, struct archive_entry *e, char **cause)
{
	const struct bundle_file *f;
	const char *name = archive_entry_pathname(e), *problem, *link;
	mode_t type = archive_entry_filetype(e);
	char *q;

	if (name == NULL) {
		read_refuse(cause, NULL, "an entry has no name");
		return NULL;
	}
	if ((link = archive_entry_hardlink(e)) != NULL) {
		q = read_quote(link);
		read_refuse(cause, name, "hardlink to '%s'%s", q,
		    link[0] == '/' || strstr(link, "..") != NULL
			? " leaves the bundle"
			: ": bundles hold regular files only");
		free(q);
		return NULL;
	}
	switch (type) {
	case AE_IFREG:
		break;
	case AE_IFLNK:
		link = archive_entry_symlink(e);
		q = read_quote(link);
		read_refuse(cause, name, "symlink to '%s'%s", q,
		    link == NULL || link[0] == '/' || strstr(link, "..")
			? " leaves the bundle"
			: ": bundles hold regular files only");
		free(q);
		return NULL;
	case AE_IFCHR:
	case AE_IFBLK:
		read_refuse(cause, name, "device node");
		return NULL;
	case AE_IFIFO:
		read_refuse(cause, name, "FIFO");
		return NULL;
	case AE_IFSOCK:
		read_refuse(cause, name, "socket");
		return NULL;
	case AE_IFDIR:
		read_refuse(cause, name,
		    "directory entry: bundles list "
		    "files only");
		return NULL;
	default:
		read_refuse(cause, name, "unknown file type");
		return NULL;
	}
	if ((problem = bundle_path_problem(name)) != NULL) {
		read_refuse(cause, name, "%s", problem);
		return NULL;
	}
	if (archive_entry_mode(e) & (S_ISUID | S_ISGID | S_ISVTX)) {
		read_refuse(cause, name, "setuid, setgid or sticky bit set");
		return NULL;
	}
	if ((f = bundle_manifest_find(r->m, name)) == NULL) {
		read_refuse(cause, name, "not in the manifest");
		return NULL;
	}
	if (r->seen[f - r->m->files]) {
		read_refuse(cause, name, "appears twice in the archive");
		return NULL;
	}
	r->seen[f - r->m->files] = 1;
	if (archive_entry_size_is_set(e) &&
	    (uint64_t)archive_entry_size(e) > f->size) {
		read_refuse(cause, name,
		    "larger than the manifest declares (%lld > %llu bytes)",
		    (long long)archive_entry_size(e),
		    (unsigned long long)f->size);
		return NULL;
	}
	return f;
}

/* Streams one file: count, hash and (when extracting) write. */
static int
read_file(struct bundle_reader *r, const struct bundle_file *f, char **cause)
{
	const void *block;
	size_t len;
	la_int64_t offset;
	uint64_t count = 0;
	unsigned char md[32];
	unsigned int mdlen;
	char *why = NULL;
	int fd = -1, ret, rc = -1;

	if (r->dirfd != -1 && (fd = read_create(r->dirfd, f->path, &why)) == -1)
		goto out;
	if (EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) {
		why = xstrdup("cannot start SHA-256");
		goto out;
	}
	for (;;) {
		ret = archive_read_data_block(r->a, &block, &len, &offset);
		if (ret == ARCHIVE_EOF)
			break;
		if (ret != ARCHIVE_OK) {
			why = xasprintf("the archive is damaged or truncated "
					"here: %s",
			    archive_error_string(r->a));
			goto out;
		}
		if ((uint64_t)offset != count) {
			why = xstrdup("sparse entries are not allowed");
			goto out;
		}
		if (len > f->size - count) {
			why = xasprintf("more bytes than the manifest declares "
					"(%llu); stopped after %llu",
			    (unsigned long long)f->size,
			    (unsigned long long)count);
			goto out;
		}
		count += len;
		EVP_DigestUpdate(r->md, block, len);
		if (fd != -1 && file_write_all(fd, block, len) != 0) {
			why = xasprintf("cannot write: %s", strerror(errno));
			goto out;
		}
	}
	if (count != f->size) {
		why = xasprintf("%llu bytes, but the manifest declares %llu",
		    (unsigned long long)count, (unsigned long long)f->size);
		goto out;
	}
	if (EVP_DigestFinal_ex(r->md, md, &mdlen) != 1 ||
	    memcmp(md, f->sha256, sizeof md) != 0) {
		why = xstrdup("SHA-256 does not match the manifest (changed "
			      "after signing)");
		goto out;
	}
	if (fd != -1 && fchmod(fd, f->mode) != 0) {
		why = xasprintf("cannot set its mode: %s", strerror(errno));
		goto out;
	}
	if (r->opts->progress != NULL)
		r->opts->progress(f->path, f->size, r->opts->arg);
	rc = 0;

out:
	if (fd != -1 && close(fd) != 0 && rc == 0) {
		why = xasprintf("cannot write: %s", strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		read_refuse(cause, f->path, "%s", why);
	free(why);
	return rc;
}

static int
read_payload(struct bundle_reader *r, char **cause)
{
	struct archive_entry *e;
	const struct bundle_file *f;
	size_t i;
	int ret;

	r->seen = xcalloc(r->m->nfiles + 1, 1);
	r->md = EVP_MD_CTX_new();
	for (;;) {
		ret = archive_read_next_header(r->a, &e);
		if (ret == ARCHIVE_EOF)
			break;
		if (ret != ARCHIVE_OK) {
			*cause = xasprintf("bundle '%s' is damaged or "
					   "truncated: %s",
			    r->path, archive_error_string(r->a));
			return -1;
		}
		if ((f = read_check_entry(r, e, cause)) == NULL)
			return -1;
		if (read_file(r, f, cause) != 0)
			return -1;
	}
	for (i = 0; i < r->m->nfiles; i++) {
		if (!r->seen[i]) {
			read_refuse(cause, r->m->files[i].path,
			    "listed in the manifest but missing from the "
			    "bundle");
			return -1;
		}
	}
	return 0;
}

static void
read_close(struct bundle_reader *r)
{
	if (r->a != NULL)
		archive_read_free(r->a);
	if (r->fd != -1)
		close(r->fd);
	if (r->dirfd != -1)
		close(r->dirfd);
	EVP_MD_CTX_free(r->md);
	free(r->seen);
}

static int
read_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void
bundle_remove_staging(const char *dir)
{
	nftw(dir, read_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Refuses to start when the staging file system cannot hold it all. */
static int
read_check_space(struct bundle_reader *r, const char *dest, char **cause)
{
	struct statvfs sv;
	uint64_t avail;

	if (fstatvfs(r->dirfd, &sv) != 0)
		return 0; /* cannot tell: the writes will say */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= r->m->total)
		return 0;
	*cause = xasprintf("not enough space in '%s' for bundle '%s': it "
			   "holds %llu MB, %llu MB are free",
	    dest, r->path, (unsigned long long)(r->m->total >> 20),
	    (unsigned long long)(avail >> 20));
	return -1;
}

static int
read_bundle(const char *path, const char *dest,
    const struct bundle_read_opts *opts, int payload,
    struct bundle_manifest **mp, char **cause)
{
	struct bundle_reader r = {
	    .path = path, .opts = opts, .fd = -1, .dirfd = -1};
	const char *state;
	int made = 0, rc = -1;

	*mp = NULL;
	if (read_open(&r, cause) != 0)
		goto out;
	if (read_head(&r, cause) != 0)
		goto out;
	state = opts->state_dir != NULL ? opts->state_dir : BUNDLE_STATE_DIR;
	if (*state != '\0' &&
	    bundle_check_downgrade(r.m, state, opts->allow_downgrade, cause) !=
		0)
		goto out;
	if (!payload) {
		rc = 0;
		goto out;
	}
	if (dest != NULL) {
		if (mkdir(dest, 0700) != 0) {
			*cause = xasprintf("cannot make staging folder '%s': "
					   "%s%s",
			    dest, strerror(errno),
			    errno == EEXIST ? " (it must be new)" : "");
			goto out;
		}
		made = 1;
		r.dirfd =
		    open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (r.dirfd == -1 || chmod(dest, 0700) != 0) {
			*cause = xasprintf("cannot open staging folder '%s': "
					   "%s",
			    dest, strerror(errno));
			goto out;
		}
	}
	if (r.dirfd != -1 && read_check_space(&r, dest, cause) != 0)
		goto out;
	if (read_payload(&r, cause) != 0)
		goto out;
	rc = 0;

out:
	read_close(&r);
	if (rc != 0 && made)
		bundle_remove_staging(dest);
	if (rc == 0)
		*mp = r.m;
	else
		bundle_manifest_free(r.m);
	return rc;
}

int
bundle_verify(const char *path, const struct bundle_read_opts *opts,
    struct bundle_manifest **mp, char **cause)
{
	return read_bundle(path, NULL, opts, 1, mp, cause);
}

int
bundle_read_manifest(const char *path, const struct bundle_read_opts *opts,
    struct bundle_manifest **mp, char **cause)
{
	return read_bundle(path, NULL, opts, 0, mp, cause);
}

int
bundle_extract(const char *path, const char *dest,
    const struct bundle_read_opts *opts, struct bundle_manifest **mp,
    char **cause)
{
	return read_bundle(path, dest, opts, 1, mp, cause);
}

int
bundle_check_downgrade(
    const struct bundle_manifest *m, const char *state, int allow, char **cause)
{
	char *path, *old, *nl;
	int rc = 0;

	path = xasprintf("%s/%s.version", state, m->component);
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		/* Nothing recorded: nothing installed from a bundle yet. */
		free(path);
		return 0;
	}
	if ((old = file_read(path, 256, NULL, cause)) == NULL) {
		free(path);
		return -1;
	}
	if ((nl = strchr(old, '\n')) != NULL)
		*nl = '\0';
	if (bundle_version_compare(m->version, old) < 0 && !allow) {
		*cause = xasprintf("bundle for '%s' is version %s, older than "
				   "the installed %s (recorded in %s); use "
				   "--allow-downgrade to install it anyway",
		    m->component, m->version, old, path);
		rc = -1;
	}
	free(old);
	free(path);
	return rc;
}

int
bundle_record_installed(
    const struct bundle_manifest *m, const char *state, char **cause)
{
	struct atomic_opts ao = ATOMIC_OPTS(0644);
	char *path, *text;
	int changed, rc;

	if (mkdir_p(state, 0755, cause) != 0)
		return -1;
	path = xasprintf("%s/%s.version", state, m->component);
	text = xasprintf("%s\n", m->version);
	rc = atomic_write(path, text, strlen(text), &ao, &changed, cause);
	free(text);
	free(path);
	return rc;
}
