/*
 * The local CA of selfsigned mode: a long-lived P-256 CA in the TLS
 * directory (ca.crt, ca.key 0600) that signs the server certificate.
 */
#ifndef LOCALCA_H
#define LOCALCA_H

#include <openssl/x509.h>

#include "buf.h"
#include "pki.h"

#define LOCALCA_DAYS 3650 /* the CA */
#define LOCALCA_SERVER_DAYS 397 /* what browsers accept for a leaf */

/*
 * Makes sure dir holds a CA; creates one named after hostname when
 * missing. *created says whether it did.
 */
int localca_ensure(
    const char *dir, const char *hostname, int *created, char **cause);
/*
 * Signs a server certificate for names (DNS names and IP addresses) with
 * a new key of type t; returns the chain (leaf, then CA) and the key as
 * PEM.
 */
int localca_issue(const char *dir, char *const *names, size_t n,
    enum pki_key_type t, struct buf *chain, struct buf *key, char **cause);
/* Returns 1 when leaf was signed by the CA in dir. */
int localca_signed(const char *dir, X509 *leaf);
/* The SHA-256 fingerprint of ca.crt; caller frees. */
char *localca_fingerprint(const char *dir, char **cause);

#endif
