#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "xmalloc.h"

static const char *log_progname = "chatstack";
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_quiet;
static FILE *log_file;

void
log_init(const char *progname)
{
	log_progname = progname;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

void
log_set_quiet(int quiet)
{
	log_quiet = quiet;
}

const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG:
		return "debug";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_WARN:
		return "warning";
	case LOG_LEVEL_ERROR:
		return "error";
	}
	return "?";
}

int
log_open_file(const char *path, char **cause)
{
	FILE *f;
	int fd;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		*cause = xasprintf(
		    "cannot open log file '%s': %s", path, strerror(errno));
		return -1;
	}
	if ((f = fdopen(fd, "a")) == NULL) {
		*cause = xasprintf(
		    "cannot open log file '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	log_close_file();
	log_file = f;
	return 0;
}

void
log_close_file(void)
{
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	struct event ev;
	char *msg, stamp[32];
	struct tm tm;
	time_t now;

	msg = xvasprintf(fmt, ap);

	/* The file keeps everything, whatever the terminal shows. */
	if (log_file != NULL) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(
		    log_file, "%s %s: %s\n", stamp, log_level_name(level), msg);
	}

	if (level >= log_level) {
		if (!log_quiet) {
			if (level == LOG_LEVEL_INFO)
				fprintf(stderr, "%s\n", msg);
			else
				fprintf(stderr, "%s: %s: %s\n", log_progname,
				    log_level_name(level), msg);
		}
		memset(&ev, 0, sizeof ev);
		ev.type = EVENT_LOG;
		ev.level = level;
		ev.message = msg;
		event_emit(&ev);
	}
	free(msg);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level > LOG_LEVEL_DEBUG && log_file == NULL)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
}
