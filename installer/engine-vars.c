/*
 * The template variables: the answers (shaped like the YAML file), the
 * host's facts, sizes derived from memory and profile, paths, and values
 * derived from secrets that are safe to write into a configuration file
 * (password hashes, never the passwords).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "answers.h"
#include "engine.h"
#include "secrets.h"
#include "steps.h"
#include "xmalloc.h"

/* Shown in a plan before the secrets exist. */
#define VARS_NOT_YET "generated-at-install"

struct vars_sizing {
	enum answers_profile profile;
	int pool_percent; /* of memory, for the InnoDB buffer pool */
	int pool_min_mb;
	int pool_max_mb;
	int log_mb;
	int max_connections;
	int redis_percent;
	int redis_min_mb;
	int redis_max_mb;
};

static const struct vars_sizing vars_sizing[] = {
    {PROFILE_PRODUCTION, 40, 128, 65536, 256, 400, 10, 256, 16384},
    {PROFILE_SMALL, 10, 64, 512, 48, 100, 5, 64, 256},
};

static unsigned long long
vars_mem_bytes(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f;

	if ((f = fopen("/proc/meminfo", "r")) == NULL)
		return 1024ULL * 1024 * 1024;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb > 0 ? kb * 1024 : 1024ULL * 1024 * 1024;
}

static int
vars_clamp(long long v, int lo, int hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return (int)v;
}

static json_t *
vars_sizes(struct engine *e, enum answers_profile profile)
{
	const struct vars_sizing *z = &vars_sizing[0];
	long long mem_mb;
	size_t i;
	int pool;

	for (i = 0; i < sizeof vars_sizing / sizeof vars_sizing[0]; i++) {
		if (vars_sizing[i].profile == profile)
			z = &vars_sizing[i];
	}
	mem_mb = (long long)(e->mem_bytes / (1024 * 1024));
	pool = vars_clamp(
	    mem_mb * z->pool_percent / 100, z->pool_min_mb, z->pool_max_mb);
	return json_pack("{s:i, s:i, s:i, s:i}", "innodb_buffer_pool_mb", pool,
	    "innodb_log_file_mb", vars_clamp(z->log_mb, 8, pool / 2 + 8),
	    "mariadb_max_connections", z->max_connections, "redis_maxmemory_mb",
	    vars_clamp(mem_mb * z->redis_percent / 100, z->redis_min_mb,
		z->redis_max_mb));
}

/* Sets obj.key to def when it is missing or null. */
static void
vars_default(json_t *obj, const char *key, const char *def)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		json_object_set_new(obj, key, json_string(def));
}

static json_t *
vars_component(json_t *vars, const char *name)
{
	json_t *c, *o;

	if ((c = json_object_get(vars, "components")) == NULL) {
		c = json_object();
		json_object_set_new(vars, "components", c);
	}
	if ((o = json_object_get(c, name)) == NULL) {
		o = json_object();
		json_object_set_new(c, name, o);
	}
	return o;
}

static void
vars_hex(const unsigned char *d, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/*
 * RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt +
 * password)). The salt comes from the password itself so that the file
 * renders the same on every run.
 */
static char *
vars_rabbit_hash(const char *pw)
{
	unsigned char salt[SHA256_DIGEST_LENGTH], in[4 + 256],
	    out[4 + SHA256_DIGEST_LENGTH];
	char b64[64];
	size_t len;
	char *tag;

	len = strlen(pw);
	if (len > 256)
		len = 256;
	tag = xasprintf("chatstack-rabbitmq-salt:%s", pw);
	SHA256((unsigned char *)tag, strlen(tag), salt);
	explicit_bzero(tag, strlen(tag));
	free(tag);
	memcpy(in, salt, 4);
	memcpy(in + 4, pw, len);
	memcpy(out, salt, 4);
	SHA256(in, 4 + len, out + 4);
	EVP_EncodeBlock((unsigned char *)b64, out, sizeof out);
	explicit_bzero(in, sizeof in);
	return xstrdup(b64);
}

void
engine_vars_refresh(struct engine *e)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], *dir, *pw, *cause = NULL, *h;
	json_t *derived;

	derived = json_object();
	dir = engine_path(e, SECRETS_DIR);
	if ((pw = secret_read(dir, SECRET_REDIS, &cause)) != NULL) {
		SHA256((unsigned char *)pw, strlen(pw), d);
		vars_hex(d, sizeof d, hex);
		json_object_set_new(
		    derived, "redis_password_sha256", json_string(hex));
		explicit_bzero(pw, strlen(pw));
		free(pw);
	} else
		json_object_set_new(derived, "redis_password_sha256",
		    json_string(VARS_NOT_YET));
	free(cause);
	cause = NULL;
	if ((pw = secret_read(dir, SECRET_RABBITMQ, &cause)) != NULL) {
		h = vars_rabbit_hash(pw);
		json_object_set_new(
		    derived, "rabbitmq_password_hash", json_string(h));
		free(h);
		explicit_bzero(pw, strlen(pw));
		free(pw);
	} else
		json_object_set_new(derived, "rabbitmq_password_hash",
		    json_string(VARS_NOT_YET));
	free(cause);
	free(dir);
	json_object_set_new(e->vars, "derived", derived);
}

int
engine_vars(struct engine *e, char **cause)
{
	const struct answers *a = e->answers;
	json_t *v, *list, *c;
	int i, instances, port, https;

	(void)cause;
	if (e->mem_bytes == 0)
		e->mem_bytes = vars_mem_bytes();
	if (e->ncpu == 0)
		e->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	v = a != NULL ? answers_to_json(a) : json_object();
	vars_default(v, "hostname", "localhost");
	vars_default(v, "bind_address", "127.0.0.1");
	vars_default(v, "bind_host", "127.0.0.1");
	vars_default(v, "profile", "production");
	c = vars_component(v, "mariadb");
	vars_default(c, "data_dir", "/var/lib/mysql");
	c = vars_component(v, "redis");
	vars_default(c, "data_dir", "/var/lib/redis");
	c = vars_component(v, "rabbitmq");
	vars_default(c, "data_dir", "/var/lib/rabbitmq");

	json_object_set_new(v, "release", json_string(e->version));
	json_object_set_new(v, "host",
	    json_pack("{s:I, s:i, s:b}", "mem_mb",
		(json_int_t)(e->mem_bytes / (1024 * 1024)), "ncpu", e->ncpu,
		"ipv6", access("/proc/net/if_inet6", R_OK) == 0));
	json_object_set_new(v, "sizing",
	    vars_sizes(e, a != NULL ? a->profile : PROFILE_PRODUCTION));
	json_object_set_new(v, "paths",
	    json_pack("{s:s, s:s, s:s}", "prefix", CHATSTACK_PREFIX "/current",
		"web", CHATSTACK_PREFIX "/current/web", "etc",
		"/etc/chatstack"));

	instances = a != NULL ? a->chatd.instances : 2;
	port = a != NULL ? a->chatd.port : 8081;
	list = json_array();
	for (i = 1; i <= instances; i++)
		json_array_append_new(list,
		    json_pack("{s:i, s:i}", "index", i, "port", port + i - 1));
	json_object_set_new(v, "chatd",
	    json_pack(
		"{s:o, s:i}", "instance_list", list, "instances", instances));
	https = a != NULL ? a->nginx.https_port : 443;
	json_object_set_new(v, "nginx", json_pack("{s:s}", "https_suffix", ""));
	if (https != 443) {
		char suffix[16];

		snprintf(suffix, sizeof suffix, ":%d", https);
		json_object_set_new(json_object_get(v, "nginx"), "https_suffix",
		    json_string(suffix));
	}
	json_decref(e->vars);
	e->vars = v;
	engine_vars_refresh(e);
	return 0;
}
