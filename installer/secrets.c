/*
 * Generated secrets (secrets.h). A new secret is written to a temporary
 * file opened O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600, fsynced, then
 * linked to its name: link() never replaces, so a secret either does not
 * exist or is whole, and a secret that is there is never regenerated.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "fileio.h"
#include "secrets.h"
#include "xmalloc.h"

#define SECRET_MAX_LENGTH 4096
#define SECRET_MAX_FILE (64 * 1024)

static const char secret_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "abcdefghijklmnopqrstuvwxyz"
				      "0123456789";

static int
secret_valid_name(const char *name)
{
	const char *p;

	if (*name == '\0' || *name == '.' || strlen(name) > 128)
		return 0;
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
			*p == '.'))
			return 0;
	}
	return 1;
}

/*
 * Fills out with length letters and digits. Bytes at or above 248 are
 * drawn again so that every character is equally likely (248 = 4 * 62).
 */
static int
secret_generate(char *out, size_t length, char **cause)
{
	unsigned char pool[256];
	size_t have = 0, used = sizeof pool;
	unsigned char b;
	int rc = -1;

	while (have < length) {
		if (used == sizeof pool) {
			if (RAND_bytes(pool, sizeof pool) != 1) {
				*cause = xasprintf("cannot get random bytes "
						   "from OpenSSL: %s",
				    ERR_error_string(ERR_get_error(), NULL));
				goto out;
			}
			used = 0;
		}
		b = pool[used++];
		if (b >= 248)
			continue;
		out[have++] = secret_alphabet[b % 62];
	}
	out[have] = '\0';
	rc = 0;

out:
	explicit_bzero(pool, sizeof pool);
	return rc;
}

/* Checks that an open secret file is a private regular file. */
static int
secret_check_file(int fd, const char *dir, const char *name, char **cause)
{
	struct stat sb;

	if (fstat(fd, &sb) == -1) {
		*cause = xasprintf("cannot stat secret '%s' in '%s': %s", name,
		    dir, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		*cause = xasprintf(
		    "secret '%s' in '%s' is not a regular file", name, dir);
		return -1;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		*cause = xasprintf("secret '%s' in '%s' has mode %04o, so "
				   "other users can read it; expected 0600",
		    name, dir, (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	if (sb.st_size == 0) {
		*cause = xasprintf("secret '%s' in '%s' is empty", name, dir);
		return -1;
	}
	return 0;
}

/* Makes dir (its parents 0755, itself 0700) and opens it, checked. */
static int
secret_open_dir(const char *dir, char **cause)
{
	struct stat sb;
	char *copy, *parent;
	int fd;

	copy = xstrdup(dir);
	parent = dirname(copy);
	if (strcmp(parent, "/") != 0 && strcmp(parent, ".") != 0 &&
	    mkdir_p(parent, 0755, cause) != 0) {
		free(copy);
		return -1;
	}
	free(copy);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*cause = xasprintf("cannot create secrets directory '%s': %s",
		    dir, strerror(errno));
		return -1;
	}

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		*cause =
		    xasprintf("cannot open secrets directory '%s': %s", dir,
			errno == ELOOP || errno == ENOTDIR
			    ? "not a directory (or a symbolic link)"
			    : strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || sb.st_uid != geteuid() ||
	    (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		*cause = xasprintf("secrets directory '%s' has mode %04o or "
				   "another owner; expected 0700, owned by "
				   "uid %u",
		    dir, (unsigned)(sb.st_mode & 07777), (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

/* Checks the secret that is already there (or was linked meanwhile). */
static int
secret_check_existing(int dfd, const char *dir, const char *name, char **cause)
{
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		*cause = xasprintf("cannot open secret '%s' in '%s': %s", name,
		    dir,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return -1;
	}
	rc = secret_check_file(fd, dir, name, cause);
	close(fd);
	return rc;
}

int
secret_ensure(const char *dir, const char *name, size_t length, int *created,
    char **cause)
{
	char *value = NULL, *tmp = NULL;
	int dfd = -1, fd = -1, rc = -1;
	struct stat sb;

	*created = 0;
	if (!secret_valid_name(name)) {
		*cause = xasprintf("'%s' is not a valid secret name", name);
		return -1;
	}
	if (length == 0 || length > SECRET_MAX_LENGTH) {
		*cause = xasprintf("secret '%s': length %zu is not from 1 to "
				   "%d",
		    name, length, SECRET_MAX_LENGTH);
		return -1;
	}
	if ((dfd = secret_open_dir(dir, cause)) == -1)
		return -1;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = secret_check_existing(dfd, dir, name, cause);
		goto out;
	}
	if (errno != ENOENT) {
		*cause = xasprintf("cannot stat secret '%s' in '%s': %s", name,
		    dir, strerror(errno));
		goto out;
	}

	value = xmalloc(length + 2);
	if (secret_generate(value, length, cause) != 0)
		goto out;
	value[length] = '\n';
	tmp = xasprintf(".%s.new-%ld", name, (long)getpid());
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		*cause = xasprintf("cannot create secret '%s' in '%s': %s",
		    name, dir, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) == -1 ||
	    file_write_all(fd, value, length + 1) == -1 || fsync(fd) == -1) {
		*cause = xasprintf("cannot write secret '%s' in '%s': %s", name,
		    dir, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (linkat(dfd, tmp, dfd, name, 0) == -1) {
		if (errno == EEXIST) {
			/* Another run made it first: keep theirs. */
			rc = secret_check_existing(dfd, dir, name, cause);
			goto out;
		}
		*cause = xasprintf("cannot create secret '%s' in '%s': %s",
		    name, dir, strerror(errno));
		goto out;
	}
	if (fsync(dfd) == -1) {
		*cause = xasprintf("cannot sync secrets directory '%s': %s",
		    dir, strerror(errno));
		goto out;
	}
	*created = 1;
	rc = 0;

out:
	if (fd != -1)
		close(fd);
	if (tmp != NULL) {
		unlinkat(dfd, tmp, 0);
		free(tmp);
	}
	if (value != NULL) {
		explicit_bzero(value, length + 2);
		free(value);
	}
	if (dfd != -1)
		close(dfd);
	return rc;
}

char *
secret_read(const char *dir, const char *name, char **cause)
{
	char *path = NULL, *value = NULL;
	size_t len = 0, size = 0, grown;
	ssize_t n;
	int fd = -1;

	if (!secret_valid_name(name)) {
		*cause = xasprintf("'%s' is not a valid secret name", name);
		return NULL;
	}
	path = xasprintf("%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		*cause = xasprintf("cannot open secret '%s' in '%s': %s", name,
		    dir,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		goto fail;
	}
	if (secret_check_file(fd, dir, name, cause) != 0)
		goto fail;
	for (;;) {
		if (size - len < 512) {
			grown = size == 0 ? 1024 : size * 2;
			value = xrealloc_wipe(value, size, grown);
			size = grown;
		}
		n = read(fd, value + len, size - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*cause = xasprintf("cannot read secret '%s' in '%s': "
					   "%s",
			    name, dir, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SECRET_MAX_FILE) {
			*cause = xasprintf("secret '%s' in '%s' is larger than "
					   "%d bytes",
			    name, dir, SECRET_MAX_FILE);
			goto fail;
		}
	}
	value[len] = '\0';
	if (len > 0 && value[len - 1] == '\n')
		value[--len] = '\0';
	if (len == 0 || strlen(value) != len) {
		*cause =
		    xasprintf("secret '%s' in '%s' is empty or holds a NUL "
			      "byte",
			name, dir);
		goto fail;
	}
	close(fd);
	free(path);
	return value;

fail:
	if (value != NULL) {
		explicit_bzero(value, size);
		free(value);
	}
	if (fd != -1)
		close(fd);
	free(path);
	return NULL;
}
