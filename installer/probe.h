/*
 * Probes that ask a service whether it really answers, with the
 * credentials chatd uses: a MariaDB login and query, Redis PING after
 * AUTH, an AMQP login to a vhost, an HTTP GET. Each is one attempt
 * through the service's own client library (libmariadb, hiredis,
 * rabbitmq-c, libcurl); health gates retry them.
 */
#ifndef PROBE_H
#define PROBE_H

/*
 * The bound of each step of a probe: connecting, then each answer. A
 * probe that sends two commands waits at most three times this long.
 */
#define PROBE_TIMEOUT_S 3

/*
 * Each returns 0 when the service answered as it should, or -1 with
 * *cause (allocated, the caller frees it) saying what it answered
 * instead, or that nothing answered. Passwords are read by the caller
 * and wiped after; they go only to the client library. hiredis writes
 * with write(2): the program ignores SIGPIPE (main.c does).
 */

/*
 * Logs in and runs SELECT 1. host is an address or name (TCP, port), or
 * an absolute path: the server's unix socket (port unused, and password
 * may be NULL for unix_socket authentication). database may be NULL.
 */
int probe_mariadb(const char *host, int port, const char *user,
    const char *password, const char *database, char **cause);
/* AUTH as an ACL user, then PING. */
int probe_redis(const char *host, int port, const char *user,
    const char *password, char **cause);
/* Returns 0 only when Redis refuses PING without authentication. */
int probe_redis_noauth(const char *host, int port, char **cause);
/*
 * Logs in (SASL PLAIN) and opens vhost. PROBE_REFUSED (with *cause)
 * when the broker answered and refused the login or the vhost, so that
 * a refusal can be told from a broker that does not answer (-1).
 */
#define PROBE_REFUSED -2
int probe_amqp(const char *host, int port, const char *vhost, const char *user,
    const char *password, char **cause);
/* GET path over plain HTTP, no proxy; 0 when the status is 200. */
int probe_http(const char *host, int port, const char *path, char **cause);

#endif
