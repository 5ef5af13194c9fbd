#include <sys/file.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lock.h"
#include "xmalloc.h"

/* Reads the pid the holder wrote into the lock file, or 0. */
static long
lock_holder(int fd)
{
	char buf[32];
	ssize_t n;

	n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

int
lock_take(const char *path, char **cause)
{
	char pid[32];
	long holder;
	int fd, len;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		*cause = xasprintf(
		    "cannot open lock file '%s': %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			holder = lock_holder(fd);
			if (holder > 0)
				*cause = xasprintf("another chatstack run "
						   "(pid %ld) holds the lock "
						   "'%s'",
				    holder, path);
			else
				*cause = xasprintf("another chatstack run "
						   "holds the lock '%s'",
				    path);
			close(fd);
			return LOCK_HELD;
		}
		*cause =
		    xasprintf("cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)len, 0) != len) {
		*cause = xasprintf(
		    "cannot write lock file '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void
lock_release(int fd)
{
	if (fd == -1)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}
