/*
 * The signer holds the private keys; the code that talks to the CA never
 * does. It loads (or creates, 0600) the ACME account key, signs JWS
 * inputs with it, computes the External Account Binding from the HMAC key
 * file, and generates each certificate key, which it hands out only as a
 * certificate request until it writes the key file itself.
 *
 * signer_open with SIGNER_PROCESS forks: the keys live in the child, and
 * the parent talks to it over a socketpair, one JSON message each way (as
 * OpenBSD's acme-client keeps keyproc apart). SIGNER_LOCAL keeps them in
 * this process, for tests and tools that do no networking.
 */
#ifndef SIGNER_H
#define SIGNER_H

#include <jansson.h>

#include "buf.h"
#include "pki.h"

enum signer_kind {
	SIGNER_LOCAL,
	SIGNER_PROCESS,
};

struct signer;

/*
 * Opens the account key at path (created when missing). *created says
 * whether it was. Returns NULL with *cause set.
 */
struct signer *signer_open(
    enum signer_kind, const char *account_key, int *created, char **cause);
void signer_close(struct signer *);

/* The account's public JWK and its RFC 7638 thumbprint (borrowed). */
json_t *signer_jwk(struct signer *);
const char *signer_thumbprint(struct signer *);

/* An ES256 signature (raw r||s) over data. */
int signer_sign(struct signer *, const void *data, size_t len, struct buf *sig,
    char **cause);
/*
 * Generates a fresh certificate key of type t, kept inside the signer,
 * and returns a DER certificate request for names signed by it.
 */
int signer_csr(struct signer *, enum pki_key_type t, char *const *names,
    size_t n, struct buf *der, char **cause);
/* Writes the key of the last signer_csr to path (0600, atomically). */
int signer_commit_key(
    struct signer *, const char *path, int *changed, char **cause);
/*
 * The externalAccountBinding object for a new account at url: an HS256
 * JWS over the account JWK, keyed by the HMAC key in key_file
 * (base64url, as CAs hand it out). Caller decrefs.
 */
json_t *signer_eab(struct signer *, const char *kid, const char *key_file,
    const char *url, char **cause);

#endif
