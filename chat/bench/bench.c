/*
 * chat-bench: load generator for chatd. See usage() and
 * docs/web-client.md ("chat-bench").
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bench.h"
#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#define MAX_USERS 100000
#define MAX_SOCKETS 200000
#define MAX_SECONDS 3600.0

static const char *mode_names[] = {"idle", "direct", "group"};

static const char *usage_lines[] = {
    "usage: chat-bench --url http://127.0.0.1:PORT [options]",
    "",
    "Load generator for chatd. Registers USERS new users through the",
    "REST API, makes them friends (pairs in direct mode; groups of",
    "GROUP_SIZE with the first as owner in group mode), opens SOCKETS",
    "WebSockets per user, then sends RATE messages per second in total,",
    "round-robin over the users, for DURATION seconds. Every message is",
    "tracked until each socket that should get it did; after sending it",
    "waits up to DRAIN seconds for the rest, then reports and exits.",
    "It only talks to loopback addresses (127.0.0.0/8, ::1) and refuses",
    "any other.",
    "",
    "  -u, --url URL             chatd, or nginx in front of it; http only",
    "  -m, --mode MODE           idle, direct or group (default direct)",
    "  -n, --users N             users to register (default 100)",
    "  -k, --sockets-per-user K  sockets per user (default 1)",
    "  -g, --group-size G        members per group, owner included",
    "                            (default 10; group mode)",
    "  -r, --rate R              sends per second, all users (default 100)",
    "  -d, --duration S          seconds of sending (default 10)",
    "      --hold S              idle mode: seconds to hold the sockets",
    "                            (default 10)",
    "      --drain S             seconds to wait for late deliveries",
    "                            (default 10)",
    "      --connect-rate R      new sockets per second (default 2000)",
    "      --http-parallel N     setup requests in flight (default 8)",
    "      --watch-pid PID       report the peak RSS of PID (chatd) while",
    "                            the sockets are open",
    "      --json                print the report as one JSON object",
    "  -v, --verbose             log every socket and error frame problem",
    "  -h, --help                this text",
    "",
    "Usernames are bench<tag>-<n> with a random tag per run, so runs",
    "never collide; the users stay in chatd's database afterwards.",
    "chatd's rate limits apply: a benchmark needs register_rate above",
    "USERS per minute and send_rate above RATE/USERS per user, or it",
    "reports rate_limited.",
    "",
    "Figures: sends/s counts acked sends (committed in MariaDB) over the",
    "sending time plus the drain; deliveries/s counts pushes received",
    "over the same time. Latency, as p50, p95, p99 and max, runs from",
    "writing the send to receiving the push (delivery) or the ack (ack).",
    "Deliveries owed by acked messages that never arrived count as lost.",
    "",
    "Exit status: 0 when every acked message reached every socket and",
    "nothing failed, 1 otherwise, 2 for a usage error.",
};

static void
usage(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof usage_lines / sizeof usage_lines[0]; i++)
		fprintf(f, "%s\n", usage_lines[i]);
}

uint64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
bench_lat_add(struct bench_lat *l, uint32_t us)
{
	if (l->n == l->size) {
		l->size = l->size == 0 ? 4096 : l->size * 2;
		l->v = xreallocarray(l->v, l->size, sizeof *l->v);
	}
	l->v[l->n++] = us;
}

static int
lat_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile p (0-100) in milliseconds; the array must be sorted. */
static double
lat_pct(struct bench_lat *l, double p)
{
	size_t i;

	if (l->n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (l->n - 1) + 0.5);
	return l->v[i] / 1000.0;
}

uint64_t
bench_rss_kb(int pid)
{
	char path[64], line[256];
	uint64_t kb = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtoull(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* A new message record for user u; its number goes to *n. */
struct bench_msg *
bench_msg_new(struct bench_user *u, uint32_t *n)
{
	if (u->nmsgs == u->msgs_size) {
		u->msgs_size = u->msgs_size == 0 ? 256 : u->msgs_size * 2;
		u->msgs = xreallocarray(u->msgs, u->msgs_size, sizeof *u->msgs);
	}
	*n = u->nmsgs;
	memset(&u->msgs[u->nmsgs], 0, sizeof *u->msgs);
	return &u->msgs[u->nmsgs++];
}

/* The record of client_msg_id "b<user>.<n>", or NULL if it is not ours. */
struct bench_msg *
bench_msg_find(struct bench *b, const char *id, int *user)
{
	unsigned long u, n;
	char *end;

	if (id[0] != 'b')
		return NULL;
	errno = 0;
	u = strtoul(id + 1, &end, 10);
	if (errno != 0 || *end != '.' || u >= (unsigned long)b->nusers)
		return NULL;
	n = strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || n >= b->users[u].nmsgs)
		return NULL;
	*user = (int)u;
	return &b->users[u].msgs[n];
}

static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;

	if (sa->sa_family == AF_INET) {
		in4 = (const struct sockaddr_in *)sa;
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		in6 = (const struct sockaddr_in6 *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

/*
 * Parses http://HOST:PORT[/] and keeps it only if every address HOST
 * resolves to is a loopback one; HOST becomes the first such address.
 */
static int
parse_url(struct bench_opts *o, char **cause)
{
	struct addrinfo hints, *res = NULL, *ai;
	char *host = NULL, *p, *end, num[INET6_ADDRSTRLEN];
	const char *rest;
	long port;
	int rc = -1, error;

	if (strncmp(o->url, "http://", 7) != 0) {
		*cause = xasprintf("url '%s' must start with http://", o->url);
		goto out;
	}
	rest = o->url + 7;
	if (*rest == '[') {
		if ((p = strchr(rest, ']')) == NULL) {
			*cause = xasprintf("url '%s' has no closing ]", o->url);
			goto out;
		}
		host = xstrndup(rest + 1, p - rest - 1);
		rest = p + 1;
	} else {
		p = strpbrk(rest, ":/");
		host = p == NULL ? xstrdup(rest) : xstrndup(rest, p - rest);
		rest = p == NULL ? "" : p;
	}
	port = 80;
	if (*rest == ':') {
		errno = 0;
		port = strtol(rest + 1, &end, 10);
		if (errno != 0 || end == rest + 1 || port < 1 || port > 65535 ||
		    (*end != '\0' && *end != '/')) {
			*cause = xasprintf("url '%s' has a bad port", o->url);
			goto out;
		}
		rest = end;
	}
	if (*rest != '\0' && strcmp(rest, "/") != 0) {
		*cause = xasprintf("url '%s' must have no path", o->url);
		goto out;
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		*cause = xasprintf(
		    "cannot resolve '%s': %s", host, gai_strerror(error));
		goto out;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (!is_loopback(ai->ai_addr)) {
			*cause = xasprintf("'%s' is not a loopback address; "
					   "chat-bench only loads 127.0.0.0/8 "
					   "and ::1",
			    host);
			goto out;
		}
	}
	error = getnameinfo(res->ai_addr, res->ai_addrlen, num, sizeof num,
	    NULL, 0, NI_NUMERICHOST);
	if (error != 0) {
		*cause = xasprintf(
		    "cannot print '%s': %s", host, gai_strerror(error));
		goto out;
	}
	o->host = xstrdup(num);
	o->port = (int)port;
	rc = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	return rc;
}

static int
opt_num(const char *name, const char *arg, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || *v < lo || *v > hi) {
		fprintf(stderr,
		    "chat-bench: %s '%s' must be a number from "
		    "%g to %g\n",
		    name, arg, lo, hi);
		return -1;
	}
	return 0;
}

static int
parse_args(struct bench_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"mode", required_argument, NULL, 'm'},
	    {"users", required_argument, NULL, 'n'},
	    {"sockets-per-user", required_argument, NULL, 'k'},
	    {"group-size", required_argument, NULL, 'g'},
	    {"rate", required_argument, NULL, 'r'},
	    {"duration", required_argument, NULL, 'd'},
	    {"hold", required_argument, NULL, 'H'},
	    {"drain", required_argument, NULL, 'D'},
	    {"connect-rate", required_argument, NULL, 'C'},
	    {"http-parallel", required_argument, NULL, 'P'},
	    {"watch-pid", required_argument, NULL, 'W'},
	    {"json", no_argument, NULL, 'J'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	double v;
	int ch, i;

	o->mode = BENCH_DIRECT;
	o->users = 100;
	o->sockets_per_user = 1;
	o->group_size = 10;
	o->rate = 100;
	o->duration = 10;
	o->hold = 10;
	o->drain = 10;
	o->connect_rate = 2000;
	o->http_parallel = 8;

	while ((ch = getopt_long(
		    argc, argv, "u:m:n:k:g:r:d:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o->url = optarg;
			break;
		case 'm':
			for (i = 0; i < 3; i++) {
				if (strcmp(optarg, mode_names[i]) == 0)
					break;
			}
			if (i == 3) {
				fprintf(stderr,
				    "chat-bench: mode '%s' must be "
				    "idle, direct or group\n",
				    optarg);
				return -1;
			}
			o->mode = i;
			break;
		case 'n':
			if (opt_num("users", optarg, 2, MAX_USERS, &v) != 0)
				return -1;
			o->users = (int)v;
			break;
		case 'k':
			if (opt_num("sockets-per-user", optarg, 1, 1000, &v) !=
			    0)
				return -1;
			o->sockets_per_user = (int)v;
			break;
		case 'g':
			if (opt_num("group-size", optarg, 2, 500, &v) != 0)
				return -1;
			o->group_size = (int)v;
			break;
		case 'r':
			if (opt_num("rate", optarg, 0.1, 1e6, &o->rate) != 0)
				return -1;
			break;
		case 'd':
			if (opt_num("duration", optarg, 0.1, MAX_SECONDS,
				&o->duration) != 0)
				return -1;
			break;
		case 'H':
			if (opt_num("hold", optarg, 0, MAX_SECONDS, &o->hold) !=
			    0)
				return -1;
			break;
		case 'D':
			if (opt_num("drain", optarg, 0, 600, &o->drain) != 0)
				return -1;
			break;
		case 'C':
			if (opt_num("connect-rate", optarg, 1, 1e6,
				&o->connect_rate) != 0)
				return -1;
			break;
		case 'P':
			if (opt_num("http-parallel", optarg, 1, 256, &v) != 0)
				return -1;
			o->http_parallel = (int)v;
			break;
		case 'W':
			if (opt_num("watch-pid", optarg, 1, 1 << 30, &v) != 0)
				return -1;
			o->watch_pid = (int)v;
			break;
		case 'J':
			o->json = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chat-bench: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	if (o->url == NULL) {
		fprintf(stderr, "chat-bench: --url is required\n");
		return -1;
	}
	if (o->mode == BENCH_DIRECT && o->users % 2 != 0) {
		fprintf(stderr,
		    "chat-bench: direct mode pairs users; --users "
		    "must be even\n");
		return -1;
	}
	if (o->mode == BENCH_GROUP && o->users % o->group_size != 0) {
		fprintf(stderr,
		    "chat-bench: --users must be a multiple of "
		    "--group-size\n");
		return -1;
	}
	if ((long)o->users * o->sockets_per_user > MAX_SOCKETS) {
		fprintf(
		    stderr, "chat-bench: at most %d sockets\n", MAX_SOCKETS);
		return -1;
	}
	return 0;
}

/* Sockets need file descriptors: raise the soft limit to the hard one. */
static void
raise_nofile(int need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < (rlim_t)need + 64)
		log_warn("open file limit %llu is below the %d sockets asked "
			 "for; raise ulimit -n",
		    (unsigned long long)rl.rlim_cur, need);
}

static void
make_users(struct bench *b)
{
	unsigned char rnd[20];
	int i;

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		log_error("cannot read random bytes");
		exit(1);
	}
	snprintf(b->tag, sizeof b->tag, "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
	for (i = 0; i < 16; i++)
		snprintf(b->password + 2 * i, 3, "%02x", rnd[4 + i]);
	b->nusers = b->opts.users;
	b->users = xcalloc(b->nusers, sizeof *b->users);
	for (i = 0; i < b->nusers; i++)
		b->users[i].username = xasprintf("bench%s-%d", b->tag, i);
}

static void
report(struct bench *b, int failed_run)
{
	struct bench_stats *st = &b->stats;
	struct bench_user *u;
	struct bench_msg *m;
	uint64_t lost = 0, unacked = 0, expected = 0;
	double t;
	uint32_t j;
	int i;
	json_t *o;
	char *s;

	for (i = 0; i < b->nusers; i++) {
		u = &b->users[i];
		for (j = 0; j < u->nmsgs; j++) {
			m = &u->msgs[j];
			if (m->acked) {
				expected += m->expected;
				if (m->received < m->expected)
					lost += m->expected - m->received;
			} else if (!m->failed)
				unacked++;
		}
	}
	qsort(st->delivery.v, st->delivery.n, sizeof(uint32_t), lat_cmp);
	qsort(st->ack.v, st->ack.n, sizeof(uint32_t), lat_cmp);
	t = st->send_seconds + st->drain_seconds;
	if (t <= 0)
		t = 1;

	if (b->opts.json) {
		o = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:I, s:I, s:I, "
			      "s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, "
			      "s:I, s:I, s:I, s:I, s:f, s:f, s:f}",
		    "mode", mode_names[b->opts.mode], "users", b->nusers,
		    "sockets_per_user", b->opts.sockets_per_user, "group_size",
		    b->opts.mode == BENCH_GROUP ? b->opts.group_size : 0,
		    "rate", b->opts.rate, "send_seconds", st->send_seconds,
		    "sockets_open", (json_int_t)st->sockets_open,
		    "sockets_failed", (json_int_t)st->sockets_failed,
		    "sockets_dropped", (json_int_t)st->sockets_dropped,
		    "connect_seconds", st->connect_seconds, "sends",
		    (json_int_t)st->sends, "acks", (json_int_t)st->acks,
		    "send_errors", (json_int_t)st->send_errors, "rate_limited",
		    (json_int_t)st->rate_limited, "unacked",
		    (json_int_t)unacked, "deliveries",
		    (json_int_t)st->deliveries, "expected_deliveries",
		    (json_int_t)expected, "drain_seconds", st->drain_seconds,
		    "lost", (json_int_t)lost, "duplicates",
		    (json_int_t)st->duplicates, "unknown",
		    (json_int_t)st->unknown, "frame_errors",
		    (json_int_t)st->frame_errors, "sends_per_second",
		    st->acks / t, "deliveries_per_second", st->deliveries / t,
		    "elapsed_seconds", t);
		json_object_set_new(o, "delivery_ms",
		    json_pack("{s:f, s:f, s:f, s:f}", "p50",
			lat_pct(&st->delivery, 50), "p95",
			lat_pct(&st->delivery, 95), "p99",
			lat_pct(&st->delivery, 99), "max",
			lat_pct(&st->delivery, 100)));
		json_object_set_new(o, "ack_ms",
		    json_pack("{s:f, s:f, s:f, s:f}", "p50",
			lat_pct(&st->ack, 50), "p95", lat_pct(&st->ack, 95),
			"p99", lat_pct(&st->ack, 99), "max",
			lat_pct(&st->ack, 100)));
		if (b->opts.watch_pid > 0) {
			json_object_set_new(o, "rss_idle_kb",
			    json_integer((json_int_t)st->rss_idle_kb));
			json_object_set_new(o, "rss_peak_kb",
			    json_integer((json_int_t)st->rss_peak_kb));
		}
		json_object_set_new(o, "ok", json_boolean(!failed_run));
		s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
		printf("%s\n", s);
		free(s);
		json_decref(o);
		return;
	}

	printf("chat-bench: %s, %d users x %d sockets",
	    mode_names[b->opts.mode], b->nusers, b->opts.sockets_per_user);
	if (b->opts.mode == BENCH_GROUP)
		printf(", groups of %d", b->opts.group_size);
	if (b->opts.mode != BENCH_IDLE)
		printf(", %.0f sends/s asked for %.1f s", b->opts.rate,
		    b->opts.duration);
	printf("\n");
	printf("  sockets     %" PRIu64 " open, %" PRIu64 " failed, %" PRIu64
	       " dropped (connected in %.1f s)\n",
	    st->sockets_open, st->sockets_failed, st->sockets_dropped,
	    st->connect_seconds);
	if (b->opts.watch_pid > 0)
		printf("  rss         pid %d: %.1f MB before, %.1f MB peak\n",
		    b->opts.watch_pid, st->rss_idle_kb / 1024.0,
		    st->rss_peak_kb / 1024.0);
	if (b->opts.mode == BENCH_IDLE)
		return;
	printf("  sends       %" PRIu64 " acked of %" PRIu64
	       " (%.0f/s), %" PRIu64 " errors, %" PRIu64
	       " rate-limited, %" PRIu64 " unacked\n",
	    st->acks, st->sends, st->acks / t, st->send_errors,
	    st->rate_limited, unacked);
	printf("  deliveries  %" PRIu64 " of %" PRIu64 " (%.0f/s), %" PRIu64
	       " lost, %" PRIu64 " duplicates, %" PRIu64 " unknown\n",
	    st->deliveries, expected, st->deliveries / t, lost, st->duplicates,
	    st->unknown);
	printf("  delivery    p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms\n",
	    lat_pct(&st->delivery, 50), lat_pct(&st->delivery, 95),
	    lat_pct(&st->delivery, 99), lat_pct(&st->delivery, 100));
	printf("  ack         p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms\n",
	    lat_pct(&st->ack, 50), lat_pct(&st->ack, 95), lat_pct(&st->ack, 99),
	    lat_pct(&st->ack, 100));
	printf("  time        %.1f s sending, %.1f s draining\n",
	    st->send_seconds, st->drain_seconds);
}

static int
run_ok(struct bench *b)
{
	struct bench_stats *st = &b->stats;
	struct bench_user *u;
	uint32_t j;
	int i;

	if (st->sockets_failed || st->sockets_dropped || st->send_errors ||
	    st->rate_limited || st->frame_errors)
		return 0;
	for (i = 0; i < b->nusers; i++) {
		u = &b->users[i];
		for (j = 0; j < u->nmsgs; j++) {
			if (!u->msgs[j].acked ||
			    u->msgs[j].received < u->msgs[j].expected)
				return 0;
		}
	}
	return 1;
}

int
main(int argc, char **argv)
{
	struct bench b;
	char *cause = NULL;
	int rc = 1, i;

	log_init("chat-bench");
	memset(&b, 0, sizeof b);
	if (parse_args(&b.opts, argc, argv) != 0)
		return 2;
	if (parse_url(&b.opts, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		return 2;
	}
	if (b.opts.verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	raise_nofile(b.opts.users * b.opts.sockets_per_user);
	make_users(&b);
	if (b.opts.watch_pid > 0)
		b.stats.rss_idle_kb = bench_rss_kb(b.opts.watch_pid);

	if (bench_http_setup(&b, &cause) != 0 ||
	    bench_ws_run(&b, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		report(&b, 1);
		goto out;
	}
	rc = run_ok(&b) ? 0 : 1;
	report(&b, rc != 0);
out:
	for (i = 0; i < b.nusers; i++) {
		free(b.users[i].username);
		if (b.users[i].token != NULL) {
			explicit_bzero(
			    b.users[i].token, strlen(b.users[i].token));
			free(b.users[i].token);
		}
		free(b.users[i].msgs);
	}
	free(b.users);
	for (i = 0; i < b.nconvs; i++)
		free(b.convs[i].members);
	free(b.convs);
	free(b.stats.delivery.v);
	free(b.stats.ack.v);
	free(b.opts.host);
	explicit_bzero(b.password, sizeof b.password);
	return rc;
}
