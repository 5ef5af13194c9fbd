/*
 * Every host fact preflight uses is read here, under a root directory, so
 * tests can point the checks at a fixture root.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timex.h>
#include <sys/utsname.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "host.h"
#include "xmalloc.h"

#define HOST_READ_MAX (4 * 1024 * 1024)

struct host {
	char *root; /* without a trailing slash; "" for "/" */
};

struct host_packages {
	char **names;
	size_t n;
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
	if (h == NULL)
		return;
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

char *
host_read(const struct host *h, const char *path, char **cause)
{
	char *full, *data;

	full = host_path(h, path);
	data = file_read(full, HOST_READ_MAX, NULL, cause);
	free(full);
	return data;
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
	return data;
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
		value = xstrndup(v, len);
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

/* Reads one 32-bit word printed by the kernel in its own byte order. */
static int
host_hex_word(const char *s, uint8_t *out)
{
	char word[9];
	uint32_t v;
	char *end;

	memcpy(word, s, 8);
	word[8] = '\0';
	v = (uint32_t)strtoul(word, &end, 16);
	if (end != word + 8)
		return -1;
	memcpy(out, &v, 4);
	return 0;
}

static int
host_parse_tcp(
    const char *text, int family, struct host_listener **list, size_t *n)
{
	struct host_listener l;
	const char *line;
	char local[64], state[8];
	unsigned long long inode;
	unsigned port;
	size_t hexlen, i;
	char *colon;

	hexlen = family == AF_INET ? 8 : 32;
	line = strchr(text, '\n'); /* the header */
	while (line != NULL && *++line != '\0') {
		if (sscanf(line, "%*s %63s %*s %7s %*s %*s %*s %*s %*s %llu",
			local, state, &inode) != 3)
			goto next;
		if (strcmp(state, "0A") != 0) /* TCP_LISTEN */
			goto next;
		if ((colon = strchr(local, ':')) == NULL ||
		    (size_t)(colon - local) != hexlen ||
		    sscanf(colon + 1, "%x", &port) != 1)
			goto next;
		memset(&l, 0, sizeof l);
		l.family = family;
		l.port = (int)port;
		l.inode = inode;
		for (i = 0; i < hexlen / 8; i++) {
			if (host_hex_word(local + i * 8, l.addr + i * 4) == -1)
				goto next;
		}
		*list = xreallocarray(*list, *n + 1, sizeof **list);
		(*list)[(*n)++] = l;
	next:
		line = strchr(line, '\n');
	}
	return 0;
}

int
host_listeners(
    const struct host *h, struct host_listener **list, size_t *n, char **cause)
{
	char *text;

	*list = NULL;
	*n = 0;
	if ((text = host_read(h, "/proc/net/tcp", cause)) == NULL)
		return -1;
	host_parse_tcp(text, AF_INET, list, n);
	free(text);
	/* A host without IPv6 has no tcp6. */
	if ((text = host_read(h, "/proc/net/tcp6", cause)) == NULL) {
		free(*cause);
		*cause = NULL;
		return 0;
	}
	host_parse_tcp(text, AF_INET6, list, n);
	free(text);
	return 0;
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
		comm = xstrdup(base);
	}
	free(cmd);
	return comm;
}

/* Returns 1 when a process has a descriptor open on the socket. */
static int
host_pid_has_socket(const char *fddir, const char *want)
{
	struct dirent *fe;
	char link[64], *p;
	ssize_t len;
	int found = 0;
	DIR *d;

	if ((d = opendir(fddir)) == NULL)
		return 0;
	while (!found && (fe = readdir(d)) != NULL) {
		if (fe->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", fddir, fe->d_name);
		len = readlink(p, link, sizeof link - 1);
		free(p);
		if (len <= 0)
			continue;
		link[len] = '\0';
		found = strcmp(link, want) == 0;
	}
	closedir(d);
	return found;
}

int
host_socket_owner(const struct host *h, uint64_t inode, char **name)
{
	struct dirent *de;
	char *proc, *fddir, want[48];
	int pid = -1;
	DIR *d;

	*name = NULL;
	snprintf(want, sizeof want, "socket:[%llu]", (unsigned long long)inode);
	proc = host_path(h, "/proc");
	if ((d = opendir(proc)) == NULL) {
		free(proc);
		return -1;
	}
	pid = 0;
	while ((de = readdir(d)) != NULL) {
		if (!host_is_pid(de->d_name))
			continue;
		fddir = xasprintf("%s/%s/fd", proc, de->d_name);
		if (host_pid_has_socket(fddir, want)) {
			pid = atoi(de->d_name);
			*name = host_comm(h, de->d_name);
			if (*name == NULL)
				*name = xstrdup("?");
			free(fddir);
			break;
		}
		free(fddir);
	}
	closedir(d);
	free(proc);
	return pid;
}

int
host_each_process(
    const struct host *h, int (*fn)(int, const char *, void *), void *arg)
{
	struct dirent *de;
	char *proc, *comm;
	int rc = 0;
	DIR *d;

	proc = host_path(h, "/proc");
	d = opendir(proc);
	free(proc);
	if (d == NULL)
		return -1;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (!host_is_pid(de->d_name))
			continue;
		if ((comm = host_comm(h, de->d_name)) == NULL)
			continue; /* it ended meanwhile */
		rc = fn(atoi(de->d_name), comm, arg);
		free(comm);
	}
	closedir(d);
	return 0;
}

struct host_packages *
host_packages_load(const struct host *h)
{
	struct host_packages *p;
	char *cause = NULL, *text, *para, *next, *pkg, *end;
	const char *status;

	p = xcalloc(1, sizeof *p);
	if ((text = host_read(h, "/var/lib/dpkg/status", &cause)) == NULL) {
		free(cause);
		return p;
	}
	for (para = text; para != NULL && *para != '\0'; para = next) {
		if ((next = strstr(para, "\n\n")) != NULL) {
			*next = '\0';
			next += 2;
		}
		if (strncmp(para, "Package: ", 9) == 0)
			pkg = para + 9;
		else if ((pkg = strstr(para, "\nPackage: ")) != NULL)
			pkg += 10;
		else
			continue;
		status = host_find_key(para, "Status", ':');
		if (status == NULL ||
		    strncmp(status, " install ok installed", 21) != 0)
			continue;
		end = pkg + strcspn(pkg, "\n");
		p->names = xreallocarray(p->names, p->n + 1, sizeof *p->names);
		p->names[p->n++] = xstrndup(pkg, (size_t)(end - pkg));
	}
	free(text);
	return p;
}

int
host_package_installed(const struct host_packages *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (strcmp(p->names[i], name) == 0)
			return 1;
	}
	return 0;
}

void
host_packages_free(struct host_packages *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->names[i]);
	free(p->names);
	free(p);
}

static void
host_addr_add(
    struct host_addr **list, size_t *n, int family, const uint8_t *addr)
{
	size_t i, len = family == AF_INET ? 4 : 16;

	for (i = 0; i < *n; i++) {
		if ((*list)[i].family == family &&
		    memcmp((*list)[i].addr, addr, len) == 0)
			return;
	}
	*list = xreallocarray(*list, *n + 1, sizeof **list);
	memset(&(*list)[*n], 0, sizeof **list);
	(*list)[*n].family = family;
	memcpy((*list)[*n].addr, addr, len);
	(*n)++;
}

int
host_local_addrs(const struct host *h, struct host_addr **list, size_t *n)
{
	char *cause = NULL, *text, *line, *last = NULL, *p;
	char hex[33], word[3];
	uint8_t addr[16];
	int i;

	*list = NULL;
	*n = 0;
	/* IPv4: a "|-- A.B.C.D" line followed by "/32 host LOCAL". */
	if ((text = host_read(h, "/proc/net/fib_trie", &cause)) != NULL) {
		for (line = strtok(text, "\n"); line != NULL;
		     line = strtok(NULL, "\n")) {
			if ((p = strstr(line, "|-- ")) != NULL)
				last = p + 4;
			else if (last != NULL &&
			    strstr(line, "/32 host LOCAL") != NULL &&
			    inet_pton(AF_INET, last, addr) == 1)
				host_addr_add(list, n, AF_INET, addr);
		}
		free(text);
	} else {
		free(cause);
		cause = NULL;
	}
	if ((text = host_read(h, "/proc/net/if_inet6", &cause)) != NULL) {
		for (line = strtok(text, "\n"); line != NULL;
		     line = strtok(NULL, "\n")) {
			if (sscanf(line, "%32s", hex) != 1 || strlen(hex) != 32)
				continue;
			for (i = 0; i < 16; i++) {
				memcpy(word, hex + i * 2, 2);
				word[2] = '\0';
				addr[i] = (uint8_t)strtoul(word, NULL, 16);
			}
			host_addr_add(list, n, AF_INET6, addr);
		}
		free(text);
	} else
		free(cause);
	return 0;
}

/* Looks name up in ROOT/etc/hosts. */
static void
host_resolve_files(
    const struct host *h, const char *name, struct host_addr **list, size_t *n)
{
	char *cause = NULL, *text, *line, *save = NULL, *tok, *tsave;
	uint8_t addr[16];
	int family;

	if ((text = host_read(h, "/etc/hosts", &cause)) == NULL) {
		free(cause);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "#")] = '\0';
		if ((tok = strtok_r(line, " \t", &tsave)) == NULL)
			continue;
		if (inet_pton(AF_INET, tok, addr) == 1)
			family = AF_INET;
		else if (inet_pton(AF_INET6, tok, addr) == 1)
			family = AF_INET6;
		else
			continue;
		while ((tok = strtok_r(NULL, " \t", &tsave)) != NULL) {
			if (strcasecmp(tok, name) == 0)
				host_addr_add(list, n, family, addr);
		}
	}
	free(text);
}

/* The system resolver, bounded: an air-gapped host's DNS may never answer. */
static int
host_resolve_dns(const char *name, int timeout_ms, struct host_addr **list,
    size_t *n, char **cause)
{
	static const struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct gaicb *req, *reqs[1];
	struct addrinfo *ai;
	struct timespec ts;
	int error;

	req = xcalloc(1, sizeof *req);
	req->ar_name = xstrdup(name);
	req->ar_request = &hints;
	reqs[0] = req;
	if ((error = getaddrinfo_a(GAI_NOWAIT, reqs, 1, NULL)) != 0) {
		*cause = xasprintf(
		    "cannot look up '%s': %s", name, gai_strerror(error));
		goto fail;
	}
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
	(void)gai_suspend((const struct gaicb *const *)reqs, 1, &ts);
	error = gai_error(req);
	if (error == EAI_INPROGRESS && gai_cancel(req) != EAI_CANCELED) {
		/*
		 * XXX the resolver thread still owns req: leaked on purpose,
		 * once, rather than freed under it.
		 */
		*cause = xasprintf(
		    "looking up '%s' took longer than %d ms", name, timeout_ms);
		return -1;
	}
	if (error == EAI_NONAME || error == EAI_NODATA)
		goto done;
	if (error != 0) {
		*cause = xasprintf("cannot look up '%s': %s", name,
		    error == EAI_CANCELED ? "timed out" : gai_strerror(error));
		goto fail;
	}
	for (ai = req->ar_result; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			host_addr_add(list, n, AF_INET,
			    (const uint8_t *)&(
				(struct sockaddr_in *)ai->ai_addr)
				->sin_addr);
		else if (ai->ai_family == AF_INET6)
			host_addr_add(list, n, AF_INET6,
			    (const uint8_t *)&(
				(struct sockaddr_in6 *)ai->ai_addr)
				->sin6_addr);
	}
done:
	if (req->ar_result != NULL)
		freeaddrinfo(req->ar_result);
	free((char *)req->ar_name);
	free(req);
	return 0;
fail:
	free((char *)req->ar_name);
	free(req);
	return -1;
}

int
host_resolve(const struct host *h, const char *name, int network,
    int timeout_ms, struct host_addr **list, size_t *n, char **cause)
{
	*list = NULL;
	*n = 0;
	host_resolve_files(h, name, list, n);
	if (*n > 0 || !host_is_live(h) || !network)
		return (int)*n;
	if (host_resolve_dns(name, timeout_ms, list, n, cause) == -1)
		return -1;
	return (int)*n;
}

const char *
host_addr_string(int family, const uint8_t *addr, char *buf, size_t len)
{
	if (inet_ntop(family, addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
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
		*mountpoint = xstrdup(mnt);
		*options = xstrdup(opts);
	}
	free(text);
	return found ? 0 : -1;
}
