/*
 * The check table and the run: every check is one entry, run in order
 * against the host's facts; waivers are applied afterwards, so a check
 * never knows whether it is waived.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "preflight-int.h"
#include "xmalloc.h"

#define GIB (1024ULL * 1024 * 1024)
#define GB (1000ULL * 1000 * 1000)

static const struct preflight_check preflight_checks[] = {
    {"privileges", PREFLIGHT_ERROR, "running as root", pf_check_privileges},
    {"os.distro", PREFLIGHT_ERROR, "supported distribution",
	pf_check_os_distro},
    {"os.arch", PREFLIGHT_ERROR, "machine architecture", pf_check_os_arch},
    {"os.kernel", PREFLIGHT_ERROR, "kernel version", pf_check_os_kernel},
    {"systemd.pid1", PREFLIGHT_ERROR, "systemd is the init system",
	pf_check_systemd_pid1},
    {"cpu.cores", PREFLIGHT_ERROR, "CPU cores", pf_check_cpu_cores},
    {"memory.total", PREFLIGHT_ERROR, "memory", pf_check_memory_total},
    {"disk.free", PREFLIGHT_ERROR, "free disk space at the data paths",
	pf_check_disk_free},
    {"disk.inodes", PREFLIGHT_ERROR, "free inodes at the data paths",
	pf_check_disk_inodes},
    {"swap", PREFLIGHT_WARNING, "swap space", pf_check_swap},
    {"ports.free", PREFLIGHT_ERROR, "ports the services will use are free",
	pf_check_ports_free},
    {"existing.services", PREFLIGHT_ERROR,
	"no MariaDB, Redis, RabbitMQ or nginx chatstack did not install",
	pf_check_existing_services},
    {"time.sync", PREFLIGHT_ERROR, "clock synchronised", pf_check_time_sync},
    {"hostname.resolves", PREFLIGHT_ERROR, "the chat hostname resolves",
	pf_check_hostname_resolves},
    {"limits.nofile", PREFLIGHT_WARNING, "open file limits",
	pf_check_limits_nofile},
    {"security.mac", PREFLIGHT_WARNING, "SELinux and AppArmor mode",
	pf_check_security_mac},
    {"tmp.noexec", PREFLIGHT_WARNING, "/tmp allows executables",
	pf_check_tmp_noexec},
};
#define PREFLIGHT_NCHECKS (sizeof preflight_checks / sizeof preflight_checks[0])

/* Indexed by enum answers_profile; docs/preflight.md explains each. */
static const struct preflight_limits preflight_limits[] = {
    [PROFILE_PRODUCTION] = {"production", 4, 8, 8 * GIB, 16 * GIB, 100 * GB,
	500 * GB, 200000, 1000000},
    [PROFILE_SMALL] = {"small", 1, 2, 2 * GIB, 4 * GIB, 5 * GB, 20 * GB, 50000,
	200000},
};

static const char *const preflight_owned_names[] = {
    "mariadb", "redis", "rabbitmq", "nginx", "chatd"};

size_t
preflight_check_count(void)
{
	return PREFLIGHT_NCHECKS;
}

const char *
preflight_check_id(size_t i)
{
	return i < PREFLIGHT_NCHECKS ? preflight_checks[i].id : NULL;
}

const char *
preflight_check_title(size_t i)
{
	return i < PREFLIGHT_NCHECKS ? preflight_checks[i].title : NULL;
}

int
preflight_check_known(const char *id)
{
	size_t i;

	for (i = 0; i < PREFLIGHT_NCHECKS; i++) {
		if (strcmp(preflight_checks[i].id, id) == 0)
			return 1;
	}
	return 0;
}

const char *
preflight_status_name(enum preflight_status s)
{
	switch (s) {
	case PREFLIGHT_PASS:
		return "pass";
	case PREFLIGHT_NOTE:
		return "info";
	case PREFLIGHT_WARN:
		return "warning";
	case PREFLIGHT_FAIL:
		return "error";
	case PREFLIGHT_SKIP:
		return "skipped";
	}
	return "unknown";
}

const char *
preflight_severity_name(enum preflight_severity s)
{
	switch (s) {
	case PREFLIGHT_INFO:
		return "info";
	case PREFLIGHT_WARNING:
		return "warning";
	case PREFLIGHT_ERROR:
		return "error";
	}
	return "unknown";
}

int
preflight_profile_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof preflight_limits / sizeof preflight_limits[0];
	     i++) {
		if (strcmp(preflight_limits[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

const char *
preflight_profile_name(int profile)
{
	if (profile < 0 ||
	    (size_t)profile >=
		sizeof preflight_limits / sizeof preflight_limits[0])
		return "unknown";
	return preflight_limits[profile].name;
}

static void
pf_set(char **field, const char *fmt, va_list ap)
{
	free(*field);
	*field = xvasprintf(fmt, ap);
}

void
pf_status(struct preflight_result *r, enum preflight_status status,
    const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	pf_set(&r->message, fmt, ap);
	va_end(ap);
}

void
pf_measured(struct preflight_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pf_set(&r->measured, fmt, ap);
	va_end(ap);
}

void
pf_required(struct preflight_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pf_set(&r->required, fmt, ap);
	va_end(ap);
}

void
pf_remedy(struct preflight_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pf_set(&r->remedy, fmt, ap);
	va_end(ap);
}

void
pf_data(struct preflight_result *r, const char *key, json_t *value)
{
	if (r->data == NULL)
		r->data = json_object();
	json_object_set_new(r->data, key, value);
}

static char *
pf_bytes(uint64_t n, uint64_t unit, const char *const *names)
{
	double v = (double)n;
	int i = 0;

	while (v >= (double)unit && names[i + 1] != NULL) {
		v /= (double)unit;
		i++;
	}
	if (i == 0)
		return xasprintf("%llu %s", (unsigned long long)n, names[0]);
	return xasprintf("%.1f %s", v, names[i]);
}

char *
pf_bytes_binary(uint64_t n)
{
	static const char *const names[] = {
	    "bytes", "KiB", "MiB", "GiB", "TiB", NULL};

	return pf_bytes(n, 1024, names);
}

char *
pf_bytes_decimal(uint64_t n)
{
	static const char *const names[] = {
	    "bytes", "kB", "MB", "GB", "TB", NULL};

	return pf_bytes(n, 1000, names);
}

char *
pf_count(uint64_t n)
{
	if (n >= 1000000 && n % 100000 == 0)
		return xasprintf("%.1fM", (double)n / 1e6);
	if (n >= 1000000)
		return xasprintf("%.2fM", (double)n / 1e6);
	if (n >= 10000)
		return xasprintf("%lluk", (unsigned long long)(n / 1000));
	return xasprintf("%llu", (unsigned long long)n);
}

size_t
pf_data_paths(const struct answers *a, struct preflight_path *out, size_t max)
{
	struct preflight_path all[] = {
	    {"mariadb",
		a->mariadb.data_dir != NULL ? a->mariadb.data_dir
					    : "/var/lib/mysql"},
	    {"redis",
		a->redis.data_dir != NULL ? a->redis.data_dir
					  : "/var/lib/redis"},
	    {"rabbitmq",
		a->rabbitmq.data_dir != NULL ? a->rabbitmq.data_dir
					     : "/var/lib/rabbitmq"},
	    {"chatstack state", "/var/lib/chatstack"},
	    {"chatstack programs", "/opt/chatstack"},
	};
	size_t i, n = sizeof all / sizeof all[0];

	for (i = 0; i < n && i < max; i++)
		out[i] = all[i];
	return i;
}

void
preflight_report_free(struct preflight_report *rep)
{
	struct preflight_result *r;
	size_t i;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->n; i++) {
		r = &rep->results[i];
		free(r->message);
		free(r->measured);
		free(r->required);
		free(r->remedy);
		free(r->waiver);
		if (r->data != NULL)
			json_decref(r->data);
	}
	free(rep->results);
	free(rep->root);
	free(rep);
}

int
preflight_report_errors(const struct preflight_report *rep)
{
	return (int)rep->counts[PREFLIGHT_FAIL];
}

const struct preflight_result *
preflight_report_find(const struct preflight_report *rep, const char *id)
{
	size_t i;

	for (i = 0; i < rep->n; i++) {
		if (strcmp(rep->results[i].check->id, id) == 0)
			return &rep->results[i];
	}
	return NULL;
}

/* Components chatstack installed, from ROOT/var/lib/chatstack/owned/. */
static unsigned
preflight_owned(struct host *h)
{
	unsigned owned = 0;
	size_t i;
	char *p;

	for (i = 0;
	     i < sizeof preflight_owned_names / sizeof preflight_owned_names[0];
	     i++) {
		p = xasprintf(
		    "/var/lib/chatstack/owned/%s", preflight_owned_names[i]);
		if (host_exists(h, p))
			owned |= 1U << i;
		free(p);
	}
	return owned;
}

/* Finds the waiver for a check, without the loader's answers_waiver(). */
static const struct answers_waiver *
preflight_waiver(const struct answers *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->nwaivers; i++) {
		if (a->waivers[i].check != NULL &&
		    strcmp(a->waivers[i].check, id) == 0)
			return &a->waivers[i];
	}
	return NULL;
}

static int
preflight_check_waivers(const struct answers *a, char **cause)
{
	size_t i;

	for (i = 0; i < a->nwaivers; i++) {
		if (a->waivers[i].check == NULL ||
		    !preflight_check_known(a->waivers[i].check)) {
			*cause = xasprintf("a waiver names '%s', which is not "
					   "a preflight check",
			    a->waivers[i].check != NULL ? a->waivers[i].check
							: "");
			return -1;
		}
		if (a->waivers[i].reason == NULL ||
		    a->waivers[i].reason[0] == '\0') {
			*cause = xasprintf("the waiver of '%s' gives no reason",
			    a->waivers[i].check);
			return -1;
		}
	}
	return 0;
}

static void
preflight_emit(const struct preflight_result *r)
{
	struct event ev = {.type = EVENT_CHECK};
	json_t *data;

	data = preflight_result_json(r);
	ev.step = r->check->id;
	ev.title = r->check->title;
	ev.message = r->message;
	ev.data = data;
	event_emit(&ev);
	json_decref(data);
}

int
preflight_run(const struct answers *a, const struct preflight_opts *opts,
    struct preflight_report **reportp, char **cause)
{
	static const struct preflight_opts defaults = PREFLIGHT_OPTS_INIT;
	const struct answers_waiver *w;
	struct preflight_report *rep = NULL;
	struct preflight_result *r;
	struct preflight_ctx ctx;
	int profile, rc = -1;
	size_t i;

	*reportp = NULL;
	memset(&ctx, 0, sizeof ctx);
	if (opts == NULL)
		opts = &defaults;
	profile = opts->profile >= 0 ? opts->profile : (int)a->profile;
	if (profile < 0 ||
	    (size_t)profile >=
		sizeof preflight_limits / sizeof preflight_limits[0]) {
		*cause = xasprintf("unknown profile %d", profile);
		goto out;
	}
	if (preflight_check_waivers(a, cause) == -1)
		goto out;

	ctx.host = host_open(opts->root);
	ctx.answers = a;
	ctx.limits = &preflight_limits[profile];
	ctx.opts = opts;
	ctx.owned = opts->owned | preflight_owned(ctx.host);

	rep = xcalloc(1, sizeof *rep);
	rep->profile = profile;
	rep->root = xstrdup(host_root(ctx.host));
	rep->results = xcalloc(PREFLIGHT_NCHECKS, sizeof *rep->results);
	for (i = 0; i < PREFLIGHT_NCHECKS; i++) {
		r = &rep->results[rep->n++];
		r->check = &preflight_checks[i];
		r->status = PREFLIGHT_PASS;
		preflight_checks[i].fn(&ctx, r);
		if (r->message == NULL)
			r->message = xstrdup(r->check->title);
		r->unwaived = r->status;

		if ((w = preflight_waiver(a, r->check->id)) != NULL) {
			r->waiver = host_clean(xstrdup(w->reason));
			if (r->status == PREFLIGHT_FAIL) {
				r->status = PREFLIGHT_WARN;
				rep->waived++;
			}
		}
		rep->counts[r->status]++;
		if (opts->events)
			preflight_emit(r);
	}
	*reportp = rep;
	rep = NULL;
	rc = 0;
out:
	preflight_report_free(rep);
	host_free(ctx.host);
	return rc;
}
