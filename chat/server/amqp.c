/*
 * RabbitMQ between instances, on two threads of its own (rabbitmq-c is
 * blocking): a publisher that sends persistent messages to the durable
 * queue of the target instance, and a consumer on this instance's own
 * durable queue, "chatd.instance.<id>", that hands each delivery to the
 * loop and acknowledges it once handed over. A delivery lost anyway (an
 * instance killed with messages in flight) is not a lost message:
 * messages are in MariaDB first and clients catch up by sequence.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "chatd.h"
#include "log.h"
#include "xmalloc.h"

#define AMQP_PENDING_MAX 100000
#define AMQP_QUEUE_MAX_LENGTH 100000

struct amsg {
	struct amsg *next;
	char *queue;
	char *body;
	size_t len;
};

static pthread_t pub_thread, sub_thread;
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pub_cond = PTHREAD_COND_INITIALIZER;
static struct amsg *pub_head, *pub_tail;
static size_t pub_len;

static pthread_mutex_t in_lock = PTHREAD_MUTEX_INITIALIZER;
static struct amsg *in_head, *in_tail;
static uv_async_t in_async;

static volatile int stop_flag;
static volatile int pub_up, sub_up;
static char *password;
static char *own_queue;
static int started;

int
amqp_ok(void)
{
	return __atomic_load_n(&pub_up, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&sub_up, __ATOMIC_RELAXED);
}

static int
reply_ok(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 1;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		log_warn("rabbitmq: %s: %s", what,
		    amqp_error_string2(r.library_error));
	else
		log_warn("rabbitmq: %s: refused by the broker", what);
	return 0;
}

static amqp_table_t
queue_args(amqp_table_entry_t *e)
{
	amqp_table_t t;

	e->key = amqp_cstring_bytes("x-max-length");
	e->value.kind = AMQP_FIELD_KIND_I64;
	e->value.value.i64 = AMQP_QUEUE_MAX_LENGTH;
	t.num_entries = 1;
	t.entries = e;
	return t;
}

/* Connects, opens channel 1 and declares this instance's queue. */
static amqp_connection_state_t
amqp_open(void)
{
	amqp_connection_state_t conn;
	amqp_socket_t *sock;
	amqp_table_entry_t e;
	struct timeval tv = {5, 0};

	conn = amqp_new_connection();
	if ((sock = amqp_tcp_socket_new(conn)) == NULL)
		goto fail;
	if (amqp_socket_open_noblock(sock, cfg.amqp_host, cfg.amqp_port, &tv) !=
	    AMQP_STATUS_OK)
		goto fail;
	if (!reply_ok(amqp_login(conn, cfg.amqp_vhost, 0, 131072, 0,
			  AMQP_SASL_METHOD_PLAIN, cfg.amqp_user, password),
		"login"))
		goto fail;
	amqp_channel_open(conn, 1);
	if (!reply_ok(amqp_get_rpc_reply(conn), "channel"))
		goto fail;
	amqp_queue_declare(
	    conn, 1, amqp_cstring_bytes(own_queue), 0, 1, 0, 0, queue_args(&e));
	if (!reply_ok(amqp_get_rpc_reply(conn), "queue declare"))
		goto fail;
	return conn;
fail:
	amqp_destroy_connection(conn);
	return NULL;
}

static void
amqp_shut(amqp_connection_state_t conn)
{
	if (conn == NULL)
		return;
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
}

static void
backoff(void)
{
	int i;

	for (i = 0; i < 10 && !stop_flag; i++)
		usleep(100000);
}

static void *
pub_main(void *arg)
{
	amqp_connection_state_t conn = NULL;
	amqp_basic_properties_t props;
	amqp_bytes_t body;
	struct amsg *m;

	(void)arg;
	memset(&props, 0, sizeof props);
	props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	props.delivery_mode = 2;
	while (!stop_flag) {
		if (conn == NULL) {
			if ((conn = amqp_open()) == NULL) {
				__atomic_store_n(&pub_up, 0, __ATOMIC_RELAXED);
				backoff();
				continue;
			}
			__atomic_store_n(&pub_up, 1, __ATOMIC_RELAXED);
		}
		pthread_mutex_lock(&pub_lock);
		while (pub_head == NULL && !stop_flag)
			pthread_cond_wait(&pub_cond, &pub_lock);
		m = pub_head;
		if (m != NULL) {
			pub_head = m->next;
			if (pub_head == NULL)
				pub_tail = NULL;
			pub_len--;
		}
		pthread_mutex_unlock(&pub_lock);
		if (m == NULL)
			continue;
		body.bytes = m->body;
		body.len = m->len;
		if (amqp_basic_publish(conn, 1, amqp_empty_bytes,
			amqp_cstring_bytes(m->queue), 0, 0, &props,
			body) != AMQP_STATUS_OK) {
			log_warn("rabbitmq: publish to '%s' failed", m->queue);
			amqp_destroy_connection(conn);
			conn = NULL;
			__atomic_store_n(&pub_up, 0, __ATOMIC_RELAXED);
		}
		free(m->queue);
		free(m->body);
		free(m);
	}
	amqp_shut(conn);
	return NULL;
}

static void *
sub_main(void *arg)
{
	amqp_connection_state_t conn = NULL;
	amqp_envelope_t env;
	amqp_rpc_reply_t r;
	struct timeval tv;
	struct amsg *m;

	(void)arg;
	while (!stop_flag) {
		if (conn == NULL) {
			if ((conn = amqp_open()) == NULL) {
				backoff();
				continue;
			}
			amqp_basic_qos(conn, 1, 0, 1024, 0);
			amqp_basic_consume(conn, 1,
			    amqp_cstring_bytes(own_queue), amqp_empty_bytes, 0,
			    0, 0, amqp_empty_table);
			if (!reply_ok(amqp_get_rpc_reply(conn), "consume")) {
				amqp_destroy_connection(conn);
				conn = NULL;
				backoff();
				continue;
			}
			__atomic_store_n(&sub_up, 1, __ATOMIC_RELAXED);
			log_info("consuming rabbitmq queue '%s'", own_queue);
		}
		amqp_maybe_release_buffers(conn);
		tv.tv_sec = 0;
		tv.tv_usec = 250000;
		r = amqp_consume_message(conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			reply_ok(r, "consume");
			amqp_destroy_connection(conn);
			conn = NULL;
			__atomic_store_n(&sub_up, 0, __ATOMIC_RELAXED);
			backoff();
			continue;
		}
		m = xcalloc(1, sizeof *m);
		m->len = env.message.body.len;
		m->body = xmalloc(m->len + 1);
		memcpy(m->body, env.message.body.bytes, m->len);
		m->body[m->len] = '\0';
		pthread_mutex_lock(&in_lock);
		if (in_tail != NULL)
			in_tail->next = m;
		else
			in_head = m;
		in_tail = m;
		pthread_mutex_unlock(&in_lock);
		uv_async_send(&in_async);
		amqp_basic_ack(conn, 1, env.delivery_tag, 0);
		amqp_destroy_envelope(&env);
	}
	__atomic_store_n(&sub_up, 0, __ATOMIC_RELAXED);
	amqp_shut(conn);
	return NULL;
}

static void
in_cb(uv_async_t *a)
{
	struct amsg *m, *next;

	(void)a;
	pthread_mutex_lock(&in_lock);
	m = in_head;
	in_head = in_tail = NULL;
	pthread_mutex_unlock(&in_lock);
	for (; m != NULL; m = next) {
		next = m->next;
		route_remote_in(m->body, m->len);
		free(m->body);
		free(m);
	}
}

void
amqp_publish(const char *instance, const char *body, size_t len)
{
	struct amsg *m, *old;

	m = xcalloc(1, sizeof *m);
	m->queue = xasprintf("chatd.instance.%s", instance);
	m->body = xmalloc(len);
	memcpy(m->body, body, len);
	m->len = len;
	pthread_mutex_lock(&pub_lock);
	if (pub_len >= AMQP_PENDING_MAX && (old = pub_head) != NULL) {
		/* Bounded: the oldest goes; clients catch up from MariaDB. */
		pub_head = old->next;
		pub_len--;
		free(old->queue);
		free(old->body);
		free(old);
	}
	if (pub_tail != NULL)
		pub_tail->next = m;
	else
		pub_head = m;
	pub_tail = m;
	pub_len++;
	pthread_cond_signal(&pub_cond);
	pthread_mutex_unlock(&pub_lock);
}

int
amqp_start(const char *pw, char **cause)
{
	password = xstrdup(pw != NULL ? pw : "");
	own_queue = xasprintf("chatd.instance.%s", cfg.instance_id);
	uv_async_init(loop, &in_async, in_cb);
	if (pthread_create(&pub_thread, NULL, pub_main, NULL) != 0 ||
	    pthread_create(&sub_thread, NULL, sub_main, NULL) != 0) {
		*cause = xstrdup("cannot start the rabbitmq threads");
		return -1;
	}
	started = 1;
	return 0;
}

void
amqp_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&pub_lock);
	stop_flag = 1;
	pthread_cond_broadcast(&pub_cond);
	pthread_mutex_unlock(&pub_lock);
	pthread_join(pub_thread, NULL);
	pthread_join(sub_thread, NULL);
	in_cb(&in_async);
	uv_close((uv_handle_t *)&in_async, NULL);
	started = 0;
}
