/* Checks of the machine's size: CPUs, memory, disk, swap, file limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "preflight-int.h"
#include "xmalloc.h"

/* Files the services want open at once (LimitNOFILE of their units). */
#define PF_NOFILE_UNITS 65536ULL
#define PF_FILE_MAX_MIN 100000ULL
/* MemTotal is RAM less what firmware and kernel keep: allow 6 %. */
#define PF_MEMORY_SLACK 94

/* One filesystem and the data paths on it. */
struct pf_fs {
	struct host_fs fs;
	struct buf what; /* "mariadb, redis" */
	json_t *paths;
};

struct pf_fs_set {
	struct pf_fs *list;
	size_t n;
	char *error; /* the first path that could not be measured */
};

static void
pf_fs_collect(struct preflight_ctx *ctx, struct pf_fs_set *set)
{
	struct preflight_path paths[8];
	struct host_fs fs;
	struct pf_fs *g;
	char *cause = NULL;
	size_t i, j, n;

	memset(set, 0, sizeof *set);
	n = pf_data_paths(ctx->answers, paths, 8);
	for (i = 0; i < n; i++) {
		if (host_fs(ctx->host, paths[i].path, &fs, &cause) == -1) {
			if (set->error == NULL)
				set->error = cause;
			else
				free(cause);
			cause = NULL;
			continue;
		}
		for (j = 0; j < set->n; j++) {
			if (set->list[j].fs.id == fs.id)
				break;
		}
		if (j == set->n) {
			set->list = xreallocarray(
			    set->list, set->n + 1, sizeof *set->list);
			g = &set->list[set->n++];
			memset(g, 0, sizeof *g);
			g->fs = fs;
			g->paths = json_array();
		} else {
			g = &set->list[j];
			host_fs_clear(&fs);
		}
		buf_printf(&g->what, "%s%s", g->what.len > 0 ? ", " : "",
		    paths[i].what);
		json_array_append_new(g->paths, json_string(paths[i].path));
	}
}

static void
pf_fs_free(struct pf_fs_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		host_fs_clear(&set->list[i].fs);
		buf_free(&set->list[i].what);
		json_decref(set->list[i].paths);
	}
	free(set->list);
	free(set->error);
}

static json_t *
pf_fs_json(const struct pf_fs *g)
{
	return json_pack("{s:s, s:O, s:I, s:I, s:I, s:I}", "checked",
	    g->fs.checked, "paths", g->paths, "total_bytes",
	    (json_int_t)g->fs.total_bytes, "avail_bytes",
	    (json_int_t)g->fs.avail_bytes, "total_inodes",
	    (json_int_t)g->fs.total_inodes, "avail_inodes",
	    (json_int_t)g->fs.avail_inodes);
}

/* Returns the status for value against a minimum and a recommendation. */
static enum preflight_status
pf_grade(uint64_t value, uint64_t min, uint64_t rec)
{
	if (value < min)
		return PREFLIGHT_FAIL;
	if (value < rec)
		return PREFLIGHT_WARN;
	return PREFLIGHT_PASS;
}

static const char *
pf_other_profile(const struct preflight_limits *l)
{
	return strcmp(l->name, "production") == 0
	    ? ", or use '--profile small' for a lab or demo"
	    : "";
}

void
pf_check_cpu_cores(struct preflight_ctx *ctx, struct preflight_result *r)
{
	const struct preflight_limits *l = ctx->limits;
	char *cause = NULL;
	unsigned n;

	pf_required(r, "%u or more, %u recommended (%s)", l->cores_min,
	    l->cores_rec, l->name);
	pf_data(r, "minimum", json_integer(l->cores_min));
	pf_data(r, "recommended", json_integer(l->cores_rec));
	if (host_cpus(ctx->host, &n, &cause) == -1) {
		pf_status(r, PREFLIGHT_WARN, "%s", cause);
		free(cause);
		return;
	}
	pf_measured(r, "%u", n);
	pf_data(r, "cores", json_integer(n));
	switch (pf_grade(n, l->cores_min, l->cores_rec)) {
	case PREFLIGHT_FAIL:
		pf_status(r, PREFLIGHT_FAIL,
		    "%u CPU cores, fewer than the %u the %s profile needs", n,
		    l->cores_min, l->name);
		pf_remedy(r, "give this machine %u or more cores%s",
		    l->cores_rec, pf_other_profile(l));
		break;
	case PREFLIGHT_WARN:
		pf_status(r, PREFLIGHT_WARN,
		    "%u CPU cores, fewer than the %u recommended for %s: "
		    "fine at light load, slow under a busy one",
		    n, l->cores_rec, l->name);
		pf_remedy(r, "give this machine %u cores", l->cores_rec);
		break;
	default:
		pf_status(r, PREFLIGHT_PASS, "%u CPU cores", n);
		break;
	}
}

void
pf_check_memory_total(struct preflight_ctx *ctx, struct preflight_result *r)
{
	const struct preflight_limits *l = ctx->limits;
	char *have = NULL, *min, *rec;
	uint64_t mem;

	min = pf_bytes_binary(l->memory_min);
	rec = pf_bytes_binary(l->memory_rec);
	pf_required(r, "%s or more, %s recommended (%s)", min, rec, l->name);
	pf_data(r, "minimum_bytes", json_integer((json_int_t)l->memory_min));
	pf_data(
	    r, "recommended_bytes", json_integer((json_int_t)l->memory_rec));
	if (host_meminfo(ctx->host, "MemTotal", &mem) == -1) {
		pf_status(r, PREFLIGHT_WARN,
		    "cannot read 'MemTotal' from '/proc/meminfo'");
		goto out;
	}
	have = pf_bytes_binary(mem);
	pf_measured(r, "%s", have);
	pf_data(r, "total_bytes", json_integer((json_int_t)mem));
	switch (pf_grade(
	    mem / PF_MEMORY_SLACK * 100, l->memory_min, l->memory_rec)) {
	case PREFLIGHT_FAIL:
		pf_status(r, PREFLIGHT_FAIL,
		    "%s of memory, less than the %s the %s profile needs", have,
		    min, l->name);
		pf_remedy(r, "give this machine %s or more of memory%s", rec,
		    pf_other_profile(l));
		break;
	case PREFLIGHT_WARN:
		pf_status(r, PREFLIGHT_WARN,
		    "%s of memory, less than the %s recommended for %s: "
		    "MariaDB and RabbitMQ get smaller caches",
		    have, rec, l->name);
		pf_remedy(r, "give this machine %s of memory", rec);
		break;
	default:
		pf_status(r, PREFLIGHT_PASS, "%s of memory", have);
		break;
	}
out:
	free(have);
	free(min);
	free(rec);
}

/* disk.free and disk.inodes: the same walk over filesystems. */
static void
pf_check_disk(struct preflight_ctx *ctx, struct preflight_result *r, int inodes)
{
	const struct preflight_limits *l = ctx->limits;
	enum preflight_status worst = PREFLIGHT_PASS, st;
	struct pf_fs_set set;
	struct buf measured = BUF_INIT, passmsg = BUF_INIT;
	const struct pf_fs *g, *bad = NULL;
	uint64_t min, rec, have;
	char *s_have, *s_min, *s_rec;
	json_t *list;
	size_t i;

	min = inodes ? l->inodes_min : l->disk_min;
	rec = inodes ? l->inodes_rec : l->disk_rec;
	s_min = inodes ? pf_count(min) : pf_bytes_decimal(min);
	s_rec = inodes ? pf_count(rec) : pf_bytes_decimal(rec);
	pf_required(r, "%s%s free on each, %s recommended (%s)", s_min,
	    inodes ? " inodes" : "", s_rec, l->name);
	pf_data(r, "minimum", json_integer((json_int_t)min));
	pf_data(r, "recommended", json_integer((json_int_t)rec));

	pf_fs_collect(ctx, &set);
	list = json_array();
	for (i = 0; i < set.n; i++) {
		g = &set.list[i];
		json_array_append_new(list, pf_fs_json(g));
		if (inodes && g->fs.total_inodes == 0) {
			buf_printf(&measured, "%sno fixed inode count at %s",
			    measured.len > 0 ? "; " : "", g->fs.checked);
			buf_printf(&passmsg,
			    "%s%s (%s) has no fixed inode count",
			    passmsg.len > 0 ? "; " : "", g->fs.checked,
			    g->what.data);
			continue;
		}
		have = inodes ? g->fs.avail_inodes : g->fs.avail_bytes;
		s_have = inodes ? pf_count(have) : pf_bytes_decimal(have);
		if (set.n == 1)
			buf_printf(&measured, "%s free", s_have);
		else
			buf_printf(&measured, "%s%s free at %s",
			    measured.len > 0 ? "; " : "", s_have,
			    g->fs.checked);
		buf_printf(&passmsg, "%s%s free at %s (%s)",
		    passmsg.len > 0 ? "; " : "", s_have, g->fs.checked,
		    g->what.data);
		free(s_have);
		st = pf_grade(have, min, rec);
		if (bad == NULL || st > worst) {
			worst = st;
			bad = g;
		}
	}
	pf_data(r, "filesystems", list);
	if (measured.len > 0)
		pf_measured(r, "%s", measured.data);

	if (set.error != NULL) {
		pf_status(r, PREFLIGHT_WARN, "%s", set.error);
		goto out;
	}
	if (bad == NULL) {
		pf_status(r, PREFLIGHT_PASS, "%s", passmsg.data);
		goto out;
	}
	have = inodes ? bad->fs.avail_inodes : bad->fs.avail_bytes;
	s_have = inodes ? pf_count(have) : pf_bytes_decimal(have);
	switch (worst) {
	case PREFLIGHT_FAIL:
		pf_status(r, PREFLIGHT_FAIL,
		    "%s%s free at %s (%s), fewer than the %s the %s "
		    "profile needs",
		    s_have, inodes ? " inodes" : "", bad->fs.checked,
		    bad->what.data, s_min, l->name);
		break;
	case PREFLIGHT_WARN:
		pf_status(r, PREFLIGHT_WARN,
		    "%s%s free at %s (%s), fewer than the %s recommended "
		    "for %s",
		    s_have, inodes ? " inodes" : "", bad->fs.checked,
		    bad->what.data, s_rec, l->name);
		break;
	default:
		pf_status(r, PREFLIGHT_PASS, "%s", passmsg.data);
		break;
	}
	if (worst != PREFLIGHT_PASS && inodes)
		pf_remedy(r,
		    "find what holds the inodes (du --inodes -x %s | sort -n "
		    "| tail), or put the data paths on a filesystem with more "
		    "(mkfs.ext4 -i 8192)",
		    bad->fs.checked);
	else if (worst != PREFLIGHT_PASS)
		pf_remedy(r,
		    "free space (du -xh %s | sort -h | tail), grow the "
		    "filesystem, or point the data_dir answers at a larger "
		    "one%s",
		    bad->fs.checked, pf_other_profile(l));
	free(s_have);
out:
	buf_free(&measured);
	buf_free(&passmsg);
	pf_fs_free(&set);
	free(s_min);
	free(s_rec);
}

void
pf_check_disk_free(struct preflight_ctx *ctx, struct preflight_result *r)
{
	pf_check_disk(ctx, r, 0);
}

void
pf_check_disk_inodes(struct preflight_ctx *ctx, struct preflight_result *r)
{
	pf_check_disk(ctx, r, 1);
}

void
pf_check_swap(struct preflight_ctx *ctx, struct preflight_result *r)
{
	uint64_t swap, mem = 0;
	char *s, *rec;

	rec = pf_bytes_binary(ctx->limits->memory_rec);
	pf_required(r, "some swap when memory is below %s", rec);
	if (host_meminfo(ctx->host, "SwapTotal", &swap) == -1) {
		pf_status(r, PREFLIGHT_SKIP,
		    "cannot read 'SwapTotal' from '/proc/meminfo'");
		goto out;
	}
	(void)host_meminfo(ctx->host, "MemTotal", &mem);
	s = pf_bytes_binary(swap);
	pf_measured(r, "%s", s);
	pf_data(r, "total_bytes", json_integer((json_int_t)swap));
	if (swap > 0)
		pf_status(r, PREFLIGHT_PASS, "%s of swap", s);
	else if (mem / PF_MEMORY_SLACK * 100 < ctx->limits->memory_rec) {
		pf_status(r, PREFLIGHT_WARN,
		    "no swap, and memory is below %s: a burst of load can "
		    "get a service killed instead of slowed",
		    rec);
		pf_remedy(r,
		    "fallocate -l 2G /swapfile && chmod 600 /swapfile && "
		    "mkswap /swapfile && swapon /swapfile && echo "
		    "'/swapfile none swap sw 0 0' >> /etc/fstab");
	} else
		pf_status(r, PREFLIGHT_NOTE,
		    "no swap; with this much memory that is a choice, not a "
		    "problem");
	free(s);
out:
	free(rec);
}

static int
pf_read_u64(struct host *h, const char *path, uint64_t *v)
{
	char *line, *end;
	int rc = -1;

	if ((line = host_read_line(h, path)) == NULL)
		return -1;
	*v = strtoull(line, &end, 10);
	if (end != line)
		rc = 0;
	free(line);
	return rc;
}

void
pf_check_limits_nofile(struct preflight_ctx *ctx, struct preflight_result *r)
{
	uint64_t nr_open, file_max;

	pf_required(r, "fs.nr_open >= %llu, fs.file-max >= %llu",
	    PF_NOFILE_UNITS, PF_FILE_MAX_MIN);
	if (pf_read_u64(ctx->host, "/proc/sys/fs/nr_open", &nr_open) == -1 ||
	    pf_read_u64(ctx->host, "/proc/sys/fs/file-max", &file_max) == -1) {
		pf_status(r, PREFLIGHT_SKIP,
		    "cannot read '/proc/sys/fs/nr_open' and "
		    "'/proc/sys/fs/file-max'");
		return;
	}
	pf_measured(r, "fs.nr_open %llu, fs.file-max %llu",
	    (unsigned long long)nr_open, (unsigned long long)file_max);
	pf_data(r, "nr_open", json_integer((json_int_t)nr_open));
	pf_data(r, "file_max", json_integer((json_int_t)file_max));
	if (nr_open < PF_NOFILE_UNITS || file_max < PF_FILE_MAX_MIN) {
		pf_status(r, PREFLIGHT_WARN,
		    "the kernel caps open files below what the services ask "
		    "for (LimitNOFILE=%llu): MariaDB and RabbitMQ refuse "
		    "connections when they run out",
		    PF_NOFILE_UNITS);
		pf_remedy(r,
		    "printf 'fs.nr_open = 1048576\\nfs.file-max = 1000000\\n' "
		    "> /etc/sysctl.d/60-chatstack.conf && sysctl --system");
		return;
	}
	pf_status(r, PREFLIGHT_PASS,
	    "the kernel allows the open files the services ask for");
}
