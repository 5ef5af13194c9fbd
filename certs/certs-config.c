/* Reading and writing what a certificate is made from (certs-config.h). */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "certs-config.h"
#include "fileio.h"
#include "xmalloc.h"

static const char *const certs_mode_names[] = {
    [TLS_MODE_LETSENCRYPT] = "letsencrypt",
    [TLS_MODE_SELFSIGNED] = "selfsigned",
    [TLS_MODE_PROVIDED] = "provided",
};

const char *
certs_mode_name(enum answers_tls_mode m)
{
	if ((size_t)m < sizeof certs_mode_names / sizeof certs_mode_names[0])
		return certs_mode_names[m];
	return "unknown";
}

static int
certs_mode_parse(const char *s, enum answers_tls_mode *m)
{
	size_t i;

	for (i = 0; s != NULL &&
	     i < sizeof certs_mode_names / sizeof certs_mode_names[0];
	     i++) {
		if (strcmp(s, certs_mode_names[i]) == 0) {
			*m = (enum answers_tls_mode)i;
			return 0;
		}
	}
	return -1;
}

static char *
certs_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
certs_add_name(struct certs_config *c, const char *name)
{
	char *n, *p;
	size_t i;

	n = xstrdup(name);
	for (p = n; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	for (i = 0; i < c->nnames; i++) {
		if (strcmp(c->names[i], n) == 0) {
			free(n);
			return;
		}
	}
	c->names = xreallocarray(c->names, c->nnames + 1, sizeof *c->names);
	c->names[c->nnames++] = n;
}

void
certs_config_free(struct certs_config *c)
{
	size_t i;

	for (i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	free(c->hostname);
	free(c->directory);
	free(c->ca_file);
	free(c->email);
	free(c->eab_kid);
	free(c->eab_key_file);
	free(c->webroot);
	free(c->challenge_address);
	free(c->cert);
	free(c->key);
	free(c->chain);
	memset(c, 0, sizeof *c);
}

/* The host's own addresses, for the SAN of a selfsigned certificate. */
static void
certs_add_host_addresses(struct certs_config *c)
{
	struct ifaddrs *ifa, *i;
	char addr[INET6_ADDRSTRLEN];
	const struct in6_addr *a6;
	const struct in_addr *a4;

	if (getifaddrs(&ifa) == -1)
		return;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a4 = &((struct sockaddr_in *)(void *)i->ifa_addr)
				  ->sin_addr;
			if ((ntohl(a4->s_addr) >> 24) == 127)
				continue;
			inet_ntop(AF_INET, a4, addr, sizeof addr);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a6 = &((struct sockaddr_in6 *)(void *)i->ifa_addr)
				  ->sin6_addr;
			if (IN6_IS_ADDR_LOOPBACK(a6) ||
			    IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			inet_ntop(AF_INET6, a6, addr, sizeof addr);
		} else
			continue;
		certs_add_name(c, addr);
	}
	freeifaddrs(ifa);
}

int
certs_config_from_answers(const struct answers *a, const struct certs_opts *o,
    struct certs_config *c, char **cause)
{
	const struct answers_tls *t = &a->tls;
	size_t i;

	memset(c, 0, sizeof *c);
	if (a->hostname == NULL || *a->hostname == '\0') {
		*cause = xstrdup("hostname is not set in the answers; the "
				 "certificate needs it");
		return -1;
	}
	c->mode = t->mode;
	c->hostname = xstrdup(a->hostname);
	certs_add_name(c, a->hostname);
	for (i = 0; i < t->nextra_names; i++)
		certs_add_name(c, t->extra_names[i]);
	if (pki_key_type_parse(t->key_type, &c->key_type) == -1) {
		*cause = xasprintf("tls.letsencrypt.key_type '%s' is neither "
				   "ec256 nor rsa2048",
		    t->key_type);
		certs_config_free(c);
		return -1;
	}
	c->directory = certs_dup(t->directory);
	c->ca_file = certs_dup(t->ca_file);
	c->email = certs_dup(t->email);
	c->eab_kid = certs_dup(t->eab_kid);
	c->eab_key_file = certs_dup(t->eab_hmac_key_file);
	c->cert = certs_dup(t->cert);
	c->key = certs_dup(t->key);
	c->chain = certs_dup(t->chain);
	c->webroot = certs_dup(o->webroot);
	c->challenge_address = certs_dup(o->challenge_address);
	c->challenge_port =
	    o->challenge_port > 0 ? o->challenge_port : a->nginx.http_port;
	if (c->challenge_port <= 0)
		c->challenge_port = 80;
	if (c->mode == TLS_MODE_SELFSIGNED) {
		for (i = 0; i < o->naddresses; i++)
			certs_add_name(c, o->addresses[i]);
		if (o->naddresses == 0)
			certs_add_host_addresses(c);
	}
	if (c->mode == TLS_MODE_PROVIDED &&
	    (c->cert == NULL || c->key == NULL)) {
		*cause = xstrdup("tls.mode is provided but tls.provided.cert "
				 "or tls.provided.key is not set");
		certs_config_free(c);
		return -1;
	}
	if (c->eab_kid != NULL && c->eab_key_file == NULL) {
		*cause = xstrdup("tls.letsencrypt.eab_kid is set but "
				 "eab_hmac_key_file is not");
		certs_config_free(c);
		return -1;
	}
	return 0;
}

static void
certs_set(json_t *obj, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(obj, key, json_string(value));
}

json_t *
certs_config_json(const struct certs_config *c)
{
	json_t *root, *names, *acme, *prov;
	size_t i;

	names = json_array();
	for (i = 0; i < c->nnames; i++)
		json_array_append_new(names, json_string(c->names[i]));
	root = json_pack("{s:i,s:s,s:s,s:o,s:s}", "version", 1, "mode",
	    certs_mode_name(c->mode), "hostname", c->hostname, "names", names,
	    "key_type", pki_key_type_name(c->key_type));
	if (c->mode == TLS_MODE_LETSENCRYPT) {
		acme = json_object();
		certs_set(acme, "directory",
		    c->directory != NULL ? c->directory
					 : ACME_DEFAULT_DIRECTORY);
		certs_set(acme, "ca_file", c->ca_file);
		certs_set(acme, "email", c->email);
		certs_set(acme, "eab_kid", c->eab_kid);
		certs_set(acme, "eab_hmac_key_file", c->eab_key_file);
		certs_set(acme, "webroot", c->webroot);
		certs_set(acme, "challenge_address", c->challenge_address);
		json_object_set_new(
		    acme, "challenge_port", json_integer(c->challenge_port));
		json_object_set_new(root, "letsencrypt", acme);
	}
	if (c->mode == TLS_MODE_PROVIDED) {
		prov = json_object();
		certs_set(prov, "cert", c->cert);
		certs_set(prov, "key", c->key);
		certs_set(prov, "chain", c->chain);
		json_object_set_new(root, "provided", prov);
	}
	return root;
}

static char *
certs_get(json_t *obj, const char *key)
{
	return certs_dup(json_string_value(json_object_get(obj, key)));
}

int
certs_config_load(const char *dir, struct certs_config *c, char **cause)
{
	json_t *root, *names, *v, *acme, *prov;
	char *path, *text;
	size_t len, i;

	memset(c, 0, sizeof *c);
	path = xasprintf("%s/%s", dir, CERTS_STATE);
	text = file_read(path, CERTS_STATE_MAX, &len, cause);
	if (text == NULL) {
		free(*cause);
		*cause = xasprintf("'%s' cannot be read, so there is no "
				   "certificate to renew; run chatstack "
				   "install (or certs ensure) first",
		    path);
		free(path);
		return -1;
	}
	root = json_loadb(text, len, 0, NULL);
	free(text);
	names = json_object_get(root, "names");
	if (!json_is_object(root) ||
	    certs_mode_parse(json_string_value(json_object_get(root, "mode")),
		&c->mode) == -1 ||
	    !json_is_string(json_object_get(root, "hostname")) ||
	    !json_is_array(names) || json_array_size(names) == 0 ||
	    pki_key_type_parse(
		json_string_value(json_object_get(root, "key_type")),
		&c->key_type) == -1) {
		json_decref(root);
		*cause = xasprintf("'%s' is damaged; run certs ensure to "
				   "write it again",
		    path);
		free(path);
		return -1;
	}
	free(path);
	c->hostname = certs_get(root, "hostname");
	json_array_foreach(names, i, v)
	{
		if (json_is_string(v))
			certs_add_name(c, json_string_value(v));
	}
	acme = json_object_get(root, "letsencrypt");
	c->directory = certs_get(acme, "directory");
	c->ca_file = certs_get(acme, "ca_file");
	c->email = certs_get(acme, "email");
	c->eab_kid = certs_get(acme, "eab_kid");
	c->eab_key_file = certs_get(acme, "eab_hmac_key_file");
	c->webroot = certs_get(acme, "webroot");
	c->challenge_address = certs_get(acme, "challenge_address");
	c->challenge_port =
	    (int)json_integer_value(json_object_get(acme, "challenge_port"));
	if (c->challenge_port <= 0)
		c->challenge_port = 80;
	prov = json_object_get(root, "provided");
	c->cert = certs_get(prov, "cert");
	c->key = certs_get(prov, "key");
	c->chain = certs_get(prov, "chain");
	json_decref(root);
	return 0;
}

static int
certs_is_address(const char *s)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, s, addr) == 1 ||
	    inet_pton(AF_INET6, s, addr) == 1;
}

/* Renewal looks at certs.json, but the command line can say otherwise. */
void
certs_config_override(struct certs_config *c, const struct certs_opts *o)
{
	size_t i, n;

	if (o->webroot != NULL) {
		free(c->webroot);
		c->webroot = xstrdup(o->webroot);
	}
	if (o->challenge_address != NULL) {
		free(c->challenge_address);
		c->challenge_address = xstrdup(o->challenge_address);
	}
	if (o->challenge_port > 0)
		c->challenge_port = o->challenge_port;
	if (c->mode == TLS_MODE_SELFSIGNED && o->naddresses > 0) {
		n = c->nnames;
		c->nnames = 0;
		for (i = 0; i < n; i++) {
			if (certs_is_address(c->names[i]))
				free(c->names[i]);
			else
				c->names[c->nnames++] = c->names[i];
		}
		for (i = 0; i < o->naddresses; i++)
			certs_add_name(c, o->addresses[i]);
	}
}

/* How challenges were answered last time, unless opts say otherwise. */
void
certs_config_keep_challenge(
    const char *dir, const struct certs_opts *o, struct certs_config *c)
{
	struct certs_config old;
	char *cause = NULL;

	if (certs_config_load(dir, &old, &cause) == -1) {
		free(cause);
		return;
	}
	if (o->webroot == NULL && old.webroot != NULL) {
		free(c->webroot);
		c->webroot = xstrdup(old.webroot);
	}
	if (o->challenge_address == NULL && old.challenge_address != NULL) {
		free(c->challenge_address);
		c->challenge_address = xstrdup(old.challenge_address);
	}
	if (o->challenge_port <= 0)
		c->challenge_port = old.challenge_port;
	certs_config_free(&old);
}
