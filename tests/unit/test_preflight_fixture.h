/*
 * Fixture roots for the preflight tests: a temporary directory holding a
 * fake proc/, sys/, etc/ and var/ that describe a healthy Debian 12 server,
 * which each test then spoils in one way.
 */
#ifndef TEST_PREFLIGHT_FIXTURE_H
#define TEST_PREFLIGHT_FIXTURE_H

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../installer/answers.h"
#include "../../preflight/preflight.h"

#define FX_GIB (1024ULL * 1024 * 1024)

static char fx_root[PATH_MAX];

static inline void
fx_mkdirs(const char *path)
{
	char tmp[PATH_MAX], *p;

	snprintf(tmp, sizeof tmp, "%s", path);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(tmp, 0755);
		*p = '/';
	}
	(void)mkdir(tmp, 0755);
}

/* Writes ROOT/path (parents made), replacing what was there. */
static inline void
fx_write(const char *path, const char *text)
{
	char full[PATH_MAX], dir[PATH_MAX], *slash;
	FILE *f;

	snprintf(full, sizeof full, "%s%s", fx_root, path);
	snprintf(dir, sizeof dir, "%s", full);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		fx_mkdirs(dir);
	}
	if ((f = fopen(full, "w")) == NULL) {
		fprintf(stderr, "cannot write %s: %s\n", full, strerror(errno));
		abort();
	}
	fputs(text, f);
	fclose(f);
}

static inline void
fx_remove(const char *path)
{
	char full[PATH_MAX];

	snprintf(full, sizeof full, "%s%s", fx_root, path);
	(void)unlink(full);
	(void)rmdir(full);
}

static inline void
fx_mkdir(const char *path)
{
	char full[PATH_MAX];

	snprintf(full, sizeof full, "%s%s", fx_root, path);
	fx_mkdirs(full);
}

/* A symbolic link, e.g. proc/812/fd/3 -> socket:[4242] (dangling). */
static inline void
fx_symlink(const char *path, const char *target)
{
	char full[PATH_MAX], dir[PATH_MAX], *slash;

	snprintf(full, sizeof full, "%s%s", fx_root, path);
	snprintf(dir, sizeof dir, "%s", full);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		fx_mkdirs(dir);
	}
	(void)unlink(full);
	if (symlink(target, full) == -1)
		abort();
}

static inline void
fx_meminfo(unsigned long long mem, unsigned long long swap)
{
	char text[256];

	snprintf(text, sizeof text,
	    "MemTotal:       %llu kB\nMemFree:        1024 kB\n"
	    "SwapTotal:      %llu kB\nSwapFree:       %llu kB\n",
	    mem / 1024, swap / 1024, swap / 1024);
	fx_write("/proc/meminfo", text);
}

static inline void
fx_status(unsigned uid, const char *cpus)
{
	char text[256];

	snprintf(text, sizeof text,
	    "Name:\tchatstack\nUid:\t%u\t%u\t%u\t%u\n"
	    "Cpus_allowed_list:\t%s\n",
	    uid, uid, uid, uid, cpus);
	fx_write("/proc/self/status", text);
}

/* One filesystem line of ROOT/.fixture/statvfs. */
static inline void
fx_statvfs(const char *lines)
{
	fx_write("/.fixture/statvfs", lines);
}

#define FX_TCP_HEADER                                                          \
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "  \
	"retrnsmt   uid  timeout inode\n"
#define FX_TCP6_HEADER                                                         \
	"  sl  local_address                         remote_address          " \
	"              st tx_queue rx_queue tr tm->when retrnsmt   uid  "      \
	"timeout inode\n"

/* A healthy production-sized Debian 12 server. */
static inline void
fx_healthy(void)
{
	fx_write("/etc/os-release",
	    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
	    "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
	    "VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\n"
	    "ID=debian\n");
	fx_status(0, "0-7");
	fx_write("/sys/devices/system/cpu/online", "0-7\n");
	fx_meminfo(16 * FX_GIB, 2 * FX_GIB);
	fx_write("/proc/sys/kernel/arch", "x86_64\n");
	fx_write("/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
	fx_write("/proc/1/comm", "systemd\n");
	fx_mkdir("/run/systemd/system");
	fx_write("/proc/77/comm", "chronyd\n");
	fx_write("/proc/net/tcp",
	    FX_TCP_HEADER
	    "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 "
	    "00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0\n");
	fx_write("/proc/net/tcp6", FX_TCP6_HEADER);
	fx_write("/proc/net/fib_trie",
	    "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 127.0.0.1\n"
	    "        /32 host LOCAL\n     |-- 192.0.2.10\n"
	    "        /32 host LOCAL\n     |-- 192.0.2.255\n"
	    "        /32 link BROADCAST\n");
	fx_write("/proc/net/if_inet6",
	    "00000000000000000000000000000001 01 80 10 80       lo\n");
	fx_write("/proc/sys/fs/nr_open", "1048576\n");
	fx_write("/proc/sys/fs/file-max", "9223372036854775807\n");
	fx_write("/proc/self/mounts",
	    "/dev/vda1 / ext4 rw,relatime 0 0\n"
	    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n");
	fx_write("/etc/hosts",
	    "127.0.0.1\tlocalhost\n192.0.2.10\tchat.example.com chat\n");
	fx_write("/var/lib/dpkg/status",
	    "Package: bash\nStatus: install ok installed\nVersion: 5.2\n\n"
	    "Package: nginx-common\nStatus: install ok installed\n\n"
	    "Package: redis-server\nStatus: deinstall ok config-files\n");
	fx_statvfs("/ 1000000000000 900000000000 60000000 59000000\n");
	fx_write("/.fixture/clock", "synced 1\nesterror_us 1500\n");
}

static inline int
fx_setup(void **state)
{
	(void)state;
	snprintf(
	    fx_root, sizeof fx_root, "/tmp/chatstack-test-preflight-XXXXXX");
	if (mkdtemp(fx_root) == NULL)
		return -1;
	fx_healthy();
	return 0;
}

static inline int
fx_teardown(void **state)
{
	char cmd[PATH_MAX + 32];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx_root);
	return system(cmd) == 0 ? 0 : -1;
}

/* The answers of the sketch in DESIGN.md, by hand (not a loader). */
static struct answers fx_answers_v;

static inline struct answers *
fx_answers(void)
{
	memset(&fx_answers_v, 0, sizeof fx_answers_v);
	fx_answers_v.version = 1;
	fx_answers_v.profile = PROFILE_PRODUCTION;
	fx_answers_v.hostname = (char *)"chat.example.com";
	fx_answers_v.bind_address = (char *)"127.0.0.1";
	fx_answers_v.tls.mode = TLS_MODE_SELFSIGNED;
	fx_answers_v.mariadb.port = 3306;
	fx_answers_v.redis.port = 6379;
	fx_answers_v.rabbitmq.port = 5672;
	fx_answers_v.rabbitmq.dist_port = 25672;
	fx_answers_v.rabbitmq.epmd_port = 4369;
	fx_answers_v.chatd.instances = 2;
	fx_answers_v.chatd.port = 8081;
	fx_answers_v.nginx.http_port = 80;
	fx_answers_v.nginx.https_port = 443;
	return &fx_answers_v;
}

/* Runs preflight on the fixture root; the caller frees the report. */
static inline struct preflight_report *
fx_run(const struct answers *a, int profile)
{
	struct preflight_opts o = PREFLIGHT_OPTS_INIT;
	struct preflight_report *rep = NULL;
	char *cause = NULL;

	o.root = fx_root;
	o.profile = profile;
	o.network = 0;
	o.events = 0;
	if (preflight_run(a, &o, &rep, &cause) == -1) {
		fprintf(stderr, "preflight_run: %s\n", cause);
		abort();
	}
	return rep;
}

/* The status of one check after a run with these answers and profile. */
static inline enum preflight_status
fx_check(const struct answers *a, int profile, const char *id, char **message)
{
	struct preflight_report *rep;
	const struct preflight_result *r;
	enum preflight_status s;

	rep = fx_run(a, profile);
	r = preflight_report_find(rep, id);
	if (r == NULL)
		abort();
	s = r->status;
	if (message != NULL)
		*message = strdup(r->message);
	preflight_report_free(rep);
	return s;
}

#endif
