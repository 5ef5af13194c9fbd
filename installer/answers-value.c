#include <sys/socket.h>

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "answers-value.h"
#include "xmalloc.h"

static int
value_is_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9');
}

int
answers_valid_hostname(const char *s)
{
	const char *label = s, *p;
	int digits_only = 1;
	size_t len;

	len = strlen(s);
	if (len == 0 || len > 253)
		return 0;
	for (p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			len = (size_t)(p - label);
			if (len == 0 || len > 63)
				return 0;
			if (label[0] == '-' || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = p + 1;
			digits_only = 1;
			continue;
		}
		if (!value_is_alnum(*p) && *p != '-')
			return 0;
		if (*p < '0' || *p > '9')
			digits_only = 0;
	}
	/* A top-level label is never all digits: that is an IP address. */
	return !digits_only;
}

int
answers_valid_address(const char *s)
{
	unsigned char buf[16], zero[16];

	memset(zero, 0, sizeof zero);
	if (inet_pton(AF_INET, s, buf) == 1)
		return memcmp(buf, zero, 4) != 0;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return memcmp(buf, zero, 16) != 0;
	return 0;
}

int
answers_valid_path(const char *s)
{
	const char *p;

	if (s[0] != '/' || s[1] == '\0' || strlen(s) > PATH_MAX - 1)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (!value_is_alnum(*p) && strchr("/._-+@", *p) == NULL)
			return 0;
		if (p[0] == '/' && p[1] == '.' && p[2] == '.' &&
		    (p[3] == '/' || p[3] == '\0'))
			return 0;
	}
	return 1;
}

int
answers_valid_email(const char *s)
{
	const char *at, *p;

	if ((at = strchr(s, '@')) == NULL || at == s || at - s > 64)
		return 0;
	if (strlen(s) > 254 || strchr(at + 1, '.') == NULL)
		return 0;
	for (p = s; p < at; p++) {
		if (!value_is_alnum(*p) && strchr("._%+-", *p) == NULL)
			return 0;
	}
	if (s[0] == '.' || at[-1] == '.' || strstr(s, "..") != NULL)
		return 0;
	return answers_valid_hostname(at + 1);
}

static int
value_port_text(const char *s, size_t len)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

int
answers_valid_url(const char *s)
{
	const char *host, *end, *p, *colon;
	char *h;
	int ok;

	if (strncmp(s, "https://", 8) != 0 || strlen(s) > 2048)
		return 0;
	host = s + 8;
	end = host + strcspn(host, "/");
	if (*host == '[') {
		if ((p = memchr(host, ']', (size_t)(end - host))) == NULL)
			return 0;
		h = xstrndup(host + 1, (size_t)(p - host - 1));
		ok = strchr(h, '%') == NULL &&
		    inet_pton(AF_INET6, h, (unsigned char[16]){0}) == 1;
		colon = p + 1 < end ? p + 1 : NULL;
		if (colon != NULL && *colon != ':')
			ok = 0;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		h = xstrndup(
		    host, (size_t)((colon != NULL ? colon : end) - host));
		ok = answers_valid_hostname(h) ||
		    inet_pton(AF_INET, h, (unsigned char[4]){0}) == 1 ||
		    strcmp(h, "localhost") == 0;
	}
	free(h);
	if (!ok)
		return 0;
	if (colon != NULL &&
	    !value_port_text(colon + 1, (size_t)(end - colon - 1)))
		return 0;
	for (p = end; *p != '\0'; p++) {
		if (!value_is_alnum(*p) && strchr("/._~%+=?&-", *p) == NULL)
			return 0;
	}
	return 1;
}

int
answers_valid_text(const char *s)
{
	const unsigned char *p;
	int blank = 1;

	if (strlen(s) > ANSWERS_TEXT_MAX)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p != ' ')
			blank = 0;
	}
	return !blank;
}

int
answers_valid_check_id(const char *s)
{
	const char *p;
	int dots = 0, start = 1;

	if (strlen(s) > 64 || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (start)
				return 0;
			dots++;
			start = 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '_' || *p == '-'))
			return 0;
		start = 0;
	}
	return dots > 0 && !start;
}

int
answers_valid_token(const char *s)
{
	const char *p;

	if (*s == '\0' || strlen(s) > 256)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (!value_is_alnum(*p) && *p != '_' && *p != '-')
			return 0;
	}
	return 1;
}
