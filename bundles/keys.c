/*
 * Ed25519 keys for bundles, through OpenSSL's EVP interface: key pairs,
 * signing (at build time) and the set of trusted public keys that
 * verification accepts.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bundle.h"
#include "xmalloc.h"

#define KEYS_MAX 64

struct bundle_key {
	EVP_PKEY *pkey;
	char id[17];
	char *origin;
};

struct bundle_keys {
	struct bundle_key keys[KEYS_MAX];
	size_t n;
};

static char *
keys_ssl_error(void)
{
	unsigned long e = ERR_get_error();
	char text[256];

	ERR_clear_error();
	if (e == 0)
		return xstrdup("unknown OpenSSL error");
	ERR_error_string_n(e, text, sizeof text);
	return xstrdup(text);
}

/* The key id: the first 8 bytes of SHA-256 over the raw public key. */
static int
keys_id(EVP_PKEY *pkey, char *id)
{
	unsigned char raw[32], md[32];
	size_t rawlen = sizeof raw, i;
	unsigned int mdlen;

	if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
		return -1;
	if (EVP_Digest(raw, rawlen, md, &mdlen, EVP_sha256(), NULL) != 1)
		return -1;
	for (i = 0; i < 8; i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	return 0;
}

struct bundle_keys *
bundle_keys_new(void)
{
	return xcalloc(1, sizeof(struct bundle_keys));
}

void
bundle_keys_free(struct bundle_keys *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->keys[i].pkey);
		free(ks->keys[i].origin);
	}
	free(ks);
}

size_t
bundle_keys_count(const struct bundle_keys *ks)
{
	return ks->n;
}

int
bundle_keys_add_file(struct bundle_keys *ks, const char *path, char **cause)
{
	EVP_PKEY *pkey = NULL;
	FILE *f = NULL;
	char *why, id[17];
	size_t i;
	int rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf(
		    "cannot open key '%s': %s", path, strerror(errno));
		goto out;
	}
	pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (pkey == NULL) {
		/* A private key file also gives its public half. */
		ERR_clear_error();
		rewind(f);
		pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	}
	if (pkey == NULL) {
		why = keys_ssl_error();
		*cause = xasprintf("cannot read key '%s': %s", path, why);
		free(why);
		goto out;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		*cause = xasprintf("key '%s' is not an Ed25519 key", path);
		goto out;
	}
	if (keys_id(pkey, id) != 0) {
		*cause = xasprintf("cannot read key '%s'", path);
		goto out;
	}
	for (i = 0; i < ks->n; i++) {
		if (strcmp(ks->keys[i].id, id) == 0) {
			rc = 0; /* the same key twice: once is enough */
			goto out;
		}
	}
	if (ks->n == KEYS_MAX) {
		*cause =
		    xasprintf("too many trusted keys (at most %d)", KEYS_MAX);
		goto out;
	}
	ks->keys[ks->n].pkey = pkey;
	memcpy(ks->keys[ks->n].id, id, sizeof id);
	ks->keys[ks->n].origin = xstrdup(path);
	ks->n++;
	pkey = NULL;
	rc = 0;

out:
	EVP_PKEY_free(pkey);
	if (f != NULL)
		fclose(f);
	return rc;
}

static int
keys_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bundle_keys_add_dir(struct bundle_keys *ks, const char *dir, char **cause)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, *path;
	size_t n = 0, i, len;
	int rc = 0;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		*cause =
		    xasprintf("cannot open '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 5 ||
		    strcmp(de->d_name + len - 4, ".pub") != 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, keys_cmp_name);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		if (rc == 0 && bundle_keys_add_file(ks, path, cause) != 0)
			rc = -1;
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
bundle_keys_add_default(struct bundle_keys *ks, char **cause)
{
	char exe[PATH_MAX], *slash, *dir;
	ssize_t n;
	int rc;

	if (bundle_keys_add_dir(ks, BUNDLE_TRUSTED_DIR, cause) != 0)
		return -1;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return 0;
	*slash = '\0';
	dir = xasprintf("%s/../share/trusted-keys", exe);
	rc = bundle_keys_add_dir(ks, dir, cause);
	free(dir);
	return rc;
}

int
bundle_keys_verify(const struct bundle_keys *ks, const void *data, size_t len,
    const unsigned char *sig, size_t siglen, const char **id, char **cause)
{
	EVP_MD_CTX *ctx;
	size_t i;
	int ok;

	if (ks == NULL || ks->n == 0) {
		*cause = xasprintf("no trusted keys: put the signer's public "
				   "key in %s",
		    BUNDLE_TRUSTED_DIR);
		return -1;
	}
	if (siglen != BUNDLE_SIG_LEN) {
		*cause = xasprintf("signature '%s' is %zu bytes, not %d",
		    BUNDLE_SIG_NAME, siglen, BUNDLE_SIG_LEN);
		return -1;
	}
	for (i = 0; i < ks->n; i++) {
		if ((ctx = EVP_MD_CTX_new()) == NULL)
			continue;
		ok = EVP_DigestVerifyInit(
			 ctx, NULL, NULL, NULL, ks->keys[i].pkey) == 1 &&
		    EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
		EVP_MD_CTX_free(ctx);
		if (ok) {
			*id = ks->keys[i].id;
			return 0;
		}
	}
	ERR_clear_error();
	*cause =
	    xasprintf("signature '%s' does not match '%s' under any "
		      "trusted key (%zu tried): the manifest or its "
		      "signature was changed, or the signer is not trusted",
		BUNDLE_SIG_NAME, BUNDLE_MANIFEST_NAME, ks->n);
	return -1;
}

static int
keys_write_pem(
    const char *path, mode_t mode, EVP_PKEY *pkey, int private, char **cause)
{
	FILE *f = NULL;
	char *why;
	int fd, ok, rc = -1;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1) {
		*cause =
		    xasprintf("cannot create '%s': %s", path, strerror(errno));
		return -1;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		*cause =
		    xasprintf("cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	if (private)
		ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_PUBKEY(f, pkey);
	if (!ok || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		why = keys_ssl_error();
		*cause = xasprintf("cannot write '%s': %s", path, why);
		free(why);
		goto out;
	}
	rc = 0;

out:
	if (f != NULL && fclose(f) != 0 && rc == 0) {
		*cause =
		    xasprintf("cannot write '%s': %s", path, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(path);
	return rc;
}

int
bundle_keygen(const char *path, char **cause)
{
	EVP_PKEY *pkey = NULL;
	char *pub = NULL, *why;
	int rc = -1;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		why = keys_ssl_error();
		*cause = xasprintf("cannot make an Ed25519 key: %s", why);
		free(why);
		goto out;
	}
	pub = xasprintf("%s.pub", path);
	if (keys_write_pem(path, 0600, pkey, 1, cause) != 0)
		goto out;
	if (keys_write_pem(pub, 0644, pkey, 0, cause) != 0) {
		unlink(path);
		goto out;
	}
	rc = 0;

out:
	free(pub);
	EVP_PKEY_free(pkey);
	return rc;
}

int
bundle_sign(const char *keypath, const void *data, size_t len,
    unsigned char *sig, char **cause)
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	FILE *f = NULL;
	struct stat sb;
	size_t siglen = BUNDLE_SIG_LEN;
	char *why;
	int rc = -1;

	if ((f = fopen(keypath, "r")) == NULL) {
		*cause = xasprintf("cannot open signing key '%s': %s", keypath,
		    strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077) != 0) {
		*cause = xasprintf("signing key '%s' is readable by others "
				   "(mode %04o); chmod 600 it",
		    keypath, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (pkey == NULL || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		*cause =
		    xasprintf("'%s' is not an Ed25519 private key", keypath);
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, data, len) != 1 ||
	    siglen != BUNDLE_SIG_LEN) {
		why = keys_ssl_error();
		*cause = xasprintf("cannot sign with '%s': %s", keypath, why);
		free(why);
		goto out;
	}
	rc = 0;

out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	if (f != NULL)
		fclose(f);
	return rc;
}
