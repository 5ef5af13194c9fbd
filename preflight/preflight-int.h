/* What the check files share; not for callers outside preflight/. */
#ifndef PREFLIGHT_INT_H
#define PREFLIGHT_INT_H

#include <stdint.h>

#include "../installer/answers.h"
#include "host.h"
#include "preflight.h"

/* The numbers a profile asks for (docs/preflight.md says why). */
struct preflight_limits {
	const char *name;
	unsigned cores_min;
	unsigned cores_rec;
	uint64_t memory_min;
	uint64_t memory_rec;
	uint64_t disk_min; /* free bytes on each data filesystem */
	uint64_t disk_rec;
	uint64_t inodes_min;
	uint64_t inodes_rec;
};

struct preflight_ctx {
	struct host *host;
	const struct answers *answers;
	const struct preflight_limits *limits;
	const struct preflight_opts *opts;
	unsigned owned; /* PREFLIGHT_OWN_* */
};

/* Sets the status and the message. */
void pf_status(struct preflight_result *, enum preflight_status, const char *,
    ...) __attribute__((format(printf, 3, 4)));
void pf_measured(struct preflight_result *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void pf_required(struct preflight_result *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void pf_remedy(struct preflight_result *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets data[key] (the result's data object is created on demand). */
void pf_data(struct preflight_result *, const char *, json_t *);
/* "15.6 GiB", "420 GB": binary units for memory, decimal for disks. */
char *pf_bytes_binary(uint64_t);
char *pf_bytes_decimal(uint64_t);
char *pf_count(uint64_t);

/* check-resources.c */
void pf_check_cpu_cores(struct preflight_ctx *, struct preflight_result *);
void pf_check_memory_total(struct preflight_ctx *, struct preflight_result *);
void pf_check_disk_free(struct preflight_ctx *, struct preflight_result *);
void pf_check_disk_inodes(struct preflight_ctx *, struct preflight_result *);
void pf_check_swap(struct preflight_ctx *, struct preflight_result *);
void pf_check_limits_nofile(struct preflight_ctx *, struct preflight_result *);
/* check-os.c */
void pf_check_privileges(struct preflight_ctx *, struct preflight_result *);
void pf_check_os_distro(struct preflight_ctx *, struct preflight_result *);
void pf_check_os_arch(struct preflight_ctx *, struct preflight_result *);
void pf_check_os_kernel(struct preflight_ctx *, struct preflight_result *);
void pf_check_systemd_pid1(struct preflight_ctx *, struct preflight_result *);
void pf_check_security_mac(struct preflight_ctx *, struct preflight_result *);
void pf_check_tmp_noexec(struct preflight_ctx *, struct preflight_result *);
/* check-ports.c */
void pf_check_ports_free(struct preflight_ctx *, struct preflight_result *);
void pf_check_existing_services(
    struct preflight_ctx *, struct preflight_result *);
/* check-net.c */
void pf_check_time_sync(struct preflight_ctx *, struct preflight_result *);
void pf_check_hostname_resolves(
    struct preflight_ctx *, struct preflight_result *);

/* The data paths of the answers, defaults filled in; NULL-ended. */
struct preflight_path {
	const char *what;
	const char *path;
};
size_t pf_data_paths(const struct answers *, struct preflight_path *, size_t);

#endif
