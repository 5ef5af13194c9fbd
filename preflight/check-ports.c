/*
 * ports.free and existing.services: what already runs here that the
 * services chatstack installs would collide with.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "preflight-int.h"
#include "xmalloc.h"

#define PF_MAX_PORTS 64

struct pf_port {
	char answer[48]; /* the answer that sets it */
	unsigned own; /* PREFLIGHT_OWN_* of the component */
	const char *const *procs; /* its programs, when chatstack owns it */
	int port;
	int wildcard; /* binds every address (nginx) */
};

static const char *const pf_procs_mariadb[] = {"mariadbd", "mysqld", NULL};
static const char *const pf_procs_redis[] = {"redis-server", NULL};
static const char *const pf_procs_rabbitmq[] = {"beam.smp", NULL};
/* Debian socket-activates epmd: pid 1 holds its socket first. */
static const char *const pf_procs_epmd[] = {"epmd", "systemd", NULL};
static const char *const pf_procs_nginx[] = {"nginx", NULL};
static const char *const pf_procs_chatd[] = {"chatd", NULL};

static const struct pf_service {
	const char *name;
	unsigned own;
	const char *unit;
	const char *packages[6];
	const char *const *procs;
} pf_services[] = {
    {"MariaDB/MySQL", PREFLIGHT_OWN_MARIADB, "mariadb",
	{"mariadb-server", "mariadb-server-core", "mysql-server",
	    "default-mysql-server", NULL},
	pf_procs_mariadb},
    {"Redis", PREFLIGHT_OWN_REDIS, "redis-server", {"redis-server", NULL},
	pf_procs_redis},
    {"RabbitMQ", PREFLIGHT_OWN_RABBITMQ, "rabbitmq-server",
	{"rabbitmq-server", NULL}, pf_procs_rabbitmq},
    {"nginx", PREFLIGHT_OWN_NGINX, "nginx",
	{"nginx", "nginx-core", "nginx-light", "nginx-full", "nginx-extras",
	    NULL},
	pf_procs_nginx},
};
#define PF_NSERVICES (sizeof pf_services / sizeof pf_services[0])

static void
pf_port_add(struct pf_port *list, size_t *n, const char *answer, unsigned own,
    const char *const *procs, int port, int wildcard)
{
	struct pf_port *p;

	if (port <= 0 || *n == PF_MAX_PORTS)
		return;
	p = &list[(*n)++];
	snprintf(p->answer, sizeof p->answer, "%s", answer);
	p->own = own;
	p->procs = procs;
	p->port = port;
	p->wildcard = wildcard;
}

/* Every port the answers make a service listen on. */
static size_t
pf_ports(const struct answers *a, struct pf_port *list)
{
	char name[48];
	size_t n = 0;
	int i;

	pf_port_add(list, &n, "components.mariadb.port", PREFLIGHT_OWN_MARIADB,
	    pf_procs_mariadb, a->mariadb.port, 0);
	pf_port_add(list, &n, "components.redis.port", PREFLIGHT_OWN_REDIS,
	    pf_procs_redis, a->redis.port, 0);
	pf_port_add(list, &n, "components.rabbitmq.port",
	    PREFLIGHT_OWN_RABBITMQ, pf_procs_rabbitmq, a->rabbitmq.port, 0);
	pf_port_add(list, &n, "components.rabbitmq.dist_port",
	    PREFLIGHT_OWN_RABBITMQ, pf_procs_rabbitmq, a->rabbitmq.dist_port,
	    0);
	pf_port_add(list, &n, "components.rabbitmq.epmd_port",
	    PREFLIGHT_OWN_RABBITMQ, pf_procs_epmd, a->rabbitmq.epmd_port, 0);
	for (i = 0; i < a->chatd.instances && i < 32; i++) {
		if (i == 0)
			snprintf(name, sizeof name, "components.chatd.port");
		else
			snprintf(
			    name, sizeof name, "components.chatd.port+%d", i);
		pf_port_add(list, &n, name, PREFLIGHT_OWN_CHATD, pf_procs_chatd,
		    a->chatd.port + i, 0);
	}
	pf_port_add(list, &n, "components.nginx.http_port", PREFLIGHT_OWN_NGINX,
	    pf_procs_nginx, a->nginx.http_port, 1);
	pf_port_add(list, &n, "components.nginx.https_port",
	    PREFLIGHT_OWN_NGINX, pf_procs_nginx, a->nginx.https_port, 1);
	return n;
}

static int
pf_is_zero(const uint8_t *a, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (a[i] != 0)
			return 0;
	}
	return 1;
}

/* The bind address as parsed: family 0 means every address. */
struct pf_bind {
	int family;
	uint8_t addr[16];
};

static void
pf_bind_parse(const char *s, struct pf_bind *b)
{
	memset(b, 0, sizeof b[0]);
	if (s == NULL)
		return;
	if (inet_pton(AF_INET, s, b->addr) == 1)
		b->family = pf_is_zero(b->addr, 4) ? 0 : AF_INET;
	else if (inet_pton(AF_INET6, s, b->addr) == 1)
		b->family = pf_is_zero(b->addr, 16) ? 0 : AF_INET6;
}

/*
 * Would binding b collide with listener l? A wildcard on either side
 * collides with everything on the port, except that an IPv6 wildcard
 * known to be IPV6_V6ONLY leaves IPv4 alone.
 * XXX when that is unknown (fixture roots, /proc/net/tcp6) an IPv6
 * wildcard counts as dual-stack: a false alarm is cheaper than a failed
 * start.
 */
static int
pf_collides(const struct pf_bind *b, const struct host_listener *l)
{
	static const uint8_t mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (b->family == 0)
		return 1;
	if (l->family == AF_INET && pf_is_zero(l->addr, 4))
		return 1;
	if (l->family == AF_INET6 && pf_is_zero(l->addr, 16))
		return b->family != AF_INET || l->v6only != 1;
	if (b->family == l->family)
		return memcmp(b->addr, l->addr,
			   b->family == AF_INET ? 4 : 16) == 0;
	if (b->family == AF_INET && memcmp(l->addr, mapped, 12) == 0)
		return memcmp(b->addr, l->addr + 12, 4) == 0;
	return 0;
}

static int
pf_proc_listed(const char *const *procs, const char *name)
{
	for (; procs != NULL && *procs != NULL; procs++) {
		if (strcmp(*procs, name) == 0)
			return 1;
	}
	return 0;
}

/* Is the bind address one this host has (so a bind can succeed)? */
static int
pf_bind_is_local(struct host *h, const struct pf_bind *b)
{
	struct host_addr *addrs;
	size_t n, i;
	int found = 0;

	if (b->family == 0 || (b->family == AF_INET && b->addr[0] == 127))
		return 1;
	host_local_addrs(h, &addrs, &n);
	for (i = 0; i < n && !found; i++) {
		found = addrs[i].family == b->family &&
		    memcmp(addrs[i].addr, b->addr,
			b->family == AF_INET ? 4 : 16) == 0;
	}
	free(addrs);
	return found;
}

void
pf_check_ports_free(struct preflight_ctx *ctx, struct preflight_result *r)
{
	const struct answers *a = ctx->answers;
	struct pf_port ports[PF_MAX_PORTS];
	struct host_listener *ls = NULL;
	struct pf_bind bind, any, *b;
	struct buf need = BUF_INIT, held = BUF_INIT, fix = BUF_INIT;
	struct buf short_held = BUF_INIT;
	const struct pf_port *p;
	char *cause = NULL, *name, *names[PF_MAX_PORTS], addr[64];
	uint64_t inodes[PF_MAX_PORTS];
	int pids[PF_MAX_PORTS];
	size_t hit[PF_MAX_PORTS];
	const char *bind_text;
	size_t nports, nls = 0, i, j, k, nhit = 0, nheld = 0, nowned = 0;
	json_t *list, *item;
	int pid, first = 1, ok;

	bind_text = a->bind_address != NULL ? a->bind_address : "127.0.0.1";
	pf_bind_parse(bind_text, &bind);
	memset(&any, 0, sizeof any);
	nports = pf_ports(a, ports);

	for (i = 0; i < nports; i++) {
		if (ports[i].wildcard)
			continue;
		buf_printf(
		    &need, "%s%d", need.len > 0 ? ", " : "", ports[i].port);
	}
	buf_printf(&need, " on %s", bind_text);
	for (i = 0; i < nports; i++) {
		if (!ports[i].wildcard)
			continue;
		buf_printf(&need, "%s%d", first ? "; " : ", ", ports[i].port);
		first = 0;
	}
	if (!first)
		buf_adds(&need, " on every address");
	pf_required(r, "free: %s", need.data);

	if (!pf_bind_is_local(ctx->host, &bind)) {
		pf_measured(r, "%s is not an address of this host", bind_text);
		pf_status(r, PREFLIGHT_FAIL,
		    "bind_address %s is not an address of this host, so no "
		    "backend could listen on it",
		    bind_text);
		pf_remedy(r,
		    "set bind_address to one of the addresses 'ip -brief "
		    "address' shows (127.0.0.1 on a single node)");
		goto out;
	}
	if (host_listeners(ctx->host, &ls, &nls, &cause) == -1) {
		pf_status(r, PREFLIGHT_WARN,
		    "cannot list listening sockets: %s", cause);
		goto out;
	}

	/* Which listener each port collides with (nls: none). */
	for (i = 0; i < nports; i++) {
		b = ports[i].wildcard ? &any : &bind;
		for (j = 0; j < nls; j++) {
			if (ls[j].port == ports[i].port &&
			    pf_collides(b, &ls[j]))
				break;
		}
		hit[i] = j;
		if (j < nls)
			inodes[nhit++] = ls[j].inode;
	}
	host_socket_owners(ctx->host, inodes, nhit, pids, names);

	list = json_array();
	for (i = 0, k = 0; i < nports; i++) {
		p = &ports[i];
		item = json_pack("{s:i, s:s, s:s}", "port", p->port, "address",
		    p->wildcard ? "*" : bind_text, "answer", p->answer);
		if ((j = hit[i]) == nls) {
			json_object_set_new(item, "free", json_true());
			json_array_append_new(list, item);
			continue;
		}
		pid = pids[k];
		name = names[k++];
		host_addr_string(ls[j].family, ls[j].addr, addr, sizeof addr);
		json_object_set_new(item, "free", json_false());
		json_object_set_new(item, "held_on", json_string(addr));
		if (pid > 0) {
			json_object_set_new(item, "pid", json_integer(pid));
			json_object_set_new(item, "process", json_string(name));
		}
		ok = pid > 0 && (ctx->owned & p->own) != 0 &&
		    pf_proc_listed(p->procs, name);
		json_object_set_new(item, "owned", json_boolean(ok));
		json_array_append_new(list, item);
		if (ok) {
			nowned++;
			continue;
		}
		nheld++;
		buf_printf(&short_held, "%s%d by %s",
		    short_held.len > 0 ? ", " : "", p->port,
		    pid > 0 ? name : "?");
		if (pid > 0) {
			buf_printf(&held, "%s%d/tcp is held by %s (pid %d)",
			    held.len > 0 ? "; " : "", p->port, name, pid);
			if (fix.len == 0)
				buf_printf(&fix,
				    "stop %s (pid %d; 'ss -ltnp sport = :%d' "
				    "shows it), or choose another port for "
				    "%s in the answers",
				    name, pid, p->port, p->answer);
		} else {
			buf_printf(&held,
			    "%s%d/tcp is held by a process this user cannot "
			    "see",
			    held.len > 0 ? "; " : "", p->port);
			if (fix.len == 0)
				buf_printf(&fix,
				    "run preflight as root to name it "
				    "('ss -ltnp sport = :%d'), then stop it "
				    "or choose another port for %s",
				    p->port, p->answer);
		}
	}
	pf_data(r, "ports", list);
	if (nheld == 0 && nowned > 0) {
		pf_measured(r, "%zu free, %zu held by chatstack's own services",
		    nports - nowned, nowned);
		pf_status(r, PREFLIGHT_PASS,
		    "every port is free or held by the service chatstack "
		    "installed for it (%zu)",
		    nowned);
		goto out;
	}
	if (nheld == 0) {
		pf_measured(r, "all %zu free", nports);
		pf_status(r, PREFLIGHT_PASS, "all %zu ports are free", nports);
		goto out;
	}
	pf_measured(r, "%zu held: %s", nheld, short_held.data);
	pf_status(r, PREFLIGHT_FAIL, "%s", held.data);
	pf_remedy(r, "%s", fix.data);
out:
	for (i = 0; i < nhit; i++)
		free(names[i]);
	free(ls);
	free(cause);
	buf_free(&need);
	buf_free(&held);
	buf_free(&short_held);
	buf_free(&fix);
}

struct pf_running {
	int pid[PF_NSERVICES];
	char name[PF_NSERVICES][64];
};

static int
pf_running_cb(int pid, const char *comm, void *arg)
{
	struct pf_running *run = arg;
	size_t i;

	for (i = 0; i < PF_NSERVICES; i++) {
		if (run->pid[i] == 0 &&
		    pf_proc_listed(pf_services[i].procs, comm)) {
			run->pid[i] = pid;
			snprintf(run->name[i], sizeof run->name[i], "%s", comm);
		}
	}
	return 0;
}

void
pf_check_existing_services(
    struct preflight_ctx *ctx, struct preflight_result *r)
{
	struct buf msg = BUF_INIT, fix = BUF_INIT, measured = BUF_INIT;
	struct buf purge = BUF_INIT;
	struct host_packages *pkgs;
	struct pf_running run;
	const struct pf_service *s;
	const char *pkg;
	json_t *list, *item, *installed;
	int worst = PREFLIGHT_PASS;
	size_t i, j;

	pf_required(r, "none, or only what chatstack installed");
	memset(&run, 0, sizeof run);
	pkgs = host_packages_load(ctx->host);
	host_each_process(ctx->host, pf_running_cb, &run);

	list = json_array();
	for (i = 0; i < PF_NSERVICES; i++) {
		s = &pf_services[i];
		installed = json_array();
		pkg = NULL;
		for (j = 0; s->packages[j] != NULL; j++) {
			if (!host_package_installed(pkgs, s->packages[j]))
				continue;
			json_array_append_new(
			    installed, json_string(s->packages[j]));
			if (pkg == NULL)
				pkg = s->packages[j];
		}
		item = json_pack("{s:s, s:o, s:b}", "service", s->name,
		    "packages", installed, "owned", (ctx->owned & s->own) != 0);
		if (run.pid[i] != 0)
			json_object_set_new(item, "running",
			    json_pack("{s:i, s:s}", "pid", run.pid[i],
				"process", run.name[i]));
		json_array_append_new(list, item);
		if ((ctx->owned & s->own) != 0 ||
		    (pkg == NULL && run.pid[i] == 0))
			continue;

		if (run.pid[i] != 0) {
			worst = PREFLIGHT_FAIL;
			buf_printf(&msg,
			    "%s%s runs (%s, pid %d) and was not installed by "
			    "chatstack",
			    msg.len > 0 ? "; " : "", s->name, run.name[i],
			    run.pid[i]);
			buf_printf(&measured, "%s%s running (pid %d)",
			    measured.len > 0 ? ", " : "", run.name[i],
			    run.pid[i]);
			buf_printf(&fix, "%ssystemctl disable --now %s",
			    fix.len > 0 ? "; " : "", s->unit);
		} else {
			if (worst < PREFLIGHT_WARN)
				worst = PREFLIGHT_WARN;
			buf_printf(&msg,
			    "%s%s is installed (package %s) but not by "
			    "chatstack",
			    msg.len > 0 ? "; " : "", s->name, pkg);
		}
		if (pkg != NULL) {
			buf_printf(&measured, "%s%s installed",
			    measured.len > 0 ? ", " : "", pkg);
			buf_printf(&purge, " %s", pkg);
		}
	}
	if (purge.len > 0)
		buf_printf(&fix,
		    "%sapt-get purge%s (save any data you need first)",
		    fix.len > 0 ? "; " : "", purge.data);
	pf_data(r, "services", list);
	if (worst == PREFLIGHT_PASS) {
		pf_measured(r, "none");
		pf_status(r, PREFLIGHT_PASS,
		    "no MariaDB, Redis, RabbitMQ or nginx that chatstack did "
		    "not install");
	} else {
		pf_measured(r, "%s", measured.data);
		pf_status(r, (enum preflight_status)worst, "%s", msg.data);
		pf_remedy(r, "%s", fix.data);
	}
	host_packages_free(pkgs);
	buf_free(&msg);
	buf_free(&fix);
	buf_free(&measured);
	buf_free(&purge);
}
