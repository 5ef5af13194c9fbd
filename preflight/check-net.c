/* time.sync and hostname.resolves: the clock and the name TLS relies on. */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "preflight-int.h"
#include "xmalloc.h"

/* An estimated error above this is worth a warning (TLS needs seconds). */
#define PF_CLOCK_ESTERROR_MAX_US 1000000LL
#define PF_RESOLVE_TIMEOUT_MS 3000

static const char *const pf_time_daemons[] = {"systemd-timesyncd",
    "systemd-timesyn", /* comm cut at 15 characters, no cmdline */
    "chronyd", "ntpd", "openntpd", NULL};

static int
pf_time_daemon_cb(int pid, const char *comm, void *arg)
{
	char *found = arg;
	size_t i;

	(void)pid;
	for (i = 0; pf_time_daemons[i] != NULL; i++) {
		if (strcmp(comm, pf_time_daemons[i]) == 0) {
			snprintf(found, 32, "%s",
			    i <= 1 ? "systemd-timesyncd" : comm);
			return 1;
		}
	}
	return 0;
}

/*
 * XXX the kernel's state and estimated error only: measuring the offset
 * needs a time server, which an air-gapped host may not have.
 */
void
pf_check_time_sync(struct preflight_ctx *ctx, struct preflight_result *r)
{
	struct host_clock clock;
	char daemon[32] = "", *cause = NULL;
	int synced, le;

	le = ctx->answers->tls.mode == TLS_MODE_LETSENCRYPT;
	pf_required(r, "synchronised by systemd-timesyncd or chrony");
	host_each_process(ctx->host, pf_time_daemon_cb, daemon);
	if (host_clock(ctx->host, &clock, &cause) == -1) {
		pf_status(r, PREFLIGHT_WARN, "%s", cause);
		free(cause);
		return;
	}
	/* timesyncd marks a synchronisation it made with this file. */
	synced = clock.synced ||
	    host_exists(ctx->host, "/run/systemd/timesync/synchronized");
	pf_data(r, "synchronized", json_boolean(synced));
	pf_data(r, "service",
	    daemon[0] != '\0' ? json_string(daemon) : json_null());
	if (clock.esterror_us >= 0)
		pf_data(r, "esterror_us", json_integer(clock.esterror_us));

	if (synced && clock.esterror_us > PF_CLOCK_ESTERROR_MAX_US) {
		pf_measured(r, "synchronised, estimated error %.1f s",
		    (double)clock.esterror_us / 1e6);
		pf_status(r, PREFLIGHT_WARN,
		    "the clock is synchronised but its estimated error is "
		    "%.1f s",
		    (double)clock.esterror_us / 1e6);
		pf_remedy(r,
		    "check the time source: chronyc tracking, or "
		    "timedatectl timesync-status");
	} else if (synced) {
		if (clock.esterror_us >= 0)
			pf_measured(r, "synchronised, estimated error %.1f ms",
			    (double)clock.esterror_us / 1e3);
		else
			pf_measured(r, "synchronised");
		pf_status(r, PREFLIGHT_PASS, "the clock is synchronised%s%s",
		    daemon[0] != '\0' ? " by " : "", daemon);
	} else if (daemon[0] != '\0') {
		pf_measured(r, "not synchronised; %s runs", daemon);
		pf_status(r, PREFLIGHT_WARN,
		    "the clock is not synchronised yet, although %s runs: "
		    "a clock off by minutes breaks TLS",
		    daemon);
		pf_remedy(r,
		    "check that %s reaches a time server: "
		    "timedatectl timesync-status, or chronyc sources",
		    daemon);
	} else {
		pf_measured(r, "not synchronised; no time service runs");
		pf_status(r, le ? PREFLIGHT_FAIL : PREFLIGHT_WARN,
		    "the clock is not synchronised and no time service runs: "
		    "a clock off by minutes breaks TLS%s",
		    le ? ", and Let's Encrypt certificates are renewed by it"
		       : "");
		pf_remedy(r,
		    "apt-get install systemd-timesyncd && timedatectl "
		    "set-ntp true (without internet: chrony pointed at a "
		    "local time server)");
	}
}

void
pf_check_hostname_resolves(
    struct preflight_ctx *ctx, struct preflight_result *r)
{
	const struct answers *a = ctx->answers;
	struct host_addr *addrs = NULL, *local = NULL;
	struct buf list = BUF_INIT;
	char *cause = NULL, text[64];
	size_t n = 0, nlocal = 0, i, j;
	int mine = 0, le, timeout, rc;
	json_t *jaddrs;

	le = a->tls.mode == TLS_MODE_LETSENCRYPT;
	if (a->hostname == NULL || a->hostname[0] == '\0') {
		pf_status(r, PREFLIGHT_SKIP, "the answers name no hostname");
		return;
	}
	pf_required(
	    r, le ? "resolves, to an address of this host" : "resolves");
	pf_data(r, "hostname", json_string(a->hostname));
	timeout = ctx->opts->resolve_timeout_ms > 0
	    ? ctx->opts->resolve_timeout_ms
	    : PF_RESOLVE_TIMEOUT_MS;
	rc = host_resolve(ctx->host, a->hostname, ctx->opts->network, timeout,
	    &addrs, &n, &cause);
	if (rc == -1) {
		pf_measured(r, "look-up failed");
		pf_status(r, PREFLIGHT_WARN, "%s", cause);
		pf_remedy(r,
		    "check /etc/resolv.conf, or add '%s' to "
		    "/etc/hosts",
		    a->hostname);
		goto out;
	}
	if (n == 0 && !ctx->opts->network && host_is_live(ctx->host)) {
		pf_measured(r, "not in /etc/hosts; DNS not asked");
		pf_status(r, PREFLIGHT_SKIP,
		    "'%s' is not in /etc/hosts, and DNS was not asked "
		    "(offline)",
		    a->hostname);
		goto out;
	}
	if (n == 0) {
		pf_measured(r, "does not resolve");
		pf_status(r, PREFLIGHT_FAIL,
		    "'%s' does not resolve: clients cannot reach the chat "
		    "site%s",
		    a->hostname,
		    le ? " and Let's Encrypt cannot validate it" : "");
		pf_remedy(r,
		    "publish an A or AAAA record for '%s'; for a lab, "
		    "echo 'ADDRESS %s' >> /etc/hosts",
		    a->hostname, a->hostname);
		goto out;
	}

	jaddrs = json_array();
	host_local_addrs(ctx->host, &local, &nlocal);
	for (i = 0; i < n; i++) {
		host_addr_string(
		    addrs[i].family, addrs[i].addr, text, sizeof text);
		json_array_append_new(jaddrs, json_string(text));
		buf_printf(&list, "%s%s", list.len > 0 ? ", " : "", text);
		for (j = 0; j < nlocal; j++) {
			if (local[j].family == addrs[i].family &&
			    memcmp(local[j].addr, addrs[i].addr,
				addrs[i].family == AF_INET ? 4 : 16) == 0)
				mine = 1;
		}
	}
	pf_data(r, "addresses", jaddrs);
	pf_data(r, "local", json_boolean(mine));
	pf_measured(r, "%s", list.data);
	if (le && !mine) {
		pf_status(r, PREFLIGHT_WARN,
		    "'%s' resolves to %s, not an address of this host: "
		    "Let's Encrypt validates over port 80 at that address, "
		    "which works only if it forwards here",
		    a->hostname, list.data);
		pf_remedy(r,
		    "point '%s' at this host, or make sure %s forwards "
		    "port 80 here",
		    a->hostname, list.data);
	} else
		pf_status(r, PREFLIGHT_PASS, "'%s' resolves to %s%s",
		    a->hostname, list.data, mine ? " (this host)" : "");
out:
	free(addrs);
	free(local);
	free(cause);
	buf_free(&list);
}
