#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"
#include "fileio.h"
#include "localca.h"
#include "xmalloc.h"

static char *
localca_path(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* A random positive 128-bit serial. */
static int
localca_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(raw, sizeof raw) != 1)
		return 0;
	raw[0] &= 0x7f;
	raw[0] |= 0x01;
	bn = BN_bin2bn(raw, sizeof raw, NULL);
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

static int
localca_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate skeleton: version 3, serial, validity, subject, key. */
static X509 *
localca_new_cert(EVP_PKEY *key, const char *cn, long days)
{
	X509 *x;
	X509_NAME *name;

	x = X509_new();
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !localca_serial(x) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ==
		NULL ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
		(const unsigned char *)"chatstack", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_pubkey(x, key)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int
localca_ensure(
    const char *dir, const char *hostname, int *created, char **cause)
{
	struct atomic_opts o = ATOMIC_OPTS(0644);
	struct buf pem = BUF_INIT;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	char *crt, *keypath, *cn = NULL;
	int rc = -1, made = 0;

	*created = 0;
	crt = localca_path(dir, CERTS_CA_CERT);
	keypath = localca_path(dir, CERTS_CA_KEY);
	if (access(crt, F_OK) == 0 && access(keypath, F_OK) == 0) {
		rc = 0;
		goto out;
	}
	if ((key = pki_key_load_or_create(
		 keypath, PKI_KEY_EC256, &made, cause)) == NULL)
		goto out;
	cn = xasprintf("chatstack local CA for %.40s", hostname);
	if ((x = localca_new_cert(key, cn, LOCALCA_DAYS)) == NULL ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !localca_ext(
		x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !localca_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !localca_ext(x, x, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, key, EVP_sha256())) {
		*cause = xasprintf("cannot create the local CA: %s",
		    pki_error("unknown error"));
		goto out;
	}
	pki_cert_pem(x, &pem);
	if (atomic_write(crt, pem.data, pem.len, &o, NULL, cause) == -1)
		goto out;
	*created = 1;
	rc = 0;

out:
	buf_free(&pem);
	X509_free(x);
	EVP_PKEY_free(key);
	free(cn);
	free(crt);
	free(keypath);
	return rc;
}

static int
localca_load(const char *dir, X509 **ca, EVP_PKEY **key, char **cause)
{
	STACK_OF(X509) * certs;
	char *path;

	*ca = NULL;
	path = localca_path(dir, CERTS_CA_CERT);
	certs = pki_certs_load(path, cause);
	free(path);
	if (certs == NULL)
		return -1;
	*ca = sk_X509_shift(certs);
	pki_certs_free(certs);
	if (key == NULL)
		return 0;
	path = localca_path(dir, CERTS_CA_KEY);
	*key = pki_key_load(path, cause);
	free(path);
	if (*key == NULL) {
		X509_free(*ca);
		*ca = NULL;
		return -1;
	}
	return 0;
}

int
localca_issue(const char *dir, char *const *names, size_t n,
    enum pki_key_type t, struct buf *chain, struct buf *keypem, char **cause)
{
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	BIO *bio = NULL;
	char *data;
	long len;
	int rc = -1;

	if (localca_load(dir, &ca, &cakey, cause) == -1)
		return -1;
	if ((key = pki_key_generate(t, cause)) == NULL)
		goto out;
	if ((x = localca_new_cert(key, names[0], LOCALCA_SERVER_DAYS)) ==
		NULL ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    !localca_ext(x, NULL, NID_basic_constraints, "critical,CA:FALSE") ||
	    !localca_ext(x, NULL, NID_key_usage,
		t == PKI_KEY_RSA2048 ? "critical,digitalSignature,"
				       "keyEncipherment"
				     : "critical,digitalSignature") ||
	    !localca_ext(x, NULL, NID_ext_key_usage, "serverAuth") ||
	    !localca_ext(x, ca, NID_authority_key_identifier, "keyid:always")) {
		*cause = xasprintf("cannot create the server certificate: %s",
		    pki_error("unknown error"));
		goto out;
	}
	if (pki_add_san(x, names, n, cause) == -1)
		goto out;
	if (!X509_sign(x, cakey, EVP_sha256())) {
		*cause = xasprintf("cannot sign the server certificate: %s",
		    pki_error("unknown error"));
		goto out;
	}
	pki_cert_pem(x, chain);
	pki_cert_pem(ca, chain);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	len = BIO_get_mem_data(bio, &data);
	buf_add(keypem, data, (size_t)len);
	rc = 0;

out:
	BIO_free(bio);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

int
localca_signed(const char *dir, X509 *leaf)
{
	X509 *ca;
	EVP_PKEY *pub;
	char *cause = NULL;
	int ok;

	if (localca_load(dir, &ca, NULL, &cause) == -1) {
		free(cause);
		return 0;
	}
	pub = X509_get0_pubkey(ca);
	ok = X509_check_issued(ca, leaf) == X509_V_OK && pub != NULL &&
	    X509_verify(leaf, pub) == 1;
	X509_free(ca);
	return ok;
}

char *
localca_fingerprint(const char *dir, char **cause)
{
	struct pki_info info;
	X509 *ca;
	char *fp;

	if (localca_load(dir, &ca, NULL, cause) == -1)
		return NULL;
	pki_info_get(ca, &info);
	fp = xstrdup(info.fingerprint);
	pki_info_free(&info);
	X509_free(ca);
	return fp;
}
