/*
 * Keys, certificate requests and certificates on OpenSSL: the pieces the
 * ACME client, the local CA and the provided-certificate checks share.
 * Errors return -1 (or NULL) with *cause set; the caller frees it.
 */
#ifndef PKI_H
#define PKI_H

#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "buf.h"

enum pki_key_type {
	PKI_KEY_EC256,
	PKI_KEY_RSA2048,
};

/* "ec256" or "rsa2048"; returns -1 for anything else. */
int pki_key_type_parse(const char *, enum pki_key_type *);
const char *pki_key_type_name(enum pki_key_type);
/* The type of a key, or -1 when it is neither P-256 nor RSA-2048. */
int pki_key_type_of(EVP_PKEY *);

EVP_PKEY *pki_key_generate(enum pki_key_type, char **cause);
/* Reads a PEM private key; name is used in errors. */
EVP_PKEY *pki_key_parse(
    const char *pem, size_t len, const char *name, char **cause);
EVP_PKEY *pki_key_load(const char *path, char **cause);
/* Writes the key as PEM (PKCS#8), mode 0600, atomically. */
int pki_key_save(EVP_PKEY *, const char *path, int *changed, char **cause);
/*
 * Loads the key at path, or creates one of type t there (0600) when
 * there is none; *created says which.
 */
EVP_PKEY *pki_key_load_or_create(
    const char *path, enum pki_key_type t, int *created, char **cause);

/* base64url without padding (RFC 4648 section 5); caller frees. */
char *pki_b64url(const void *, size_t);
/* Decodes base64url or base64, padded or not; -1 when malformed. */
int pki_b64_decode(const char *, struct buf *out);

/* ES256: a P-256 signature over SHA-256, as the raw 64-byte r||s. */
int pki_es256_sign(
    EVP_PKEY *, const void *data, size_t len, struct buf *sig, char **cause);
/* HS256 over data with key into sig (32 bytes). */
void pki_hs256(const void *key, size_t keylen, const void *data, size_t len,
    struct buf *sig);
/* The public JWK of a P-256 key ({crv, kty, x, y}); caller decrefs. */
json_t *pki_jwk(EVP_PKEY *, char **cause);
/* RFC 7638 thumbprint, base64url; caller frees. */
char *pki_jwk_thumbprint(const json_t *jwk);

/*
 * A PKCS#10 request signed by key for DNS names (the first also the
 * subject CN), as DER.
 */
int pki_csr(
    EVP_PKEY *, char *const *names, size_t n, struct buf *der, char **cause);

/* Certificates. A PEM file may hold several: the leaf first. */
STACK_OF(X509) *
    pki_certs_parse(
	const char *pem, size_t len, const char *name, char **cause);
STACK_OF(X509) * pki_certs_load(const char *path, char **cause);
void pki_certs_free(STACK_OF(X509) *);
void pki_cert_pem(X509 *, struct buf *out);

/* What status and the renewal rule need to know about a certificate. */
struct pki_info {
	char *subject;
	char *issuer;
	char **names; /* DNS names and IP addresses of the SAN */
	size_t nnames;
	time_t not_before;
	time_t not_after;
	char *fingerprint; /* SHA-256, "AB:CD:..." */
	int self_issued;
};

void pki_info_get(X509 *, struct pki_info *);
void pki_info_free(struct pki_info *);
/* When a third of the lifetime is left, the certificate is due. */
time_t pki_renew_after(const struct pki_info *);
int pki_names_equal(const struct pki_info *, char *const *names, size_t n);
/* "2026-12-03 18:00 UTC"; caller frees. */
char *pki_time_string(time_t);

/*
 * Adds a subjectAltName extension of DNS names and IP addresses (names
 * that parse as addresses become iPAddress entries).
 */
int pki_add_san(X509 *, char *const *names, size_t n, char **cause);

/* The reason of OpenSSL's latest error, or fallback; caller frees. */
char *pki_error(const char *fallback);

#endif
