/* Counters and the /metrics page (Prometheus text format 0.0.4). */

#include <stdlib.h>
#include <time.h>

#include "buf.h"
#include "chatd.h"

struct metrics metrics;

static const double send_bounds[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define NBOUNDS (sizeof send_bounds / sizeof send_bounds[0])

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

void
metrics_observe_send(double s)
{
	size_t i;

	for (i = 0; i < NBOUNDS; i++) {
		if (s <= send_bounds[i])
			metrics.send_hist[i]++;
	}
	metrics.send_sum += s;
	metrics.send_count++;
}

static void
counter(struct buf *b, const char *name, const char *help, uint64_t v,
    const char *type)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
	    type, name, (unsigned long long)v);
}

char *
metrics_render(size_t *len)
{
	struct buf b;
	size_t i;
	static const char *classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};

	buf_init(&b);
	counter(&b, "chatd_connections", "open WebSocket connections",
	    metrics.connections, "gauge");
	counter(&b, "chatd_ws_auth_total", "authenticated WebSockets",
	    metrics.ws_authed, "counter");
	buf_adds(&b,
	    "# HELP chatd_http_requests_total HTTP answers by "
	    "status class\n# TYPE chatd_http_requests_total "
	    "counter\n");
	for (i = 1; i < 6; i++)
		buf_printf(&b, "chatd_http_requests_total{code=\"%s\"} %llu\n",
		    classes[i], (unsigned long long)metrics.http_requests[i]);
	counter(&b, "chatd_messages_sent_total", "messages committed",
	    metrics.messages_sent, "counter");
	counter(&b, "chatd_messages_duplicate_total",
	    "sends answered from an earlier client_msg_id",
	    metrics.messages_duplicate, "counter");
	counter(&b, "chatd_send_batches_total",
	    "transactions that committed several sends together",
	    metrics.send_batches, "counter");
	counter(&b, "chatd_send_batched_total", "sends in those transactions",
	    metrics.send_batched, "counter");
	counter(&b, "chatd_send_batch_retries_total",
	    "batches rolled back and run one send at a time",
	    metrics.send_batch_retries, "counter");
	counter(&b, "chatd_pushes_total", "frames queued to local sockets",
	    metrics.pushes, "counter");
	counter(&b, "chatd_remote_out_total",
	    "deliveries published to other instances", metrics.remote_out,
	    "counter");
	counter(&b, "chatd_remote_in_total",
	    "deliveries received from other instances", metrics.remote_in,
	    "counter");
	counter(&b, "chatd_slow_clients_dropped_total",
	    "sockets closed for a full send queue", metrics.dropped_slow,
	    "counter");
	counter(&b, "chatd_rate_limited_total",
	    "sends refused by the rate "
	    "limit",
	    metrics.rate_limited, "counter");
	counter(&b, "chatd_bad_frames_total", "malformed WebSocket frames",
	    metrics.bad_frames, "counter");
	counter(&b, "chatd_errors_total", "internal and unavailable errors",
	    metrics.errors, "counter");
	buf_adds(&b,
	    "# HELP chatd_send_seconds time from send frame to "
	    "ack (commit)\n# TYPE chatd_send_seconds histogram\n");
	for (i = 0; i < NBOUNDS; i++)
		buf_printf(&b, "chatd_send_seconds_bucket{le=\"%g\"} %llu\n",
		    send_bounds[i], (unsigned long long)metrics.send_hist[i]);
	buf_printf(&b, "chatd_send_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)metrics.send_count);
	buf_printf(&b, "chatd_send_seconds_sum %f\n", metrics.send_sum);
	buf_printf(&b, "chatd_send_seconds_count %llu\n",
	    (unsigned long long)metrics.send_count);
	return buf_detach(&b, len);
}
