#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xmalloc.h"

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->size = 0;
	buf_grow(b, 0);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}

void
buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->size);
	buf_free(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_grow(struct buf *b, size_t more)
{
	size_t want;

	want = b->len + more + 1;
	if (want <= b->size)
		return;
	if (want < 64)
		want = 64;
	if (want < b->size * 2)
		want = b->size * 2;
	b->data = xrealloc(b->data, want);
	b->size = want;
	b->data[b->len] = '\0';
}

void
buf_add(struct buf *b, const void *p, size_t len)
{
	buf_grow(b, len);
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char *p;

	buf_grow(b, 0);
	p = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->size = 0;
	return p;
}

void
buf_add_escaped(struct buf *b, const char *s, size_t len)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		switch (c) {
		case '\n':
			buf_adds(b, "\\n");
			break;
		case '\r':
			buf_adds(b, "\\r");
			break;
		case '\t':
			buf_adds(b, "\\t");
			break;
		case '\\':
			buf_adds(b, "\\\\");
			break;
		case '"':
			buf_adds(b, "\\\"");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				buf_printf(b, "\\x%02x", c);
			else
				buf_addc(b, (char)c);
		}
	}
}

char *
str_escape(const char *s)
{
	struct buf b;

	buf_init(&b);
	buf_add_escaped(&b, s, strlen(s));
	return buf_detach(&b, NULL);
}
