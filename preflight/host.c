/*
 * Every host fact preflight uses is read here (and in host-net.c), under a
 * root directory, so tests can point the checks at a fixture root.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <sys/utsname.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "host.h"
#include "xmalloc.h"

#define HOST_READ_MAX (4 * 1024 * 1024)

struct host_proc {
	int pid;
	char *comm;
};

struct host {
	char *root; /* without a trailing slash; "" for "/" */
	struct host_proc *procs; /* read once, on first use */
	size_t nprocs;
	int procs_read;
};

struct host_packages {
	char *text; /* /var/lib/dpkg/status, or NULL */
};

struct host *
host_open(const char *root)
{
	struct host *h;
	size_t len;

	h = xcalloc(1, sizeof *h);
	if (root == NULL)
		root = "/";
	h->root = xstrdup(root);
	len = strlen(h->root);
	while (len > 0 && h->root[len - 1] == '/')
		h->root[--len] = '\0';
	return h;
}

void
host_free(struct host *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->nprocs; i++)
		free(h->procs[i].comm);
	free(h->procs);
	free(h->root);
	free(h);
}

const char *
host_root(const struct host *h)
{
	return h->root[0] == '\0' ? "/" : h->root;
}

int
host_is_live(const struct host *h)
{
	return h->root[0] == '\0';
}

char *
host_path(const struct host *h, const char *path)
{
	return xasprintf("%s%s%s", h->root, path[0] == '/' ? "" : "/", path);
}

/* Opens path below the host's root as a directory, or returns NULL. */
static DIR *
host_opendir(const struct host *h, const char *path)
{
	char *full;
	DIR *d;

	full = host_path(h, path);
	d = opendir(full);
	free(full);
	return d;
}

char *
host_read(const struct host *h, const char *path, char **cause)
{
	char *full, *data;

	full = host_path(h, path);
	data = file_read(full, HOST_READ_MAX, NULL, cause);
	free(full);
	return data;
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static size_t
host_utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

char *
host_clean(char *s)
{
	unsigned char *p;
	size_t n;

	if (s == NULL)
		return NULL;
	for (p = (unsigned char *)s; *p != '\0'; p += n) {
		if ((n = host_utf8_len(p)) == 0 || *p < 0x20 || *p == 0x7f) {
			*p = '?';
			n = 1;
		}
	}
	return s;
}

char *
host_read_line(const struct host *h, const char *path)
{
	char *cause = NULL, *data;

	if ((data = host_read(h, path, &cause)) == NULL) {
		free(cause);
		return NULL;
	}
	data[strcspn(data, "\n")] = '\0';
	return host_clean(data);
}

int
host_exists(const struct host *h, const char *path)
{
	struct stat sb;
	char *full;
	int rc;

	full = host_path(h, path);
	rc = lstat(full, &sb) == 0;
	free(full);
	return rc;
}

/* Finds "key" at the start of a line followed by sep; returns the value. */
static const char *
host_find_key(const char *text, const char *key, char sep)
{
	const char *line;
	size_t len = strlen(key);

	for (line = text; line != NULL && *line != '\0';) {
		if (strncmp(line, key, len) == 0 && line[len] == sep)
			return line + len + 1;
		if ((line = strchr(line, '\n')) != NULL)
			line++;
	}
	return NULL;
}

int
host_meminfo(const struct host *h, const char *key, uint64_t *bytes)
{
	char *cause = NULL, *text, *end;
	const char *v;
	unsigned long long n;
	int rc = -1;

	if ((text = host_read(h, "/proc/meminfo", &cause)) == NULL) {
		free(cause);
		return -1;
	}
	if ((v = host_find_key(text, key, ':')) == NULL)
		goto out;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v)
		goto out;
	while (*end == ' ')
		end++;
	if (strncmp(end, "kB", 2) == 0)
		n *= 1024;
	*bytes = n;
	rc = 0;
out:
	free(text);
	return rc;
}

int
host_parse_cpulist(const char *s)
{
	unsigned long a, b;
	char *end;
	int n = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '\n')
		return -1;
	for (;;) {
		if (!isdigit((unsigned char)*s))
			return -1;
		a = strtoul(s, &end, 10);
		b = a;
		if (*end == '-') {
			s = end + 1;
			if (!isdigit((unsigned char)*s))
				return -1;
			b = strtoul(s, &end, 10);
		}
		if (b < a || b - a > 65536 || n > INT_MAX - 65537)
			return -1;
		n += (int)(b - a + 1);
		s = end;
		if (*s != ',')
			break;
		s++;
	}
	if (*s != '\0' && *s != '\n')
		return -1;
	return n;
}

int
host_cpus(const struct host *h, unsigned *n, char **cause)
{
	char *text, *line = NULL;
	const char *v;
	int count = -1;

	if ((text = host_read(h, "/proc/self/status", cause)) != NULL) {
		if ((v = host_find_key(text, "Cpus_allowed_list", ':')) != NULL)
			count = host_parse_cpulist(v);
		free(text);
	} else {
		free(*cause);
		*cause = NULL;
	}
	if (count <= 0) {
		line = host_read_line(h, "/sys/devices/system/cpu/online");
		if (line != NULL)
			count = host_parse_cpulist(line);
		free(line);
	}
	if (count <= 0) {
		*cause = xstrdup("cannot count CPUs: neither "
				 "'/proc/self/status' nor "
				 "'/sys/devices/system/cpu/online' lists them");
		return -1;
	}
	*n = (unsigned)count;
	return 0;
}

int
host_euid(const struct host *h, unsigned *uid, char **cause)
{
	char *text;
	const char *v;
	unsigned r, e;
	int rc = -1;

	if ((text = host_read(h, "/proc/self/status", cause)) == NULL)
		return -1;
	if ((v = host_find_key(text, "Uid", ':')) == NULL ||
	    sscanf(v, "%u %u", &r, &e) != 2)
		*cause = xstrdup("'/proc/self/status' has no 'Uid' line");
	else {
		*uid = e;
		rc = 0;
	}
	free(text);
	return rc;
}

char *
host_os_release(const struct host *h, const char *key)
{
	char *cause = NULL, *text, *value = NULL;
	const char *v;
	size_t len;

	if ((text = host_read(h, "/etc/os-release", &cause)) == NULL) {
		free(cause);
		cause = NULL;
		if ((text = host_read(h, "/usr/lib/os-release", &cause)) ==
		    NULL) {
			free(cause);
			return NULL;
		}
	}
	if ((v = host_find_key(text, key, '=')) != NULL) {
		len = strcspn(v, "\n");
		if (len >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[len - 1] == v[0]) {
			v++;
			len -= 2;
		}
		value = host_clean(xstrndup(v, len));
	}
	free(text);
	return value;
}

char *
host_arch(const struct host *h)
{
	struct utsname u;
	char *arch;

	if ((arch = host_read_line(h, "/proc/sys/kernel/arch")) != NULL &&
	    *arch != '\0')
		return arch;
	free(arch);
	if (!host_is_live(h) || uname(&u) == -1)
		return NULL;
	return xstrdup(u.machine);
}

void
host_fs_clear(struct host_fs *fs)
{
	free(fs->checked);
	memset(fs, 0, sizeof *fs);
}

/* Looks a path up in ROOT/.fixture/statvfs (fixture roots only). */
static int
host_fs_fixture(const struct host *h, const char *text, const char *path,
    struct host_fs *fs)
{
	unsigned long long t, a, ti, ai;
	const char *line;
	char p[PATH_MAX];
	uint64_t lineno = 0;

	(void)h;
	for (line = text; *line != '\0'; lineno++) {
		if (sscanf(line, "%4095s %llu %llu %llu %llu", p, &t, &a, &ti,
			&ai) == 5 &&
		    strcmp(p, path) == 0) {
			fs->checked = xstrdup(path);
			fs->id = lineno + 1;
			fs->total_bytes = t;
			fs->avail_bytes = a;
			fs->total_inodes = ti;
			fs->avail_inodes = ai;
			return 0;
		}
		if ((line = strchr(line, '\n')) == NULL)
			break;
		line++;
	}
	return -1;
}

int
host_fs(
    const struct host *h, const char *path, struct host_fs *fs, char **cause)
{
	char *fixture = NULL, *cur, *full = NULL, *slash;
	struct statvfs sv;
	struct stat sb;
	int rc = -1;

	memset(fs, 0, sizeof *fs);
	if (path[0] != '/') {
		*cause = xasprintf("'%s' is not an absolute path", path);
		return -1;
	}
	if (!host_is_live(h)) {
		fixture = host_read(h, "/.fixture/statvfs", cause);
		if (fixture == NULL) {
			free(*cause);
			*cause = NULL;
		}
	}

	/* Walk up to the nearest ancestor that exists (or is listed). */
	cur = xstrdup(path);
	for (;;) {
		if (fixture != NULL) {
			if (host_fs_fixture(h, fixture, cur, fs) == 0) {
				rc = 0;
				break;
			}
		} else {
			free(full);
			full = host_path(h, cur);
			if (stat(full, &sb) == 0) {
				if (statvfs(full, &sv) == -1) {
					*cause = xasprintf(
					    "cannot measure the filesystem "
					    "of '%s': %s",
					    cur, strerror(errno));
					break;
				}
				fs->checked = xstrdup(cur);
				fs->id = (uint64_t)sb.st_dev;
				fs->total_bytes =
				    (uint64_t)sv.f_blocks * sv.f_frsize;
				fs->avail_bytes =
				    (uint64_t)sv.f_bavail * sv.f_frsize;
				fs->total_inodes = sv.f_files;
				fs->avail_inodes = sv.f_favail;
				rc = 0;
				break;
			}
		}
		if (strcmp(cur, "/") == 0) {
			*cause = xasprintf("cannot measure the filesystem of "
					   "'%s': no part of it exists",
			    path);
			break;
		}
		slash = strrchr(cur, '/');
		if (slash == cur)
			cur[1] = '\0';
		else
			*slash = '\0';
	}
	free(cur);
	free(full);
	free(fixture);
	return rc;
}

static int
host_is_pid(const char *name)
{
	if (*name == '\0')
		return 0;
	for (; *name != '\0'; name++) {
		if (!isdigit((unsigned char)*name))
			return 0;
	}
	return 1;
}

/*
 * The process name. The kernel cuts comm at 15 characters; then the
 * command line's first word, when it starts the same, says it in full.
 */
static char *
host_comm(const struct host *h, const char *pid)
{
	char *path, *comm, *cmd, *cause = NULL;
	const char *base;

	path = xasprintf("/proc/%s/comm", pid);
	comm = host_read_line(h, path);
	free(path);
	if (comm == NULL || strlen(comm) != 15)
		return comm;
	path = xasprintf("/proc/%s/cmdline", pid);
	cmd = host_read(h, path, &cause);
	free(path);
	free(cause);
	if (cmd == NULL)
		return comm;
	base = strrchr(cmd, '/') != NULL ? strrchr(cmd, '/') + 1 : cmd;
	if (strncmp(base, comm, 15) == 0 && strlen(base) > 15) {
		free(comm);
		comm = host_clean(xstrdup(base));
	}
	free(cmd);
	return comm;
}

/* Matches a process's descriptors against the sockets still unowned. */
static size_t
host_match_fds(const struct host *h, const char *pidname,
    const uint64_t *inodes, size_t n, int *pids, char **names)
{
	struct dirent *fe;
	char *fddir, *p, link[64];
	unsigned long long inode;
	size_t i, found = 0;
	ssize_t len;
	DIR *d;

	p = xasprintf("/proc/%s/fd", pidname);
	d = host_opendir(h, p);
	free(p);
	if (d == NULL)
		return 0;
	while ((fe = readdir(d)) != NULL) {
		if (fe->d_name[0] == '.')
			continue;
		p = xasprintf("/proc/%s/fd/%s", pidname, fe->d_name);
		fddir = host_path(h, p);
		free(p);
		len = readlink(fddir, link, sizeof link - 1);
		free(fddir);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "socket:[", 8) != 0 ||
		    sscanf(link + 8, "%llu", &inode) != 1)
			continue;
		for (i = 0; i < n; i++) {
			if (inodes[i] != inode || pids[i] != 0)
				continue;
			pids[i] = atoi(pidname);
			if ((names[i] = host_comm(h, pidname)) == NULL)
				names[i] = xstrdup("?");
			found++;
		}
	}
	closedir(d);
	return found;
}

/*
 * XXX without root, other users' /proc/PID/fd cannot be read, so their
 * sockets have no visible owner (the caller says so).
 */
int
host_socket_owners(const struct host *h, const uint64_t *inodes, size_t n,
    int *pids, char **names)
{
	struct dirent *de;
	size_t left = n;
	DIR *d;

	memset(pids, 0, n * sizeof *pids);
	memset(names, 0, n * sizeof *names);
	if (n == 0)
		return 0;
	if ((d = host_opendir(h, "/proc")) == NULL)
		return -1;
	/* One walk for every port, ended as soon as each has its holder. */
	while (left > 0 && (de = readdir(d)) != NULL) {
		if (host_is_pid(de->d_name))
			left -= host_match_fds(
			    h, de->d_name, inodes, n, pids, names);
	}
	closedir(d);
	return 0;
}

/* Reads every process's name once; later calls use the list. */
static int
host_read_processes(struct host *h)
{
	struct dirent *de;
	char *comm;
	DIR *d;

	if (h->procs_read)
		return 0;
	if ((d = host_opendir(h, "/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!host_is_pid(de->d_name))
			continue;
		if ((comm = host_comm(h, de->d_name)) == NULL)
			continue; /* it ended meanwhile */
		h->procs =
		    xreallocarray(h->procs, h->nprocs + 1, sizeof *h->procs);
		h->procs[h->nprocs].pid = atoi(de->d_name);
		h->procs[h->nprocs].comm = comm;
		h->nprocs++;
	}
	closedir(d);
	h->procs_read = 1;
	return 0;
}

int
host_each_process(
    struct host *h, int (*fn)(int, const char *, void *), void *arg)
{
	size_t i;

	if (host_read_processes(h) == -1)
		return -1;
	for (i = 0; i < h->nprocs; i++) {
		if (fn(h->procs[i].pid, h->procs[i].comm, arg) != 0)
			break;
	}
	return 0;
}

struct host_packages *
host_packages_load(const struct host *h)
{
	struct host_packages *p;
	char *cause = NULL;

	p = xcalloc(1, sizeof *p);
	if ((p->text = host_read(h, "/var/lib/dpkg/status", &cause)) == NULL)
		free(cause);
	return p;
}

/*
 * Finds the stanza of one package and reads its Status line; only a few
 * names are ever asked for, so the database is searched, not indexed.
 */
int
host_package_installed(const struct host_packages *p, const char *name)
{
	const char *at, *end, *status;
	char *want;
	int found = 0;

	if (p->text == NULL)
		return 0;
	want = xasprintf("Package: %s\n", name);
	for (at = p->text; (at = strstr(at, want)) != NULL; at++) {
		if (at != p->text && at[-1] != '\n')
			continue;
		if ((end = strstr(at, "\n\n")) == NULL)
			end = at + strlen(at);
		status = strstr(at, "\nStatus: ");
		if (status != NULL && status < end &&
		    strncmp(status + 8, " install ok installed", 21) == 0)
			found = 1;
		break;
	}
	free(want);
	return found;
}

void
host_packages_free(struct host_packages *p)
{
	if (p == NULL)
		return;
	free(p->text);
	free(p);
}

int
host_clock(const struct host *h, struct host_clock *c, char **cause)
{
	struct timex tx;
	char *text;
	const char *v;
	int state;

	memset(c, 0, sizeof *c);
	c->esterror_us = -1;
	if (!host_is_live(h)) {
		if ((text = host_read(h, "/.fixture/clock", cause)) == NULL)
			return -1;
		if ((v = host_find_key(text, "synced", ' ')) != NULL)
			c->synced = atoi(v);
		if ((v = host_find_key(text, "esterror_us", ' ')) != NULL)
			c->esterror_us = strtoll(v, NULL, 10);
		free(text);
		return 0;
	}
	memset(&tx, 0, sizeof tx);
	if ((state = adjtimex(&tx)) == -1) {
		*cause = xasprintf(
		    "cannot read the kernel clock state: %s", strerror(errno));
		return -1;
	}
	c->synced = state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
	c->esterror_us = c->synced ? (int64_t)tx.esterror : -1;
	return 0;
}

/* Undoes the octal escapes of /proc/self/mounts ("\040" for a space). */
static void
host_unescape_mount(char *s)
{
	char *w = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 4;
		} else
			*w++ = *s++;
	}
	*w = '\0';
}

int
host_mount_for(
    const struct host *h, const char *path, char **mountpoint, char **options)
{
	char *cause = NULL, *text, *line, *save = NULL;
	char mnt[PATH_MAX], opts[1024];
	size_t best = 0, len;
	int found = 0;

	*mountpoint = *options = NULL;
	if ((text = host_read(h, "/proc/self/mounts", &cause)) == NULL) {
		free(cause);
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%*s %4095s %*s %1023s", mnt, opts) != 2)
			continue;
		host_unescape_mount(mnt);
		len = strlen(mnt);
		if (strcmp(mnt, "/") != 0 &&
		    (strncmp(path, mnt, len) != 0 ||
			(path[len] != '/' && path[len] != '\0')))
			continue;
		/* Later mounts on the same point hide earlier ones. */
		if (found && len < best)
			continue;
		best = len;
		found = 1;
		free(*mountpoint);
		free(*options);
		*mountpoint = host_clean(xstrdup(mnt));
		*options = host_clean(xstrdup(opts));
	}
	free(text);
	return found ? 0 : -1;
}
