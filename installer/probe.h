/*
 * Probes that ask a service whether it really answers, with the
 * credentials chatd uses: Redis PING after AUTH, an AMQP login, an HTTP
 * GET. Each is one bounded attempt; health gates retry them.
 */
#ifndef PROBE_H
#define PROBE_H

/*
 * Each returns 0 when the service answered as it should, or -1 with
 * *cause saying what it answered instead. Passwords are read by the
 * caller and wiped after; they go only onto the socket.
 */
int probe_redis(const char *host, int port, const char *user,
    const char *password, char **cause);
/* Returns 0 when Redis refuses a command without authentication. */
int probe_redis_noauth(const char *host, int port, char **cause);
int probe_amqp(const char *host, int port, const char *vhost, const char *user,
    const char *password, char **cause);
/* GET path over plain HTTP; 0 when the status is 200. */
int probe_http(const char *host, int port, const char *path, char **cause);

#endif
