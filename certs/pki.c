#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "fileio.h"
#include "pki.h"
#include "xmalloc.h"

/* What a DNS name in a certificate may hold (with '*' for wildcards). */
#define PKI_HOST_CHARS                                                         \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*"

/* Private keys and certificates are small; anything larger is not one. */
#define PKI_FILE_MAX (1024 * 1024)

char *
pki_error(const char *fallback)
{
	unsigned long e;
	const char *reason;

	e = ERR_peek_last_error();
	ERR_clear_error();
	if (e == 0 || (reason = ERR_reason_error_string(e)) == NULL)
		return xstrdup(fallback);
	return xstrdup(reason);
}

int
pki_key_type_parse(const char *s, enum pki_key_type *t)
{
	if (s == NULL || strcmp(s, "ec256") == 0)
		*t = PKI_KEY_EC256;
	else if (strcmp(s, "rsa2048") == 0)
		*t = PKI_KEY_RSA2048;
	else
		return -1;
	return 0;
}

const char *
pki_key_type_name(enum pki_key_type t)
{
	return t == PKI_KEY_RSA2048 ? "rsa2048" : "ec256";
}

int
pki_key_type_of(EVP_PKEY *key)
{
	char group[64];
	size_t len;

	if (EVP_PKEY_is_a(key, "RSA"))
		return EVP_PKEY_get_bits(key) == 2048 ? PKI_KEY_RSA2048 : -1;
	if (!EVP_PKEY_is_a(key, "EC"))
		return -1;
	if (!EVP_PKEY_get_utf8_string_param(
		key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len))
		return -1;
	return strcmp(group, "prime256v1") == 0 ? PKI_KEY_EC256 : -1;
}

EVP_PKEY *
pki_key_generate(enum pki_key_type t, char **cause)
{
	EVP_PKEY *key;

	if (t == PKI_KEY_RSA2048)
		key = EVP_RSA_gen(2048);
	else
		key = EVP_EC_gen("P-256");
	if (key == NULL) {
		*cause = xasprintf("cannot generate a %s key: %s",
		    pki_key_type_name(t), pki_error("unknown error"));
	}
	return key;
}

EVP_PKEY *
pki_key_parse(const char *pem, size_t len, const char *name, char **cause)
{
	BIO *bio;
	EVP_PKEY *key;

	bio = BIO_new_mem_buf(pem, (int)len);
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL) {
		ERR_clear_error();
		*cause = xasprintf("'%s' holds no PEM private key", name);
	}
	return key;
}

EVP_PKEY *
pki_key_load(const char *path, char **cause)
{
	char *pem;
	size_t len;
	EVP_PKEY *key;

	if ((pem = file_read(path, PKI_FILE_MAX, &len, cause)) == NULL)
		return NULL;
	key = pki_key_parse(pem, len, path, cause);
	explicit_bzero(pem, len);
	free(pem);
	return key;
}

int
pki_key_save(EVP_PKEY *key, const char *path, int *changed, char **cause)
{
	struct atomic_opts o = ATOMIC_OPTS(0600);
	BIO *bio;
	char *data;
	long len;
	int rc;

	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		bio = BIO_new(BIO_s_mem());
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		*cause = xasprintf("cannot encode the key for '%s': %s", path,
		    pki_error("unknown error"));
		return -1;
	}
	len = BIO_get_mem_data(bio, &data);
	rc = atomic_write(path, data, (size_t)len, &o, changed, cause);
	BIO_free(bio);
	return rc;
}

EVP_PKEY *
pki_key_load_or_create(
    const char *path, enum pki_key_type t, int *created, char **cause)
{
	struct stat sb;
	EVP_PKEY *key;

	*created = 0;
	if (stat(path, &sb) == 0) {
		if ((sb.st_mode & 077) != 0) {
			*cause =
			    xasprintf("key file '%s' is open to group "
				      "or others (mode %04o); chmod 600 it",
				path, (unsigned)(sb.st_mode & 07777));
			return NULL;
		}
		return pki_key_load(path, cause);
	}
	if (errno != ENOENT) {
		*cause =
		    xasprintf("cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	if ((key = pki_key_generate(t, cause)) == NULL)
		return NULL;
	if (pki_key_save(key, path, NULL, cause) == -1) {
		EVP_PKEY_free(key);
		return NULL;
	}
	*created = 1;
	return key;
}

char *
pki_b64url(const void *data, size_t len)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char *out, *o;
	size_t i;
	unsigned v;

	out = o = xmalloc(((len + 2) / 3) * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = set[(v >> 18) & 63];
		*o++ = set[(v >> 12) & 63];
		*o++ = set[(v >> 6) & 63];
		*o++ = set[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned)p[i] << 16;
		*o++ = set[(v >> 18) & 63];
		*o++ = set[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		*o++ = set[(v >> 18) & 63];
		*o++ = set[(v >> 12) & 63];
		*o++ = set[(v >> 6) & 63];
	}
	*o = '\0';
	return out;
}

static int
pki_b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

int
pki_b64_decode(const char *s, struct buf *out)
{
	unsigned v = 0;
	int bits = 0, d;
	unsigned char c;

	/* Sized once, so a decoded key never stays in a freed block. */
	buf_grow(out, strlen(s) / 4 * 3 + 3);
	for (; *s != '\0'; s++) {
		if (*s == '=')
			break;
		if ((d = pki_b64_value((unsigned char)*s)) == -1)
			return -1;
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			c = (unsigned char)(v >> bits);
			buf_add(out, &c, 1);
		}
	}
	for (; *s == '='; s++)
		;
	if (*s != '\0' || bits >= 6)
		return -1;
	return 0;
}

int
pki_es256_sign(
    EVP_PKEY *key, const void *data, size_t len, struct buf *sig, char **cause)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL, raw[64];
	const unsigned char *p;
	const BIGNUM *r, *s;
	size_t derlen;
	int rc = -1;

	if (pki_key_type_of(key) != PKI_KEY_EC256) {
		*cause = xstrdup("the account key is not a P-256 key");
		return -1;
	}
	ctx = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &derlen, data, len) != 1)
		goto fail;
	der = xmalloc(derlen);
	if (EVP_DigestSign(ctx, der, &derlen, data, len) != 1)
		goto fail;
	p = der;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto fail;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 ||
	    BN_bn2binpad(s, raw + 32, 32) != 32)
		goto fail;
	buf_add(sig, raw, sizeof raw);
	rc = 0;
	goto out;

fail:
	*cause = xasprintf("cannot sign: %s", pki_error("unknown error"));
out:
	ECDSA_SIG_free(es);
	free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

void
pki_hs256(const void *key, size_t keylen, const void *data, size_t len,
    struct buf *sig)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), key, (int)keylen, data, len, md, &mdlen);
	buf_add(sig, md, mdlen);
	explicit_bzero(md, sizeof md);
}

static char *
pki_bn_b64url(EVP_PKEY *key, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char raw[32];
	char *s = NULL;

	if (EVP_PKEY_get_bn_param(key, param, &bn) &&
	    BN_bn2binpad(bn, raw, sizeof raw) == sizeof raw)
		s = pki_b64url(raw, sizeof raw);
	BN_free(bn);
	return s;
}

json_t *
pki_jwk(EVP_PKEY *key, char **cause)
{
	char *x = NULL, *y = NULL;
	json_t *jwk = NULL;

	if (pki_key_type_of(key) != PKI_KEY_EC256) {
		*cause = xstrdup("the account key is not a P-256 key");
		return NULL;
	}
	x = pki_bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_X);
	y = pki_bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_Y);
	if (x == NULL || y == NULL)
		*cause = xstrdup("cannot read the account key's public point");
	else
		jwk = json_pack("{s:s,s:s,s:s,s:s}", "crv", "P-256", "kty",
		    "EC", "x", x, "y", y);
	free(x);
	free(y);
	return jwk;
}

char *
pki_jwk_thumbprint(const json_t *jwk)
{
	unsigned char md[32];
	char *text, *out;

	/* RFC 7638: the required members, sorted, without whitespace. */
	text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	SHA256((unsigned char *)text, strlen(text), md);
	free(text);
	out = pki_b64url(md, sizeof md);
	return out;
}

/* Returns a GENERAL_NAMES of DNS names and IP addresses. */
static GENERAL_NAMES *
pki_general_names(char *const *names, size_t n, char **cause)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *g;
	ASN1_IA5STRING *dns;
	ASN1_OCTET_STRING *ip;
	unsigned char addr[16];
	size_t i;

	gens = sk_GENERAL_NAME_new_null();
	for (i = 0; i < n; i++) {
		g = GENERAL_NAME_new();
		if (inet_pton(AF_INET, names[i], addr) == 1 ||
		    inet_pton(AF_INET6, names[i], addr) == 1) {
			ip = ASN1_OCTET_STRING_new();
			ASN1_OCTET_STRING_set(
			    ip, addr, strchr(names[i], ':') != NULL ? 16 : 4);
			GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		} else {
			if (names[i][0] == '\0' ||
			    strspn(names[i], PKI_HOST_CHARS) !=
				strlen(names[i])) {
				GENERAL_NAME_free(g);
				GENERAL_NAMES_free(gens);
				*cause = xasprintf(
				    "'%s' is not a valid host name", names[i]);
				return NULL;
			}
			dns = ASN1_IA5STRING_new();
			ASN1_STRING_set(dns, names[i], -1);
			GENERAL_NAME_set0_value(g, GEN_DNS, dns);
		}
		sk_GENERAL_NAME_push(gens, g);
	}
	return gens;
}

int
pki_add_san(X509 *x, char *const *names, size_t n, char **cause)
{
	GENERAL_NAMES *gens;
	int ok;

	if ((gens = pki_general_names(names, n, cause)) == NULL)
		return -1;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
	GENERAL_NAMES_free(gens);
	if (ok != 1) {
		*cause = pki_error("cannot add the subject alternative names");
		return -1;
	}
	return 0;
}

int
pki_csr(
    EVP_PKEY *key, char *const *names, size_t n, struct buf *der, char **cause)
{
	X509_REQ *req = NULL;
	X509_NAME *subject;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	unsigned char *p = NULL;
	int len, rc = -1;

	if (n == 0) {
		*cause = xstrdup("a certificate request needs a name");
		return -1;
	}
	if ((gens = pki_general_names(names, n, cause)) == NULL)
		return -1;
	req = X509_REQ_new();
	subject = X509_REQ_get_subject_name(req);
	if (!X509_REQ_set_version(req, 0) ||
	    (strlen(names[0]) <= 64 &&
		!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
		    (const unsigned char *)names[0], -1, -1, 0)) ||
	    !X509V3_add1_i2d(
		&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) ||
	    !X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_sign(req, key, EVP_sha256()) ||
	    (len = i2d_X509_REQ(req, &p)) <= 0) {
		*cause = xasprintf("cannot create the certificate request: %s",
		    pki_error("unknown error"));
		goto out;
	}
	buf_add(der, p, (size_t)len);
	rc = 0;

out:
	OPENSSL_free(p);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
	return rc;
}

STACK_OF(X509) *
    pki_certs_parse(const char *pem, size_t len, const char *name, char **cause)
{
	STACK_OF(X509) * certs;
	BIO *bio;
	X509 *x;

	certs = sk_X509_new_null();
	bio = BIO_new_mem_buf(pem, (int)len);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(certs, x);
	BIO_free(bio);
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		*cause = xasprintf("'%s' holds no PEM certificate", name);
		return NULL;
	}
	return certs;
}

STACK_OF(X509) * pki_certs_load(const char *path, char **cause)
{
	STACK_OF(X509) * certs;
	char *pem;
	size_t len;

	if ((pem = file_read(path, PKI_FILE_MAX, &len, cause)) == NULL)
		return NULL;
	certs = pki_certs_parse(pem, len, path, cause);
	free(pem);
	return certs;
}

void
pki_certs_free(STACK_OF(X509) * certs)
{
	sk_X509_pop_free(certs, X509_free);
}

void
pki_cert_pem(X509 *x, struct buf *out)
{
	BIO *bio;
	char *data;
	long len;

	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, x);
	len = BIO_get_mem_data(bio, &data);
	buf_add(out, data, (size_t)len);
	BIO_free(bio);
}

static char *
pki_name_string(const X509_NAME *name)
{
	BIO *bio;
	char *data, *s;
	long len;

	bio = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(bio, name, 0,
	    (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) |
		ASN1_STRFLGS_UTF8_CONVERT);
	len = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, (size_t)len);
	BIO_free(bio);
	return s;
}

static time_t
pki_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void
pki_info_add_name(struct pki_info *info, char *name)
{
	info->names =
	    xreallocarray(info->names, info->nnames + 1, sizeof *info->names);
	info->names[info->nnames++] = name;
}

void
pki_info_get(X509 *x, struct pki_info *info)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const unsigned char *data;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char addr[INET6_ADDRSTRLEN], *name, *safe;
	struct buf fp;
	int j, len;

	memset(info, 0, sizeof *info);
	info->subject = pki_name_string(X509_get_subject_name(x));
	info->issuer = pki_name_string(X509_get_issuer_name(x));
	info->not_before = pki_asn1_time(X509_get0_notBefore(x));
	info->not_after = pki_asn1_time(X509_get0_notAfter(x));
	info->self_issued = X509_check_issued(x, x) == X509_V_OK;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (j = 0; j < sk_GENERAL_NAME_num(gens); j++) {
		g = sk_GENERAL_NAME_value(gens, j);
		if (g->type == GEN_DNS) {
			data = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			name = xstrndup((const char *)data, (size_t)len);
			/* Names are shown: anything but a host name is escaped. */
			if (strlen(name) != (size_t)len ||
			    strspn(name, PKI_HOST_CHARS) != strlen(name)) {
				free(name);
				safe = xmalloc((size_t)len + 1);
				memcpy(safe, data, (size_t)len);
				safe[len] = '\0';
				buf_init(&fp);
				buf_add_escaped(&fp, safe, (size_t)len);
				free(safe);
				name = buf_detach(&fp, NULL);
			}
			pki_info_add_name(info, name);
		} else if (g->type == GEN_IPADD) {
			data = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if ((len == 4 &&
				inet_ntop(AF_INET, data, addr, sizeof addr) !=
				    NULL) ||
			    (len == 16 &&
				inet_ntop(AF_INET6, data, addr, sizeof addr) !=
				    NULL))
				pki_info_add_name(info, xstrdup(addr));
		}
	}
	GENERAL_NAMES_free(gens);

	X509_digest(x, EVP_sha256(), md, &mdlen);
	buf_init(&fp);
	for (i = 0; i < mdlen; i++)
		buf_printf(&fp, "%s%02X", i == 0 ? "" : ":", md[i]);
	info->fingerprint = buf_detach(&fp, NULL);
}

void
pki_info_free(struct pki_info *info)
{
	size_t i;

	free(info->subject);
	free(info->issuer);
	for (i = 0; i < info->nnames; i++)
		free(info->names[i]);
	free(info->names);
	free(info->fingerprint);
	memset(info, 0, sizeof *info);
}

time_t
pki_renew_after(const struct pki_info *info)
{
	time_t life;

	life = info->not_after - info->not_before;
	if (life < 0)
		life = 0;
	return info->not_after - life / 3;
}

int
pki_names_equal(const struct pki_info *info, char *const *names, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < info->nnames; j++) {
			if (strcasecmp(info->names[j], names[i]) == 0)
				break;
		}
		if (j == info->nnames)
			return 0;
	}
	for (j = 0; j < info->nnames; j++) {
		for (i = 0; i < n; i++) {
			if (strcasecmp(info->names[j], names[i]) == 0)
				break;
		}
		if (i == n)
			return 0;
	}
	return 1;
}

char *
pki_time_string(time_t t)
{
	struct tm tm;
	char s[64];

	gmtime_r(&t, &tm);
	strftime(s, sizeof s, "%Y-%m-%d %H:%M UTC", &tm);
	return xstrdup(s);
}
