/*
 * chatd's configuration: one file of "key = value" lines (docs/chatd.md).
 * Secrets are never inline: *_password_file names a file whose first line
 * is the secret.
 */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

struct config {
	char *listen_address;
	int listen_port;
	char *instance_id;
	int workers;
	int send_batch_max; /* sends committed in one transaction */
	int send_batch_workers; /* such transactions at once */
	char *log_level;

	char *db_host;
	int db_port;
	char *db_name;
	char *db_user;
	char *db_password_file;

	char *redis_host;
	int redis_port;
	char *redis_user; /* ACL user; unset: the default user */
	char *redis_password_file;

	char *amqp_host;
	int amqp_port;
	char *amqp_vhost;
	char *amqp_user;
	char *amqp_password_file;

	int max_frame_bytes;
	int max_body_bytes;
	int send_queue_max;
	int send_rate;
	int send_burst;
	int login_rate;
	int register_rate;
	int trust_forwarded;
	int session_ttl_days;
	int argon2_ops;
	int argon2_mem_kib;
};

/* Fills defaults. */
void config_defaults(struct config *);
/* Parses text (from file path, used in messages); -1 with *cause. */
int config_parse(
    struct config *, const char *path, const char *text, char **cause);
int config_load(struct config *, const char *path, char **cause);
void config_free(struct config *);
/* Reads the first line of a secret file; allocated, NULL with *cause. */
char *config_read_secret(const char *path, char **cause);

#endif
