#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "xmalloc.h"

int
fsync_dir(const char *path)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
file_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Returns 1 if path already holds exactly this content, owner and mode. */
static int
atomic_same(
    const char *path, const void *data, size_t len, const struct atomic_opts *o)
{
	struct stat sb;
	char *old = NULL;
	size_t oldlen;
	char *cause = NULL;
	int same = 0;

	if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode))
		return 0;
	if ((sb.st_mode & 07777) != (o->mode & 07777))
		return 0;
	if (o->uid != (uid_t)-1 && sb.st_uid != o->uid)
		return 0;
	if (o->gid != (gid_t)-1 && sb.st_gid != o->gid)
		return 0;
	if ((size_t)sb.st_size != len)
		return 0;
	if ((old = file_read(path, len + 1, &oldlen, &cause)) == NULL) {
		free(cause);
		return 0;
	}
	same = (oldlen == len && memcmp(old, data, len) == 0);
	explicit_bzero(old, oldlen);
	free(old);
	return same;
}

int
atomic_write(const char *path, const void *data, size_t len,
    const struct atomic_opts *o, int *changed, char **cause)
{
	char *dir = NULL, *tmp = NULL, *copy;
	int fd = -1, rc = -1;

	if (changed != NULL)
		*changed = 0;
	if (atomic_same(path, data, len, o))
		return 0;

	copy = xstrdup(path);
	dir = xstrdup(dirname(copy));
	free(copy);
	tmp = xasprintf("%s/.%s.XXXXXX", dir,
	    strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path);

	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		*cause = xasprintf("cannot create a temporary file in '%s': %s",
		    dir, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, o->mode & 07777) == -1) {
		*cause = xasprintf(
		    "cannot set mode of '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if ((o->uid != (uid_t)-1 || o->gid != (gid_t)-1) &&
	    fchown(fd, o->uid, o->gid) == -1) {
		*cause = xasprintf(
		    "cannot set owner of '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (file_write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		*cause =
		    xasprintf("cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		*cause =
		    xasprintf("cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		*cause =
		    xasprintf("cannot replace '%s': %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (fsync_dir(dir) == -1) {
		*cause = xasprintf(
		    "cannot sync directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (changed != NULL)
		*changed = 1;
	rc = 0;

out:
	if (fd != -1)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	return rc;
}

char *
file_read(const char *path, size_t max, size_t *lenp, char **cause)
{
	char *data = NULL;
	size_t len = 0, size = 0, grown;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause =
		    xasprintf("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		/* It may be a private key: leave no copy in freed memory. */
		if (size - len < 4096) {
			grown = size == 0 ? 8192 : size * 2;
			data = xrealloc_wipe(data, size, grown);
			size = grown;
		}
		n = read(fd, data + len, size - len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf(
			    "cannot read '%s': %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (max != 0 && len > max) {
			*cause = xasprintf(
			    "'%s' is larger than %zu bytes", path, max);
			goto fail;
		}
	}
	close(fd);
	data[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return data;

fail:
	close(fd);
	explicit_bzero(data, size);
	free(data);
	return NULL;
}

int
mkdir_p(const char *path, mode_t mode, char **cause)
{
	char *p, *s;
	struct stat sb;
	int rc = -1;

	p = xstrdup(path);
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char save = *s;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST) {
			*cause = xasprintf("cannot create directory '%s': %s",
			    p, strerror(errno));
			goto out;
		}
		*s = save;
		if (save == '\0')
			break;
	}
	if (stat(path, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		*cause = xasprintf("'%s' exists and is not a directory", path);
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

int
mkdir_parent(const char *path, mode_t mode, char **cause)
{
	char *dir, *slash;
	int rc = 0;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		rc = mkdir_p(dir, mode, cause);
	}
	free(dir);
	return rc;
}
