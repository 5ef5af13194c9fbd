/*
 * The real install steps and the plan that orders them (step-*.c,
 * engine-plan.c). engine.h is the machinery; this is what it installs.
 */
#ifndef STEPS_H
#define STEPS_H

#include "buf.h"
#include "engine.h"

#define CHATSTACK_PREFIX "/opt/chatstack"
#define CHATSTACK_ETC "/etc/chatstack"
#define CHATSTACK_REPO ENGINE_STATE_DIR "/repo"
#define CHATSTACK_ANSWERS CHATSTACK_ETC "/answers.yaml"
/*
 * The ACME webroot nginx serves /.well-known/acme-challenge/ from: not
 * under ENGINE_STATE_DIR, which is 0700 and closed to nginx's workers.
 */
#define CHATSTACK_ACME_WEBROOT "/var/lib/chatstack-acme"

/* Secret names under /etc/chatstack/secrets. */
#define SECRET_MARIADB "mariadb-chatd"
#define SECRET_REDIS "redis-chatd"
#define SECRET_RABBITMQ "rabbitmq-chatd"
#define SECRET_COOKIE "erlang-cookie"
#define SECRET_SESSION "chatd-session-key"

/* Options of a plan, from the command line. */
struct plan_opts {
	const char *release; /* release folder (bundles/, templates/) */
	int skip_verify; /* no end-to-end check */
	int online; /* packages from the host's apt sources (development) */
	const char *answers_path; /* saved as the effective answers */
};

/* Builds the ordered install plan into e (engine-plan.c). */
int plan_build(struct engine *, const struct plan_opts *, char **cause);
/* Builds the uninstall plan; purge also removes data and packages. */
int plan_build_uninstall(struct engine *, int purge, char **cause);

/* Template variables (engine-vars.c). */
int engine_vars(struct engine *, char **cause);
void engine_vars_refresh(struct engine *);

/* Generic steps (step-files.c). */
struct step *step_add_render(struct engine *, const char *id,
    const char *template, const char *dest, mode_t mode, const char *owner,
    const char *group, const char *unit, json_t *extra);
/* A path that must be gone; tree: a directory and all it holds. */
struct step *step_add_remove(struct engine *, const char *id, const char *path,
    const char *unit, int tree);
struct step *step_add_copy(struct engine *, const char *id, const char *src,
    const char *dest, mode_t mode);
struct step *step_add_directory(struct engine *, const char *id,
    const char *path, mode_t mode, const char *owner, const char *group);

/* System steps (step-system.c). */
struct step *step_add_secrets(struct engine *);
/* online: the host's apt sources instead of the bundles (development). */
struct step *step_add_packages(
    struct engine *, const char *const *names, int online);
struct step *step_add_reload(struct engine *);
/* What a run killed inside apt left (step-system.c), and its repair. */
int step_dpkg_debris(struct engine *, struct step *);
int step_dpkg_recover(struct engine *, char **cause);
/* Waits, bounded, until no other process holds dpkg's locks. */
int step_dpkg_wait(struct engine *, struct step *, char **cause);
/* Marks every component as chatstack's own, for preflight. */
void step_pkgs_mark_owned(struct engine *);
/* Enables and starts unit, restarting it when its config changed. */
struct step *step_add_service(
    struct engine *, const char *unit, int reload, const char *const *test);
/* Appends the unit's last journal lines to *cause. */
void step_journal_tail(const char *unit, char **cause);

/* Backends (step-backends.c). */
#define RABBITMQ_COOKIE "/var/lib/rabbitmq/.erlang.cookie"
struct step *step_add_mariadb_secure(struct engine *);
struct step *step_add_rabbitmq_guest(struct engine *);
struct step *step_add_rabbitmq_cookie(struct engine *);
/*
 * A health gate: "mariadb-root", "mariadb", "redis", "rabbitmq", "chatd"
 * (instance >= 1). unit is whose journal a timeout shows.
 */
struct step *step_add_gate(
    struct engine *, const char *name, const char *unit, int instance);
int step_sql(const char *sql, struct buf *out, char **cause);
/* The uid or gid of a name, or -1 when there is none (yet). */
uid_t step_uid(const char *);
gid_t step_gid(const char *);

/* The end-to-end check (step-verify.c). */
struct step *step_add_e2e(struct engine *);
/* Runs it against host:port through 127.0.0.1; -1 with *cause set. */
int e2e_run(struct engine *, const char *host, int port, char **cause);

/* Steps joining other parts (step-release.c). */
struct step *step_add_preflight(struct engine *);
/* Verifies the release's bundles and installs them (step-bundles.c). */
struct step *step_add_bundles(struct engine *, const char *release);
struct step *step_add_chatd_release(struct engine *, const char *release);
/* chatstack and its lib/ under /opt/chatstack/<version>. */
struct step *step_add_chatstack_release(struct engine *, const char *release);
struct step *step_add_tls(struct engine *);
/* Where nginx publishes the local CA (selfsigned), over HTTP and HTTPS. */
#define STEP_TLS_CA_PATH "/chatstack-ca.crt"
/* The renewal timer and its service (templates/certs/). */
#define STEP_RENEW_TIMER "chatstack-renew.timer"
#define STEP_RENEW_SERVICE "chatstack-renew.service"
/* The certificate, for the install's summary; NULL when there is none. */
json_t *step_tls_summary(struct engine *);

/* Probes one service once: the gates' probes (step-backends.c). */
int step_probe(struct engine *, const char *name, int instance, char **cause);
/* Stops and disables a unit (uninstall). */
struct step *step_add_service_stop(struct engine *, const char *unit);
/* Removes packages chatstack added (uninstall); purge: their data too. */
struct step *step_add_packages_remove(
    struct engine *, const char *const *names, int purge);

/* Runs a program; returns 0 when it exited 0, else -1 with *cause. */
int step_run(char *const argv[], const char *input, size_t inputlen,
    int timeout_ms, struct buf *out, char **cause);

#endif
