/*
 * Checks across answer keys, after the walk: what a TLS mode needs, files
 * named by keys, ports and data directories used twice, checks waived
 * twice. A key the walk already reported is not reported again.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "answers-int.h"
#include "answers.h"
#include "xmalloc.h"

/* Checks that a referenced file is there, and private if it is secret. */
static void
ans_check_file(
    struct ans_ctx *c, const char *path, const char *file, int secret)
{
	struct stat sb;

	if (file == NULL)
		return;
	if (stat(file, &sb) == -1) {
		ans_path_error(c, path,
		    "found '%s', which cannot be read (%s), "
		    "expected an existing file",
		    file, strerror(errno));
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		ans_path_error(c, path,
		    "found '%s', which is not a regular "
		    "file, expected a file",
		    file);
		return;
	}
	if (secret && (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		ans_path_error(c, path,
		    "found '%s' with mode %04o, which lets other users read "
		    "a secret, expected a file only its owner can read (run "
		    "'chmod 600 %s')",
		    file, (unsigned)(sb.st_mode & 07777), file);
	}
}

static void
ans_check_tls(struct ans_ctx *c)
{
	struct answers *a = c->a;
	struct answers_tls *t = &a->tls;

	switch (t->mode) {
	case TLS_MODE_LETSENCRYPT:
		if (t->email == NULL && !ans_failed(c, "tls.letsencrypt.email"))
			ans_path_error(c, "tls.letsencrypt.email",
			    "found no value, expected an e-mail address for "
			    "the ACME account (tls.mode is letsencrypt)");
		if (strchr(a->hostname, '.') == NULL &&
		    !ans_failed(c, "hostname"))
			ans_path_error(c, "hostname",
			    "found '%s', expected a public name with a dot "
			    "for Let's Encrypt (tls.mode is letsencrypt)",
			    a->hostname);
		if ((t->eab_kid == NULL) != (t->eab_hmac_key_file == NULL) &&
		    !ans_failed(c, "tls.letsencrypt.eab_kid") &&
		    !ans_failed(c, "tls.letsencrypt.eab_hmac_key_file"))
			ans_path_error(c,
			    t->eab_kid == NULL ? "tls.letsencrypt.eab_kid"
					       : "tls.letsencrypt."
						 "eab_hmac_key_file",
			    "found no value, expected eab_kid and "
			    "eab_hmac_key_file together (External Account "
			    "Binding needs both)");
		ans_check_file(c, "tls.letsencrypt.ca_file", t->ca_file, 0);
		ans_check_file(c, "tls.letsencrypt.eab_hmac_key_file",
		    t->eab_hmac_key_file, 1);
		break;
	case TLS_MODE_PROVIDED:
		if (t->cert == NULL && !ans_failed(c, "tls.provided.cert"))
			ans_path_error(c, "tls.provided.cert",
			    "found no value, expected the path of the "
			    "certificate (tls.mode is provided)");
		if (t->key == NULL && !ans_failed(c, "tls.provided.key"))
			ans_path_error(c, "tls.provided.key",
			    "found no value, expected the path of the "
			    "private key (tls.mode is provided)");
		ans_check_file(c, "tls.provided.cert", t->cert, 0);
		ans_check_file(c, "tls.provided.key", t->key, 1);
		ans_check_file(c, "tls.provided.chain", t->chain, 0);
		break;
	case TLS_MODE_SELFSIGNED:
		break;
	}
}

struct ans_port {
	const char *path;
	int port;
	int last; /* the end of a range (chatd instances) */
};

static void
ans_check_ports(struct ans_ctx *c)
{
	struct answers *a = c->a;
	struct ans_port ports[] = {
	    {"components.mariadb.port", a->mariadb.port, a->mariadb.port},
	    {"components.redis.port", a->redis.port, a->redis.port},
	    {"components.rabbitmq.port", a->rabbitmq.port, a->rabbitmq.port},
	    {"components.rabbitmq.dist_port", a->rabbitmq.dist_port,
		a->rabbitmq.dist_port},
	    {"components.rabbitmq.epmd_port", a->rabbitmq.epmd_port,
		a->rabbitmq.epmd_port},
	    {"components.chatd.port", a->chatd.port,
		a->chatd.port + a->chatd.instances - 1},
	    {"components.nginx.http_port", a->nginx.http_port,
		a->nginx.http_port},
	    {"components.nginx.https_port", a->nginx.https_port,
		a->nginx.https_port},
	};
	const size_t n = sizeof ports / sizeof ports[0];
	const struct ans_port *p, *q, *later;
	size_t i, j;

	if (a->chatd.port + a->chatd.instances - 1 > 65535) {
		ans_path_error(c, "components.chatd.port",
		    "found %d, expected a port that leaves room for %d "
		    "instances (at most %d)",
		    a->chatd.port, a->chatd.instances,
		    65536 - a->chatd.instances);
		ports[5].last = 65535;
	}
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			p = &ports[i];
			q = &ports[j];
			if (p->port > q->last || q->port > p->last)
				continue;
			if (ans_failed(c, p->path) || ans_failed(c, q->path))
				continue;
			/* Report at whichever the file names later. */
			later = q;
			if (ans_seen(c, p->path) && !ans_seen(c, q->path))
				later = p;
			ans_path_error(c, later->path,
			    "found port %d, which %s also uses%s, expected "
			    "each port used once",
			    later->port, later == q ? p->path : q->path,
			    p->port != p->last || q->port != q->last
				? " (chatd instance N listens on port+N-1)"
				: "");
		}
	}
}

static void
ans_check_data_dirs(struct ans_ctx *c)
{
	struct answers *a = c->a;
	const char *paths[] = {"components.mariadb.data_dir",
	    "components.redis.data_dir", "components.rabbitmq.data_dir"};
	const char *dirs[] = {
	    a->mariadb.data_dir, a->redis.data_dir, a->rabbitmq.data_dir};
	size_t i, j;

	for (i = 0; i < 3; i++) {
		for (j = i + 1; j < 3; j++) {
			if (strcmp(dirs[i], dirs[j]) != 0 ||
			    ans_failed(c, paths[i]) || ans_failed(c, paths[j]))
				continue;
			ans_path_error(c, paths[j],
			    "found '%s', which %s also uses, expected a "
			    "directory of its own",
			    dirs[j], paths[i]);
		}
	}
}

static void
ans_check_waivers(struct ans_ctx *c)
{
	struct answers *a = c->a;
	char *path;
	size_t i, j;

	for (i = 0; i < a->nwaivers; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(a->waivers[i].check, a->waivers[j].check) !=
			    0)
				continue;
			path = xasprintf("preflight.waive[%zu].check", i);
			ans_path_error(c, path,
			    "found '%s' waived a second time, expected each "
			    "check waived once",
			    a->waivers[i].check);
			free(path);
			break;
		}
	}
}

void
ans_check(struct ans_ctx *c)
{
	ans_check_tls(c);
	ans_check_ports(c);
	ans_check_data_dirs(c);
	ans_check_waivers(c);
}
