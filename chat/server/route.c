/*
 * Delivery: which sockets of which users this instance holds, where the
 * other users are (Redis: chatd:where:<uid> is a hash of instance ->
 * socket count), and fan-out to other instances over RabbitMQ. Presence
 * is a per-user socket counter (chatd:online:<uid>) across instances.
 *
 * Redis keys:
 *   chatd:where:<uid>   hash instance -> sockets of uid there
 *   chatd:inst:<inst>   hash uid -> sockets, so a restarted instance can
 *                       take back what it held before it died
 *   chatd:online:<uid>  sockets of uid on all instances
 *   chatd:rl:<what>:<address>  rate limit windows (store.c)
 */

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <hiredis/adapters/libuv.h>
#pragma GCC diagnostic pop

#include "chatd.h"
#include "log.h"
#include "xmalloc.h"

#define USER_BUCKETS 4096

struct uentry {
	int64_t uid;
	struct client *clients;
	int n;
	struct bucket bucket;
	struct uentry *next;
};

static struct uentry *users[USER_BUCKETS];
static redisAsyncContext *rac;
static int rac_ready;
static uv_timer_t reconnect_timer;
static char *redis_password;
static int stopping;

static __thread redisContext *tls_redis;

static struct uentry *
uentry_find(int64_t uid, int create)
{
	struct uentry *e, **pp = &users[(uint64_t)uid % USER_BUCKETS];

	for (e = *pp; e != NULL; e = e->next) {
		if (e->uid == uid)
			return e;
	}
	if (!create)
		return NULL;
	e = xcalloc(1, sizeof *e);
	e->uid = uid;
	e->next = *pp;
	*pp = e;
	return e;
}

static void
uentry_remove(struct uentry *gone)
{
	struct uentry **pp = &users[(uint64_t)gone->uid % USER_BUCKETS];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			free(gone);
			return;
		}
	}
}

static void route_connect(void);

static void
reconnect_cb(uv_timer_t *t)
{
	(void)t;
	if (!stopping && rac == NULL)
		route_connect();
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK) {
		log_warn("cannot connect to redis: %s", ac->errstr);
		rac = NULL;
		rac_ready = 0;
		if (!stopping)
			uv_timer_start(&reconnect_timer, reconnect_cb, 1000, 0);
		return;
	}
	rac_ready = 1;
}

static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK)
		log_warn("lost redis: %s", ac->errstr);
	rac = NULL;
	rac_ready = 0;
	if (!stopping)
		uv_timer_start(&reconnect_timer, reconnect_cb, 1000, 0);
}

static void
route_connect(void)
{
	rac = redisAsyncConnect(cfg.redis_host, cfg.redis_port);
	if (rac == NULL || rac->err) {
		if (rac != NULL)
			redisAsyncFree(rac);
		rac = NULL;
		uv_timer_start(&reconnect_timer, reconnect_cb, 1000, 0);
		return;
	}
	redisLibuvAttach(rac, loop);
	redisAsyncSetConnectCallback(rac, connect_cb);
	redisAsyncSetDisconnectCallback(rac, disconnect_cb);
	if (redis_password != NULL && *redis_password != '\0') {
		if (cfg.redis_user != NULL && *cfg.redis_user != '\0')
			redisAsyncCommand(rac, NULL, NULL, "AUTH %s %s",
			    cfg.redis_user, redis_password);
		else
			redisAsyncCommand(
			    rac, NULL, NULL, "AUTH %s", redis_password);
	}
}

int
route_redis_ok(void)
{
	return rac != NULL && rac_ready;
}

static redisContext *
redis_sync_connect(void)
{
	struct timeval tv = {1, 0};
	redisContext *rc;
	redisReply *r;

	rc = redisConnectWithTimeout(cfg.redis_host, cfg.redis_port, tv);
	if (rc == NULL || rc->err) {
		if (rc != NULL)
			redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	if (redis_password != NULL && *redis_password != '\0') {
		if (cfg.redis_user != NULL && *cfg.redis_user != '\0')
			r = redisCommand(
			    rc, "AUTH %s %s", cfg.redis_user, redis_password);
		else
			r = redisCommand(rc, "AUTH %s", redis_password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			if (r != NULL)
				freeReplyObject(r);
			redisFree(rc);
			return NULL;
		}
		freeReplyObject(r);
	}
	return rc;
}

redisContext *
route_redis_sync(void)
{
	if (tls_redis != NULL && tls_redis->err) {
		redisFree(tls_redis);
		tls_redis = NULL;
	}
	if (tls_redis == NULL)
		tls_redis = redis_sync_connect();
	return tls_redis;
}

/*
 * Takes back the sockets a previous run of this instance left counted
 * (after a crash), so presence and routing do not point at ghosts.
 */
void
route_cleanup_stale(const char *password)
{
	redisContext *rc;
	redisReply *r, *x;
	size_t i;
	long long n;

	redis_password = password != NULL ? xstrdup(password) : NULL;
	if ((rc = redis_sync_connect()) == NULL) {
		log_warn("redis is unreachable; stale presence not cleared");
		return;
	}
	r = redisCommand(rc, "HGETALL chatd:inst:%s", cfg.instance_id);
	if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i + 1 < r->elements; i += 2) {
			n = atoll(r->element[i + 1]->str);
			if (n <= 0)
				continue;
			x = redisCommand(rc, "HINCRBY chatd:where:%s %s %lld",
			    r->element[i]->str, cfg.instance_id, -n);
			if (x != NULL)
				freeReplyObject(x);
			x = redisCommand(rc, "HDEL chatd:where:%s %s",
			    r->element[i]->str, cfg.instance_id);
			if (x != NULL)
				freeReplyObject(x);
			x = redisCommand(rc, "DECRBY chatd:online:%s %lld",
			    r->element[i]->str, n);
			if (x != NULL)
				freeReplyObject(x);
		}
		if (r->elements > 0)
			log_info("cleared %zu stale users of instance %s",
			    r->elements / 2, cfg.instance_id);
	}
	if (r != NULL)
		freeReplyObject(r);
	r = redisCommand(rc, "DEL chatd:inst:%s", cfg.instance_id);
	if (r != NULL)
		freeReplyObject(r);
	redisFree(rc);
}

int
route_init(const char *password, char **cause)
{
	(void)cause;
	if (redis_password == NULL && password != NULL)
		redis_password = xstrdup(password);
	uv_timer_init(loop, &reconnect_timer);
	route_connect();
	return 0;
}

void
route_stop(void)
{
	stopping = 1;
	uv_timer_stop(&reconnect_timer);
	uv_close((uv_handle_t *)&reconnect_timer, NULL);
	if (rac != NULL)
		redisAsyncDisconnect(rac);
	rac = NULL;
}

static void
presence_done(struct op *op)
{
	struct delivery *d;

	for (d = op->deliveries; d != NULL; d = d->next)
		route_deliver(d, NULL);
	op_free(op);
}

static void
presence_queue(int64_t uid, int online)
{
	struct op *op;

	if (shutting_down && online)
		return;
	op = xcalloc(1, sizeof *op);
	op->id = OP_PRESENCE;
	op->uid = uid;
	op->online = online;
	op_queue(op, presence_done);
}

static void
online_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	int64_t uid = (int64_t)(intptr_t)priv;

	(void)ac;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
		return;
	if (reply->integer == 1)
		presence_queue(uid, 1);
}

static void
offline_cb(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	int64_t uid = (int64_t)(intptr_t)priv;

	(void)ac;
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
		return;
	if (reply->integer <= 0) {
		if (rac != NULL)
			redisAsyncCommand(rac, NULL, NULL,
			    "DEL chatd:online:%lld", (long long)uid);
		presence_queue(uid, 0);
	}
}

void
route_attach(struct client *c)
{
	struct uentry *e = uentry_find(client_uid(c), 1);
	long long uid = (long long)e->uid;

	client_set_next_of_user(c, e->clients);
	e->clients = c;
	e->n++;
	if (rac == NULL) {
		if (e->n == 1)
			presence_queue(e->uid, 1);
		return;
	}
	redisAsyncCommand(rac, NULL, NULL, "HINCRBY chatd:where:%lld %s 1", uid,
	    cfg.instance_id);
	redisAsyncCommand(rac, NULL, NULL, "HINCRBY chatd:inst:%s %lld 1",
	    cfg.instance_id, uid);
	redisAsyncCommand(rac, online_cb, (void *)(intptr_t)e->uid,
	    "INCR chatd:online:%lld", uid);
}

void
route_detach(struct client *c)
{
	struct uentry *e = uentry_find(client_uid(c), 0);
	struct client *cur, *prev = NULL;
	long long uid = (long long)client_uid(c);
	int last;

	if (e == NULL)
		return;
	for (cur = e->clients; cur != NULL;
	     prev = cur, cur = client_next_of_user(cur)) {
		if (cur != c)
			continue;
		if (prev != NULL)
			client_set_next_of_user(prev, client_next_of_user(c));
		else
			e->clients = client_next_of_user(c);
		e->n--;
		break;
	}
	client_set_next_of_user(c, NULL);
	last = e->n <= 0;
	if (last)
		uentry_remove(e);
	if (rac == NULL) {
		if (last)
			presence_queue(uid, 0);
		return;
	}
	redisAsyncCommand(rac, NULL, NULL, "HINCRBY chatd:where:%lld %s -1",
	    uid, cfg.instance_id);
	redisAsyncCommand(rac, NULL, NULL, "HINCRBY chatd:inst:%s %lld -1",
	    cfg.instance_id, uid);
	redisAsyncCommand(rac, offline_cb, (void *)(intptr_t)uid,
	    "DECR chatd:online:%lld", uid);
}

/* XXX counted per instance: a user on two instances gets twice the rate. */
int
route_rate_take(int64_t uid, uint64_t *retry_ms)
{
	struct uentry *e = uentry_find(uid, 0);

	if (e == NULL)
		return 0;
	return bucket_take(
	    &e->bucket, cfg.send_rate, cfg.send_burst, now_ms(), retry_ms);
}

/* Pushes text to the local sockets of uid. */
static void
deliver_local(int64_t uid, const char *text, size_t len, struct client *skip)
{
	struct uentry *e = uentry_find(uid, 0);
	struct client *c, *next;

	if (e == NULL)
		return;
	for (c = e->clients; c != NULL; c = next) {
		next = client_next_of_user(c);
		if (c == skip)
			continue;
		if (client_push(c, text, len) == 0)
			metrics.pushes++;
	}
}

/* One fan-out waiting for the Redis lookups of its users. */
struct batch {
	char *text;
	size_t len;
	struct binst {
		char *instance;
		struct buf ids;
	} * insts;
	size_t ninsts;
};

static void
batch_add(struct batch *b, const char *instance, int64_t uid)
{
	size_t i;

	for (i = 0; i < b->ninsts; i++) {
		if (strcmp(b->insts[i].instance, instance) == 0)
			break;
	}
	if (i == b->ninsts) {
		b->insts =
		    xreallocarray(b->insts, b->ninsts + 1, sizeof *b->insts);
		b->insts[i].instance = xstrdup(instance);
		buf_init(&b->insts[i].ids);
		b->ninsts++;
	}
	if (b->insts[i].ids.len > 0)
		buf_addc(&b->insts[i].ids, ',');
	buf_printf(&b->insts[i].ids, "%lld", (long long)uid);
}

static void
batch_finish(struct batch *b)
{
	struct buf msg;
	size_t i;

	for (i = 0; i < b->ninsts; i++) {
		buf_init(&msg);
		buf_add(&msg, b->insts[i].ids.data, b->insts[i].ids.len);
		buf_addc(&msg, '\n');
		buf_add(&msg, b->text, b->len);
		amqp_publish(b->insts[i].instance, msg.data, msg.len);
		metrics.remote_out++;
		buf_free(&msg);
		buf_free(&b->insts[i].ids);
		free(b->insts[i].instance);
	}
	free(b->insts);
	free(b->text);
	free(b);
}

/* One Redis round trip for all the users of a delivery. */
static const char where_script[] =
    "local r = {} for i = 1, #KEYS do "
    "r[i] = redis.call('HGETALL', KEYS[i]) end return r";

struct lookup {
	struct batch *b;
	int64_t *uids;
	size_t n;
};

static void
where_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct lookup *l = priv;
	redisReply *reply = r, *h;
	size_t i, j;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < reply->elements && i < l->n; i++) {
			h = reply->element[i];
			if (h->type != REDIS_REPLY_ARRAY)
				continue;
			for (j = 0; j + 1 < h->elements; j += 2) {
				if (h->element[j]->type != REDIS_REPLY_STRING ||
				    h->element[j + 1]->type !=
					REDIS_REPLY_STRING ||
				    strcmp(h->element[j]->str,
					cfg.instance_id) == 0 ||
				    atoll(h->element[j + 1]->str) <= 0)
					continue;
				batch_add(l->b, h->element[j]->str, l->uids[i]);
			}
		}
	}
	batch_finish(l->b);
	free(l->uids);
	free(l);
}

/* Publishes text to the other instances holding any of uids. */
static void
remote_deliver(const char *text, size_t len, const int64_t *uids, size_t n)
{
	struct lookup *l;
	const char **argv;
	size_t *argvlen, i, argc;
	char **keys, nkeys[24];

	if (rac == NULL || !rac_ready || n == 0)
		return;
	l = xcalloc(1, sizeof *l);
	l->b = xcalloc(1, sizeof *l->b);
	l->b->text = xmalloc(len + 1);
	memcpy(l->b->text, text, len);
	l->b->text[len] = '\0';
	l->b->len = len;
	l->uids = xcalloc(n, sizeof *l->uids);
	memcpy(l->uids, uids, n * sizeof *l->uids);
	l->n = n;

	argc = 3 + n;
	argv = xcalloc(argc, sizeof *argv);
	argvlen = xcalloc(argc, sizeof *argvlen);
	keys = xcalloc(n, sizeof *keys);
	snprintf(nkeys, sizeof nkeys, "%zu", n);
	argv[0] = "EVAL";
	argv[1] = where_script;
	argv[2] = nkeys;
	for (i = 0; i < n; i++) {
		keys[i] = xasprintf("chatd:where:%lld", (long long)uids[i]);
		argv[3 + i] = keys[i];
	}
	for (i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	if (redisAsyncCommandArgv(rac, where_cb, l, (int)argc, argv, argvlen) !=
	    REDIS_OK) {
		batch_finish(l->b);
		free(l->uids);
		free(l);
	}
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(argv);
	free(argvlen);
}

void
route_deliver(struct delivery *d, struct client *requester)
{
	struct client *skip = d->skip_requester ? requester : NULL;
	size_t i;

	for (i = 0; i < d->nuids; i++)
		deliver_local(d->uids[i], d->text, d->len, skip);
	remote_deliver(d->text, d->len, d->uids, d->nuids);
}

static void logout_local(const char *);
static void gone_local(int64_t);

/* A delivery from another instance: "uid,uid,...\n" then the frame. */
void
route_remote_in(const char *data, size_t len)
{
	int64_t *uids;
	const char *frame, *nl = memchr(data, '\n', len);
	size_t flen, max = 1, k;
	char hash[65];
	int n, i;

	for (k = 0; nl != NULL && data + k < nl; k++)
		max += data[k] == ',';
	uids = xcalloc(max, sizeof *uids);
	n = proto_parse_remote(data, len, uids, max, &frame, &flen);
	if (n < 0) {
		free(uids);
		log_warn("rabbitmq: dropped a malformed delivery");
		return;
	}
	metrics.remote_in++;
	/* Frames are JSON objects; '!' starts an instruction instead. */
	if (flen == 8 + 64 && memcmp(frame, "!logout:", 8) == 0) {
		memcpy(hash, frame + 8, 64);
		hash[64] = '\0';
		logout_local(hash);
	} else if (flen == 5 && memcmp(frame, "!gone", 5) == 0) {
		for (i = 0; i < n; i++)
			gone_local(uids[i]);
	} else {
		for (i = 0; i < n; i++)
			deliver_local(uids[i], frame, flen, NULL);
	}
	free(uids);
}

static void
logout_local(const char *hash)
{
	struct uentry *e;
	struct client *c;
	size_t i;

	for (i = 0; i < USER_BUCKETS; i++) {
		for (e = users[i]; e != NULL; e = e->next) {
			for (c = e->clients; c != NULL;
			     c = client_next_of_user(c)) {
				if (strcmp(client_token_hash(c), hash) == 0)
					client_close(c, 4001, "logged out");
			}
		}
	}
}

/* Closes the sockets of a session that logged out, on every instance. */
void
route_logout(const char *hash, int64_t uid)
{
	char text[8 + 64 + 1];

	logout_local(hash);
	snprintf(text, sizeof text, "!logout:%s", hash);
	remote_deliver(text, strlen(text), &uid, 1);
}

static void
gone_local(int64_t uid)
{
	struct uentry *e = uentry_find(uid, 0);
	struct client *c, *next;

	if (e == NULL)
		return;
	/* Closing detaches the client later, on its close callback. */
	for (c = e->clients; c != NULL; c = next) {
		next = client_next_of_user(c);
		client_close(c, 4001, "account deleted");
	}
}

void
route_account_gone(int64_t uid)
{
	gone_local(uid);
	remote_deliver("!gone", 5, &uid, 1);
}
