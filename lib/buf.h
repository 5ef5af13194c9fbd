/*
 * A growable byte buffer that is always NUL-terminated, so its data can be
 * used as a C string when it holds text.
 */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t size;
};

#define BUF_INIT                                                               \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void buf_init(struct buf *);
void buf_free(struct buf *);
void buf_reset(struct buf *);
void buf_grow(struct buf *, size_t);
void buf_add(struct buf *, const void *, size_t);
void buf_adds(struct buf *, const char *);
void buf_addc(struct buf *, char);
void buf_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *, const char *, va_list);
/* Hands the data to the caller (who frees it) and empties the buffer. */
char *buf_detach(struct buf *, size_t *);
/* Overwrites the contents with zeros before freeing: for secrets. */
void buf_wipe(struct buf *);

/*
 * Appends s with control characters, quotes and backslashes escaped, so
 * untrusted text (file names, server replies) is safe to log.
 */
void buf_add_escaped(struct buf *, const char *, size_t);
/* Returns an allocated escaped copy of s; the caller frees it. */
char *str_escape(const char *);

#endif
