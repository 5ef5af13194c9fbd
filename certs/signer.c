#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileio.h"
#include "signer.h"
#include "xmalloc.h"

/* Messages between the two sides are small JSON objects. */
#define SIGNER_MESSAGE_MAX (256 * 1024)
#define SIGNER_HMAC_FILE_MAX 4096

/* The side that holds the keys. */
struct signer_keys {
	EVP_PKEY *account;
	EVP_PKEY *pending; /* the certificate key of the last request */
	json_t *jwk;
};

struct signer {
	enum signer_kind kind;
	struct signer_keys keys; /* SIGNER_LOCAL */
	int fd; /* SIGNER_PROCESS */
	pid_t pid;
	json_t *jwk;
	char *thumbprint;
};

static json_t *
signer_error(char *cause)
{
	json_t *r;

	r = json_pack("{s:s}", "error", cause);
	free(cause);
	return r;
}

static json_t *
signer_do_hello(struct signer_keys *k, json_t *req)
{
	const char *path;
	char *cause = NULL;
	int created;

	path = json_string_value(json_object_get(req, "path"));
	if (path == NULL || k->account != NULL)
		return signer_error(xstrdup("the account key is loaded once"));
	k->account =
	    pki_key_load_or_create(path, PKI_KEY_EC256, &created, &cause);
	if (k->account == NULL)
		return signer_error(cause);
	if ((k->jwk = pki_jwk(k->account, &cause)) == NULL)
		return signer_error(cause);
	return json_pack("{s:O,s:b}", "jwk", k->jwk, "created", created);
}

static json_t *
signer_do_sign(struct signer_keys *k, json_t *req)
{
	struct buf data = BUF_INIT, sig = BUF_INIT;
	const char *s;
	char *cause = NULL, *out;
	json_t *r;

	s = json_string_value(json_object_get(req, "data"));
	if (s == NULL || pki_b64_decode(s, &data) == -1) {
		buf_free(&data);
		return signer_error(xstrdup("malformed data to sign"));
	}
	if (pki_es256_sign(k->account, data.data, data.len, &sig, &cause) ==
	    -1) {
		buf_free(&data);
		return signer_error(cause);
	}
	out = pki_b64url(sig.data, sig.len);
	r = json_pack("{s:s}", "sig", out);
	free(out);
	buf_free(&data);
	buf_free(&sig);
	return r;
}

static json_t *
signer_do_csr(struct signer_keys *k, json_t *req)
{
	struct buf der = BUF_INIT;
	enum pki_key_type t;
	json_t *names, *r;
	char **v = NULL, *cause = NULL, *out;
	size_t i, n;

	names = json_object_get(req, "names");
	if (pki_key_type_parse(
		json_string_value(json_object_get(req, "type")), &t) == -1 ||
	    !json_is_array(names) || json_array_size(names) == 0)
		return signer_error(xstrdup("malformed certificate request"));
	n = json_array_size(names);
	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		if (!json_is_string(json_array_get(names, i))) {
			free(v);
			return signer_error(xstrdup("malformed name"));
		}
		v[i] = (char *)json_string_value(json_array_get(names, i));
	}
	EVP_PKEY_free(k->pending);
	if ((k->pending = pki_key_generate(t, &cause)) == NULL ||
	    pki_csr(k->pending, v, n, &der, &cause) == -1) {
		free(v);
		return signer_error(cause);
	}
	out = pki_b64url(der.data, der.len);
	r = json_pack("{s:s}", "der", out);
	free(out);
	free(v);
	buf_free(&der);
	return r;
}

static json_t *
signer_do_commit(struct signer_keys *k, json_t *req)
{
	const char *path;
	char *cause = NULL;
	int changed;

	path = json_string_value(json_object_get(req, "path"));
	if (path == NULL || k->pending == NULL)
		return signer_error(xstrdup("no certificate key to write"));
	if (pki_key_save(k->pending, path, &changed, &cause) == -1)
		return signer_error(cause);
	return json_pack("{s:b}", "changed", changed);
}

static json_t *
signer_do_eab(struct signer_keys *k, json_t *req)
{
	struct buf key = BUF_INIT, sig = BUF_INIT, input = BUF_INIT;
	const char *kid, *file, *url;
	char *text = NULL, *cause = NULL, *p, *prot = NULL, *payload = NULL;
	char *sigtext = NULL;
	json_t *hdr = NULL, *r = NULL;
	size_t len;

	kid = json_string_value(json_object_get(req, "kid"));
	file = json_string_value(json_object_get(req, "key_file"));
	url = json_string_value(json_object_get(req, "url"));
	if (kid == NULL || file == NULL || url == NULL) {
		r = signer_error(xstrdup("malformed binding request"));
		goto out;
	}
	text = file_read(file, SIGNER_HMAC_FILE_MAX, &len, &cause);
	if (text == NULL) {
		r = signer_error(xasprintf(
		    "cannot read the External Account Binding key: %s", cause));
		free(cause);
		goto out;
	}
	for (p = text + len; p > text && strchr(" \t\r\n", p[-1]); p--)
		p[-1] = '\0';
	p = text + strspn(text, " \t\r\n");
	if (*p == '\0' || pki_b64_decode(p, &key) == -1) {
		r = signer_error(xasprintf("the External Account Binding key "
					   "in '%s' is not base64url text",
		    file));
		goto out;
	}

	hdr =
	    json_pack("{s:s,s:s,s:s}", "alg", "HS256", "kid", kid, "url", url);
	p = json_dumps(hdr, JSON_COMPACT);
	prot = pki_b64url(p, strlen(p));
	free(p);
	p = json_dumps(k->jwk, JSON_COMPACT | JSON_SORT_KEYS);
	payload = pki_b64url(p, strlen(p));
	free(p);
	buf_printf(&input, "%s.%s", prot, payload);
	pki_hs256(key.data, key.len, input.data, input.len, &sig);
	sigtext = pki_b64url(sig.data, sig.len);
	r = json_pack("{s:{s:s,s:s,s:s}}", "eab", "protected", prot, "payload",
	    payload, "signature", sigtext);

out:
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	buf_wipe(&key);
	buf_free(&sig);
	buf_free(&input);
	json_decref(hdr);
	free(prot);
	free(payload);
	free(sigtext);
	return r;
}

static const struct {
	const char *op;
	json_t *(*fn)(struct signer_keys *, json_t *);
} signer_ops[] = {
    {"hello", signer_do_hello},
    {"sign", signer_do_sign},
    {"csr", signer_do_csr},
    {"commit", signer_do_commit},
    {"eab", signer_do_eab},
};

static json_t *
signer_handle(struct signer_keys *k, json_t *req)
{
	const char *op;
	size_t i;

	op = json_string_value(json_object_get(req, "op"));
	if (op == NULL)
		return signer_error(xstrdup("request without an operation"));
	if (strcmp(op, "hello") != 0 && k->account == NULL)
		return signer_error(xstrdup("no account key loaded"));
	for (i = 0; i < sizeof signer_ops / sizeof signer_ops[0]; i++) {
		if (strcmp(signer_ops[i].op, op) == 0)
			return signer_ops[i].fn(k, req);
	}
	return signer_error(xasprintf("unknown operation '%s'", op));
}

static void
signer_keys_free(struct signer_keys *k)
{
	EVP_PKEY_free(k->account);
	EVP_PKEY_free(k->pending);
	json_decref(k->jwk);
	memset(k, 0, sizeof *k);
}

static int
signer_io(int fd, void *p, size_t len, int writing)
{
	char *c = p;
	ssize_t n;

	while (len > 0) {
		n = writing ? write(fd, c, len) : read(fd, c, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
signer_send(int fd, json_t *msg)
{
	uint32_t hdr;
	char *text;
	int rc;

	text = json_dumps(msg, JSON_COMPACT);
	hdr = htonl((uint32_t)strlen(text));
	rc = signer_io(fd, &hdr, sizeof hdr, 1) == -1 ||
		signer_io(fd, text, strlen(text), 1) == -1
	    ? -1
	    : 0;
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
}

static json_t *
signer_receive(int fd)
{
	uint32_t hdr;
	size_t len;
	char *text;
	json_t *msg;

	if (signer_io(fd, &hdr, sizeof hdr, 0) == -1)
		return NULL;
	len = ntohl(hdr);
	if (len > SIGNER_MESSAGE_MAX)
		return NULL;
	text = xmalloc(len + 1);
	if (signer_io(fd, text, len, 0) == -1) {
		free(text);
		return NULL;
	}
	msg = json_loadb(text, len, 0, NULL);
	explicit_bzero(text, len);
	free(text);
	return msg;
}

static __attribute__((noreturn)) void
signer_child(int fd)
{
	struct signer_keys keys;
	json_t *req, *resp;

	memset(&keys, 0, sizeof keys);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* No core dump or ptrace of the keys; no descriptor but its own. */
	prctl(PR_SET_DUMPABLE, 0);
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	while ((req = signer_receive(fd)) != NULL) {
		resp = signer_handle(&keys, req);
		json_decref(req);
		if (signer_send(fd, resp) == -1) {
			json_decref(resp);
			break;
		}
		json_decref(resp);
	}
	signer_keys_free(&keys);
	_exit(0);
}

/* Sends one request and returns the answer, or NULL with *cause set. */
static json_t *
signer_call(struct signer *s, json_t *req, char **cause)
{
	json_t *resp;
	const char *err;

	if (s->kind == SIGNER_LOCAL)
		resp = signer_handle(&s->keys, req);
	else if (signer_send(s->fd, req) == -1 ||
	    (resp = signer_receive(s->fd)) == NULL) {
		json_decref(req);
		*cause = xstrdup("the signer process stopped answering");
		return NULL;
	}
	json_decref(req);
	if ((err = json_string_value(json_object_get(resp, "error"))) != NULL) {
		*cause = xstrdup(err);
		json_decref(resp);
		return NULL;
	}
	return resp;
}

struct signer *
signer_open(
    enum signer_kind kind, const char *account_key, int *created, char **cause)
{
	struct signer *s;
	json_t *resp;
	int sv[2];

	s = xcalloc(1, sizeof *s);
	s->kind = kind;
	s->fd = -1;
	s->pid = -1;
	if (kind == SIGNER_PROCESS) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1) {
			*cause = xasprintf(
			    "cannot create a socket pair: %s", strerror(errno));
			free(s);
			return NULL;
		}
		fflush(NULL);
		if ((s->pid = fork()) == -1) {
			*cause = xasprintf("cannot fork: %s", strerror(errno));
			close(sv[0]);
			close(sv[1]);
			free(s);
			return NULL;
		}
		if (s->pid == 0) {
			close(sv[0]);
			signer_child(sv[1]);
		}
		close(sv[1]);
		s->fd = sv[0];
	}
	resp = signer_call(s,
	    json_pack("{s:s,s:s}", "op", "hello", "path", account_key), cause);
	if (resp == NULL) {
		signer_close(s);
		return NULL;
	}
	s->jwk = json_incref(json_object_get(resp, "jwk"));
	if (created != NULL)
		*created = json_is_true(json_object_get(resp, "created"));
	json_decref(resp);
	if (!json_is_object(s->jwk)) {
		*cause = xstrdup("the signer returned no account key");
		signer_close(s);
		return NULL;
	}
	s->thumbprint = pki_jwk_thumbprint(s->jwk);
	return s;
}

void
signer_close(struct signer *s)
{
	int status;

	if (s == NULL)
		return;
	if (s->fd != -1)
		close(s->fd);
	if (s->pid > 0) {
		while (waitpid(s->pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	signer_keys_free(&s->keys);
	json_decref(s->jwk);
	free(s->thumbprint);
	free(s);
}

json_t *
signer_jwk(struct signer *s)
{
	return s->jwk;
}

const char *
signer_thumbprint(struct signer *s)
{
	return s->thumbprint;
}

/* Decodes the base64url member name of a response into out. */
static int
signer_member(json_t *resp, const char *name, struct buf *out, char **cause)
{
	const char *v;

	v = json_string_value(json_object_get(resp, name));
	if (v == NULL || pki_b64_decode(v, out) == -1) {
		*cause = xasprintf("the signer returned no '%s'", name);
		return -1;
	}
	return 0;
}

int
signer_sign(struct signer *s, const void *data, size_t len, struct buf *sig,
    char **cause)
{
	json_t *resp;
	char *text;
	int rc;

	text = pki_b64url(data, len);
	resp = signer_call(
	    s, json_pack("{s:s,s:s}", "op", "sign", "data", text), cause);
	free(text);
	if (resp == NULL)
		return -1;
	rc = signer_member(resp, "sig", sig, cause);
	json_decref(resp);
	return rc;
}

int
signer_csr(struct signer *s, enum pki_key_type t, char *const *names, size_t n,
    struct buf *der, char **cause)
{
	json_t *req, *list, *resp;
	size_t i;
	int rc;

	list = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(list, json_string(names[i]));
	req = json_pack("{s:s,s:s,s:o}", "op", "csr", "type",
	    pki_key_type_name(t), "names", list);
	if ((resp = signer_call(s, req, cause)) == NULL)
		return -1;
	rc = signer_member(resp, "der", der, cause);
	json_decref(resp);
	return rc;
}

int
signer_commit_key(
    struct signer *s, const char *path, int *changed, char **cause)
{
	json_t *resp;

	resp = signer_call(
	    s, json_pack("{s:s,s:s}", "op", "commit", "path", path), cause);
	if (resp == NULL)
		return -1;
	if (changed != NULL)
		*changed = json_is_true(json_object_get(resp, "changed"));
	json_decref(resp);
	return 0;
}

json_t *
signer_eab(struct signer *s, const char *kid, const char *key_file,
    const char *url, char **cause)
{
	json_t *resp, *eab;

	resp = signer_call(s,
	    json_pack("{s:s,s:s,s:s,s:s}", "op", "eab", "kid", kid, "key_file",
		key_file, "url", url),
	    cause);
	if (resp == NULL)
		return NULL;
	eab = json_incref(json_object_get(resp, "eab"));
	json_decref(resp);
	if (eab == NULL)
		*cause = xstrdup("the signer returned no account binding");
	return eab;
}
