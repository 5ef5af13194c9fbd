/*
 * Checks of the operating system: distribution, architecture, kernel,
 * init system, privileges, mandatory access control and /tmp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preflight-int.h"
#include "xmalloc.h"

/* The release is built per distribution and architecture. */
static const struct {
	const char *id;
	const char *version_id;
	const char *name;
} pf_distros[] = {
    {"debian", "12", "Debian 12 (bookworm)"},
};

#if defined(__x86_64__)
#define PF_ARCH "x86_64"
#elif defined(__aarch64__)
#define PF_ARCH "aarch64"
#else
#define PF_ARCH "unknown"
#endif

/* Below the error line systemd 252 misbehaves; below the warning line
 * the kernel is older than any Debian 11 or 12 ships. */
#define PF_KERNEL_MIN_MAJOR 4
#define PF_KERNEL_MIN_MINOR 19
#define PF_KERNEL_REC_MAJOR 5
#define PF_KERNEL_REC_MINOR 10

void
pf_check_privileges(struct preflight_ctx *ctx, struct preflight_result *r)
{
	char *cause = NULL;
	unsigned uid;

	pf_required(r, "uid 0 (root)");
	if (host_euid(ctx->host, &uid, &cause) == -1) {
		pf_status(r, PREFLIGHT_WARN, "%s", cause);
		free(cause);
		return;
	}
	pf_measured(r, "uid %u", uid);
	pf_data(r, "euid", json_integer(uid));
	if (uid == 0) {
		pf_status(r, PREFLIGHT_PASS, "running as root");
		return;
	}
	pf_status(r, PREFLIGHT_FAIL,
	    "running as uid %u: installing packages and services needs "
	    "root",
	    uid);
	pf_remedy(r, "run it as root: sudo chatstack ...");
}

void
pf_check_os_distro(struct preflight_ctx *ctx, struct preflight_result *r)
{
	char *id, *version, *pretty;
	size_t i;

	pf_required(r, "%s", pf_distros[0].name);
	id = host_os_release(ctx->host, "ID");
	version = host_os_release(ctx->host, "VERSION_ID");
	pretty = host_os_release(ctx->host, "PRETTY_NAME");
	if (id == NULL) {
		pf_status(r, PREFLIGHT_FAIL,
		    "no '/etc/os-release' (or it names no ID): cannot tell "
		    "which distribution this is");
		pf_remedy(r, "install on %s", pf_distros[0].name);
		goto out;
	}
	pf_measured(r, "%s", pretty != NULL ? pretty : id);
	pf_data(r, "id", json_string(id));
	pf_data(r, "version_id",
	    version != NULL ? json_string(version) : json_null());
	if (pretty != NULL)
		pf_data(r, "pretty_name", json_string(pretty));
	for (i = 0; i < sizeof pf_distros / sizeof pf_distros[0]; i++) {
		if (strcmp(id, pf_distros[i].id) == 0 && version != NULL &&
		    strcmp(version, pf_distros[i].version_id) == 0) {
			pf_status(r, PREFLIGHT_PASS, "%s",
			    pretty != NULL ? pretty : pf_distros[i].name);
			goto out;
		}
	}
	pf_status(r, PREFLIGHT_FAIL,
	    "'%s' is not supported: this release of chatstack is built for "
	    "%s, and its bundles hold that distribution's packages",
	    pretty != NULL ? pretty : id, pf_distros[0].name);
	pf_remedy(r,
	    "install on %s, or use the chatstack release built for this "
	    "distribution if there is one",
	    pf_distros[0].name);
out:
	free(id);
	free(version);
	free(pretty);
}

void
pf_check_os_arch(struct preflight_ctx *ctx, struct preflight_result *r)
{
	char *arch;

	pf_required(r, "%s", PF_ARCH);
	if ((arch = host_arch(ctx->host)) == NULL) {
		pf_status(r, PREFLIGHT_WARN,
		    "cannot tell the machine architecture: no "
		    "'/proc/sys/kernel/arch'");
		return;
	}
	pf_measured(r, "%s", arch);
	pf_data(r, "arch", json_string(arch));
	if (strcmp(arch, PF_ARCH) == 0)
		pf_status(r, PREFLIGHT_PASS, "%s", arch);
	else {
		pf_status(r, PREFLIGHT_FAIL,
		    "this machine is %s, but this release and its bundles "
		    "are built for %s",
		    arch, PF_ARCH);
		pf_remedy(r, "use the chatstack release built for %s", arch);
	}
	free(arch);
}

void
pf_check_os_kernel(struct preflight_ctx *ctx, struct preflight_result *r)
{
	char *release;
	int major = 0, minor = 0;

	pf_required(r, "%d.%d or newer, %d.%d recommended", PF_KERNEL_MIN_MAJOR,
	    PF_KERNEL_MIN_MINOR, PF_KERNEL_REC_MAJOR, PF_KERNEL_REC_MINOR);
	release = host_read_line(ctx->host, "/proc/sys/kernel/osrelease");
	if (release == NULL || sscanf(release, "%d.%d", &major, &minor) != 2) {
		pf_status(r, PREFLIGHT_WARN,
		    "cannot read the kernel version from "
		    "'/proc/sys/kernel/osrelease'");
		free(release);
		return;
	}
	pf_measured(r, "%s", release);
	pf_data(r, "release", json_string(release));
	if (major < PF_KERNEL_MIN_MAJOR ||
	    (major == PF_KERNEL_MIN_MAJOR && minor < PF_KERNEL_MIN_MINOR)) {
		pf_status(r, PREFLIGHT_FAIL,
		    "kernel %s is older than %d.%d, which systemd and the "
		    "services of Debian 12 need",
		    release, PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR);
		pf_remedy(r,
		    "apt-get install linux-image-$(dpkg --print-architecture), "
		    "then reboot");
	} else if (major < PF_KERNEL_REC_MAJOR ||
	    (major == PF_KERNEL_REC_MAJOR && minor < PF_KERNEL_REC_MINOR)) {
		pf_status(r, PREFLIGHT_WARN,
		    "kernel %s is older than any Debian 11 or 12 ships "
		    "(Debian 12: 6.1); it should work but is not tested",
		    release);
		pf_remedy(r,
		    "apt-get install linux-image-$(dpkg --print-architecture), "
		    "then reboot");
	} else
		pf_status(r, PREFLIGHT_PASS, "kernel %s", release);
	free(release);
}

void
pf_check_systemd_pid1(struct preflight_ctx *ctx, struct preflight_result *r)
{
	char *comm;
	int booted;

	pf_required(r, "systemd as PID 1");
	comm = host_read_line(ctx->host, "/proc/1/comm");
	booted = host_exists(ctx->host, "/run/systemd/system");
	pf_measured(r, "PID 1 is %s", comm != NULL ? comm : "unknown");
	pf_data(r, "pid1", comm != NULL ? json_string(comm) : json_null());
	pf_data(r, "booted", json_boolean(booted));
	if (comm != NULL && strcmp(comm, "systemd") == 0 && booted)
		pf_status(r, PREFLIGHT_PASS, "systemd is the init system");
	else {
		pf_status(r, PREFLIGHT_FAIL,
		    "PID 1 is '%s', not systemd: chatstack runs every "
		    "service as a systemd unit",
		    comm != NULL ? comm : "unknown");
		pf_remedy(r,
		    "install on a host booted with systemd (apt-get install "
		    "systemd-sysv, then reboot)");
	}
	free(comm);
}

void
pf_check_security_mac(struct preflight_ctx *ctx, struct preflight_result *r)
{
	struct preflight_path paths[8];
	char *enforce, *apparmor;
	int custom = 0;
	size_t i, n;

	pf_required(r, "SELinux not enforcing");
	enforce = host_read_line(ctx->host, "/sys/fs/selinux/enforce");
	apparmor = host_read_line(
	    ctx->host, "/sys/module/apparmor/parameters/enabled");
	n = pf_data_paths(ctx->answers, paths, 8);
	for (i = 0; i < 3 && i < n; i++) {
		if (strncmp(paths[i].path, "/var/lib/", 9) != 0)
			custom = 1;
	}
	pf_data(r, "selinux",
	    json_string(enforce == NULL		? "disabled"
		    : strcmp(enforce, "1") == 0 ? "enforcing"
						: "permissive"));
	pf_data(r, "apparmor",
	    json_boolean(apparmor != NULL && strcmp(apparmor, "Y") == 0));
	pf_measured(r, "SELinux %s, AppArmor %s",
	    enforce == NULL		    ? "disabled"
		: strcmp(enforce, "1") == 0 ? "enforcing"
					    : "permissive",
	    apparmor != NULL && strcmp(apparmor, "Y") == 0 ? "enabled"
							   : "disabled");
	if (enforce != NULL && strcmp(enforce, "1") == 0) {
		pf_status(r, PREFLIGHT_WARN,
		    "SELinux is enforcing: Debian has no policy for chatd or "
		    "for data paths it does not expect, so services may be "
		    "denied in ways that look like random failures");
		pf_remedy(r,
		    "setenforce 0, and SELINUX=permissive in "
		    "/etc/selinux/config");
	} else if (apparmor != NULL && strcmp(apparmor, "Y") == 0 && custom) {
		pf_status(r, PREFLIGHT_WARN,
		    "AppArmor is enabled and a data_dir is outside /var/lib: "
		    "an enforcing profile for mariadbd or redis-server would "
		    "deny it");
		pf_remedy(r,
		    "aa-status; add the data paths to "
		    "/etc/apparmor.d/local/ for any enforcing profile");
	} else if (apparmor != NULL && strcmp(apparmor, "Y") == 0)
		pf_status(r, PREFLIGHT_NOTE,
		    "AppArmor is enabled; the default data paths are what "
		    "Debian's profiles expect");
	else if (enforce != NULL)
		pf_status(r, PREFLIGHT_NOTE, "SELinux is permissive");
	else
		pf_status(r, PREFLIGHT_PASS, "no SELinux or AppArmor");
	free(enforce);
	free(apparmor);
}

void
pf_check_tmp_noexec(struct preflight_ctx *ctx, struct preflight_result *r)
{
	char *mnt = NULL, *opts = NULL, *o, *save = NULL, *copy;
	int noexec = 0;

	pf_required(r, "/tmp mounted without noexec");
	if (host_mount_for(ctx->host, "/tmp", &mnt, &opts) == -1) {
		pf_status(r, PREFLIGHT_SKIP,
		    "cannot find the mount of /tmp in '/proc/self/mounts'");
		return;
	}
	copy = xstrdup(opts);
	for (o = strtok_r(copy, ",", &save); o != NULL;
	     o = strtok_r(NULL, ",", &save)) {
		if (strcmp(o, "noexec") == 0)
			noexec = 1;
	}
	free(copy);
	pf_measured(r, "%s (on %s)", noexec ? "noexec" : "exec allowed", mnt);
	pf_data(r, "mountpoint", json_string(mnt));
	pf_data(r, "noexec", json_boolean(noexec));
	if (noexec) {
		pf_status(r, PREFLIGHT_WARN,
		    "/tmp is mounted noexec (on %s): debconf runs package "
		    "configuration scripts from /tmp, so package installs "
		    "fail",
		    mnt);
		pf_remedy(r, "mount -o remount,exec %s for the install", mnt);
	} else
		pf_status(r, PREFLIGHT_PASS, "/tmp allows executables");
	free(mnt);
	free(opts);
}
