/*
 * Logging with levels. Messages go to stderr (unless quiet, as while
 * curses owns the screen) and to an optional log file, and are handed to
 * the event stream as log events.
 *
 * Never pass a secret to these functions; escape untrusted text first
 * (str_escape).
 */
#ifndef LOG_H
#define LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

void log_init(const char *progname);
void log_set_level(enum log_level);
enum log_level log_get_level(void);
void log_set_quiet(int);
/* Opens (appends to) a log file, mode 0600; returns -1 with *cause set. */
int log_open_file(const char *path, char **cause);
void log_close_file(void);
const char *log_level_name(enum log_level);

void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
