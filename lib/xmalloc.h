/* Allocation that never fails: out of memory ends the process. */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
/*
 * Like xrealloc for a block that may hold a secret: the old block, oldsize
 * bytes, is zeroed before it is freed, so no copy is left in freed memory.
 */
void *xrealloc_wipe(void *, size_t oldsize, size_t size);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
/* Returns an allocated string; the caller frees it. */
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *, va_list);

#endif
