/* Reading files whole, and replacing them atomically. */
#ifndef FILEIO_H
#define FILEIO_H

#include <sys/types.h>

#include <stddef.h>

struct atomic_opts {
	mode_t mode;
	uid_t uid; /* (uid_t)-1: leave as the process makes it */
	gid_t gid; /* (gid_t)-1: likewise */
};

#define ATOMIC_OPTS(m)                                                         \
	{                                                                      \
		(m), (uid_t)-1, (gid_t)-1                                      \
	}

/*
 * Replaces path with data: a temporary file in the same directory is
 * written, fsynced, given its owner and mode, renamed over path, and the
 * directory fsynced. A file that already has this content, owner and mode
 * is left alone and *changed is 0. On failure the old file is intact and
 * -1 is returned with *cause set (allocated, the caller frees it).
 */
int atomic_write(const char *path, const void *data, size_t len,
    const struct atomic_opts *, int *changed, char **cause);

/*
 * Reads a whole file, at most max bytes (0: no limit), NUL-terminated.
 * Returns an allocated buffer or NULL with *cause set. The buffers it
 * outgrows are wiped, so a key file read with it leaves no copy behind;
 * the caller wipes the result with explicit_bzero when it is secret.
 */
char *file_read(const char *path, size_t max, size_t *len, char **cause);

/* Creates a directory and its parents with mode (existing ones kept). */
int mkdir_p(const char *path, mode_t mode, char **cause);
/* mkdir_p for the directory path is in (none for a bare name or /x). */
int mkdir_parent(const char *path, mode_t mode, char **cause);

/*
 * Writes all len bytes of data to fd, again after a signal or a short
 * write. Returns -1 with errno set on failure.
 */
int file_write_all(int fd, const void *data, size_t len);

/* fsyncs a directory; returns -1 with errno set. */
int fsync_dir(const char *path);

#endif
