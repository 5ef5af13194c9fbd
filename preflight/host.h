/*
 * Host facts for preflight, read through one place. Every fact comes from
 * a file under a root directory: "/" for the real host, or a fixture root
 * holding a fake proc/, sys/, etc/ and var/ for tests. Nothing here
 * changes the host.
 *
 * The few facts that are not files (free space from statvfs, the kernel's
 * clock state from adjtimex, name resolution) come from the system call
 * when the root is "/", and from plain files under ROOT/.fixture/ when it
 * is not (see docs/preflight.md, "Fixture roots").
 */
#ifndef PREFLIGHT_HOST_H
#define PREFLIGHT_HOST_H

#include <stddef.h>
#include <stdint.h>

struct host;

/* Opens a root ("/" or NULL for this host). Never fails. */
struct host *host_open(const char *root);
void host_free(struct host *);
const char *host_root(const struct host *);
/* 1 when the root is this host's "/". */
int host_is_live(const struct host *);

/* Returns root + path (path absolute); the caller frees it. */
char *host_path(const struct host *, const char *path);
/*
 * Reads a whole file under the root, at most 4 MiB. Returns an allocated
 * NUL-terminated buffer, or NULL with *cause set.
 */
char *host_read(const struct host *, const char *path, char **cause);
/* Reads the first line of a file, without its newline; NULL if none. */
char *host_read_line(const struct host *, const char *path);
int host_exists(const struct host *, const char *path);
/*
 * Makes text from the host (a process name, an os-release value, a mount
 * point) safe for a terminal and for JSON, in place: control characters
 * and bytes that are not UTF-8 become '?'. Returns s.
 */
char *host_clean(char *s);

/* A "Key:   value kB" line of /proc/meminfo, in bytes; -1 when missing. */
int host_meminfo(const struct host *, const char *key, uint64_t *bytes);
/*
 * The CPUs this process may run on (as nproc counts them): from
 * Cpus_allowed_list in /proc/self/status, else /sys/devices/system/cpu/online.
 */
int host_cpus(const struct host *, unsigned *n, char **cause);
/* The effective uid, from /proc/self/status. */
int host_euid(const struct host *, unsigned *uid, char **cause);
/*
 * A key of /etc/os-release (else /usr/lib/os-release), unquoted; the
 * caller frees it. NULL when the key or the file is missing.
 */
char *host_os_release(const struct host *, const char *key);
/*
 * The machine architecture: /proc/sys/kernel/arch, else uname() on this
 * host. The caller frees it; NULL when unknown.
 */
char *host_arch(const struct host *);
/* Parses a CPU list such as "0-3,8,10-11"; returns the count or -1. */
int host_parse_cpulist(const char *);

/* A filesystem holding a path. */
struct host_fs {
	char *checked; /* the nearest existing ancestor that was measured */
	uint64_t id; /* same filesystem, same id */
	uint64_t total_bytes;
	uint64_t avail_bytes; /* for unprivileged users, as df shows */
	uint64_t total_inodes; /* 0: the filesystem has no fixed count */
	uint64_t avail_inodes;
};
/*
 * Measures the filesystem a path is (or will be) on: a path that does not
 * exist yet is measured at its nearest existing ancestor.
 */
int host_fs(
    const struct host *, const char *path, struct host_fs *, char **cause);
void host_fs_clear(struct host_fs *);

/* A listening TCP socket from /proc/net/tcp or tcp6. */
struct host_listener {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	int port;
	uint64_t inode;
	int v6only; /* IPV6_V6ONLY: 1, 0, or -1 when unknown (/proc) */
};
int host_listeners(
    const struct host *, struct host_listener **, size_t *n, char **cause);
/*
 * Finds the processes holding socket inodes through /proc/PID/fd, in one
 * walk that ends when each has its holder. Sets pids[i] and names[i]
 * (allocated, from /proc/PID/comm; the caller frees them), or 0 and NULL
 * when no visible process holds inodes[i] (another user's, without
 * root). Returns -1 when /proc cannot be read.
 */
int host_socket_owners(const struct host *, const uint64_t *inodes, size_t n,
    int *pids, char **names);

/*
 * Calls fn for every process with its pid and name; stops when fn != 0.
 * The list is read on the first call and kept for the host's lifetime.
 */
int host_each_process(
    struct host *, int (*fn)(int pid, const char *comm, void *), void *arg);

/* "Status: install ok installed" for a package in the dpkg database. */
struct host_packages;
struct host_packages *host_packages_load(const struct host *);
int host_package_installed(const struct host_packages *, const char *name);
void host_packages_free(struct host_packages *);

/* An address of this host, from /proc/net/fib_trie and if_inet6. */
struct host_addr {
	int family;
	uint8_t addr[16];
};
int host_local_addrs(const struct host *, struct host_addr **, size_t *n);
/*
 * Resolves a name: /etc/hosts under the root first; then, when the root
 * is "/" and network is allowed, the system resolver, bounded by
 * timeout_ms. Returns the count (0: does not resolve) or -1 with *cause
 * when the lookup itself failed or timed out.
 */
int host_resolve(const struct host *, const char *name, int network,
    int timeout_ms, struct host_addr **, size_t *n, char **cause);
/* Formats an address; returns buf. */
const char *host_addr_string(
    int family, const uint8_t *addr, char *buf, size_t len);

/* The kernel's clock discipline state (adjtimex). */
struct host_clock {
	int synced; /* the kernel considers the clock synchronised */
	int64_t esterror_us; /* estimated error, -1 when unknown */
};
int host_clock(const struct host *, struct host_clock *, char **cause);

/*
 * The mount holding a path, from /proc/self/mounts: its mount point and
 * options (both allocated). Returns -1 when none is found.
 */
int host_mount_for(
    const struct host *, const char *path, char **mountpoint, char **options);

#endif
