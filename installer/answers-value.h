/*
 * Syntax checks for answer values, strict enough that a value that passes
 * can go into any configuration file without breaking a line or a
 * statement. Each returns 1 when s is acceptable.
 */
#ifndef ANSWERS_VALUE_H
#define ANSWERS_VALUE_H

#define ANSWERS_TEXT_MAX 200

/* RFC 1123 host name; the last label not all digits (no IP addresses). */
int answers_valid_hostname(const char *s);
/* An IPv4 or IPv6 address, not the unspecified (wildcard) one. */
int answers_valid_address(const char *s);
/* Absolute, of letters, digits and '/._-+@', no '..', not "/". */
int answers_valid_path(const char *s);
int answers_valid_email(const char *s);
/* https://HOST[:PORT][/PATH], HOST a name, IPv4 or [IPv6]. */
int answers_valid_url(const char *s);
/* One line of 1 to ANSWERS_TEXT_MAX bytes, no control characters. */
int answers_valid_text(const char *s);
/* A preflight check id: lowercase dot-separated parts, e.g. cpu.cores. */
int answers_valid_check_id(const char *s);
/* Letters, digits, '_' and '-'. */
int answers_valid_token(const char *s);

#endif
