/*
 * Signed offline bundles: one component's Debian packages (a flat local
 * apt repository) and files, a manifest listing every file with its size
 * and SHA-256, and an Ed25519 signature over the manifest, packed as
 * .tar.zst. docs/bundles.md describes the format.
 *
 * Reading a bundle verifies the signature before it parses anything else,
 * hashes every file while extracting it (one pass), and refuses anything
 * the manifest does not declare.
 */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define BUNDLE_SIG_NAME "MANIFEST.sig"
#define BUNDLE_MANIFEST_NAME "MANIFEST"
#define BUNDLE_MANIFEST_MAX (8U << 20)
#define BUNDLE_SIG_LEN 64
#define BUNDLE_MAX_FILES 100000
#define BUNDLE_PATH_MAX 1024

/* Where verification looks for trusted public keys by default. */
#define BUNDLE_TRUSTED_DIR "/etc/chatstack/trusted-keys"
/* Where bundle_install extracts, one fresh folder a call. */
#define BUNDLE_STAGING_DIR "/var/lib/chatstack/staging"
/* Where installed versions are recorded, for the downgrade check. */
#define BUNDLE_STATE_DIR "/var/lib/chatstack/bundles"

struct bundle_file {
	char *path; /* relative, checked: no "..", no leading "/" */
	mode_t mode; /* 0644 or 0755 */
	uint64_t size;
	unsigned char sha256[32];
};

struct bundle_manifest {
	char *component;
	char *version;
	char *distro;
	char *arch;
	char *built; /* UTC, YYYY-MM-DDTHH:MM:SSZ */
	char **packages; /* what apt installs from repo/ */
	size_t npackages;
	struct bundle_file *files; /* sorted by path */
	size_t nfiles;
	uint64_t total; /* bytes of all files */
	char *signer; /* id of the key that verified it (set by readers) */
};

/* manifest.c */
struct bundle_manifest *bundle_manifest_parse(
    const char *data, size_t len, char **cause);
/* Returns the manifest text (allocated); files are sorted first. */
char *bundle_manifest_format(struct bundle_manifest *, size_t *len);
void bundle_manifest_free(struct bundle_manifest *);
const struct bundle_file *bundle_manifest_find(
    const struct bundle_manifest *, const char *path);
/* Returns NULL if path is a safe relative bundle path, else the reason. */
const char *bundle_path_problem(const char *path);
/* Compares two Debian version strings: <0, 0, >0. */
int bundle_version_compare(const char *, const char *);

/* keys.c: trusted Ed25519 public keys. */
struct bundle_keys;
struct bundle_keys *bundle_keys_new(void);
void bundle_keys_free(struct bundle_keys *);
size_t bundle_keys_count(const struct bundle_keys *);
/* Adds a PEM public key (or the public half of a private key). */
int bundle_keys_add_file(struct bundle_keys *, const char *, char **cause);
/* Adds every *.pub file in dir; a missing dir adds nothing. */
int bundle_keys_add_dir(struct bundle_keys *, const char *, char **cause);
/*
 * Adds the default trust: BUNDLE_TRUSTED_DIR and the key the release was
 * built with (share/trusted-keys/ beside the running binary's bin/).
 */
int bundle_keys_add_default(struct bundle_keys *, char **cause);
/*
 * Checks sig over data with every key. Returns 0 and the matching key's
 * id (16 hex digits, static) in *id, or -1 with *cause set.
 */
int bundle_keys_verify(const struct bundle_keys *, const void *data, size_t len,
    const unsigned char *sig, size_t siglen, const char **id, char **cause);
/* Writes a new private key to path (0600) and its public key to path.pub. */
int bundle_keygen(const char *path, char **cause);
/* Signs data with the private key in path; sig gets BUNDLE_SIG_LEN bytes. */
int bundle_sign(const char *keypath, const void *data, size_t len,
    unsigned char *sig, char **cause);

/* read.c: verify, list, extract. */
struct bundle_read_opts {
	const struct bundle_keys *keys;
	const char *state_dir; /* NULL: BUNDLE_STATE_DIR; "": no check */
	int allow_downgrade;
	/* Called with the name and size of every file written, may be NULL. */
	void (*progress)(const char *, uint64_t, void *);
	void *arg;
};

/*
 * Verifies a bundle completely (signature, then every file's size and
 * hash) without writing anything. On success returns 0 and the manifest
 * in *mp (the caller frees it); -1 with *cause naming what failed.
 */
int bundle_verify(const char *path, const struct bundle_read_opts *,
    struct bundle_manifest **mp, char **cause);
/* Checks the signature and returns the manifest; no payload is read. */
int bundle_read_manifest(const char *path, const struct bundle_read_opts *,
    struct bundle_manifest **mp, char **cause);
/*
 * Extracts into dest, which must not exist: it is created 0700. Every
 * file is hashed as it is written; on any refusal dest is removed again
 * and *cause names the file and the reason.
 */
int bundle_extract(const char *path, const char *dest,
    const struct bundle_read_opts *, struct bundle_manifest **mp, char **cause);
/* Removes a staging folder and its contents; never follows a symlink. */
void bundle_remove_staging(const char *dir);
/*
 * Refuses m if a newer version of its component is recorded in state_dir
 * (unless allow_downgrade).
 */
int bundle_check_downgrade(const struct bundle_manifest *, const char *,
    int allow_downgrade, char **cause);
/* Records m's version as installed in state_dir (atomically). */
int bundle_record_installed(
    const struct bundle_manifest *, const char *state_dir, char **cause);

/* create.c */
struct bundle_create {
	const char *dir; /* the files: repo/, files/ */
	const char *keypath; /* private key */
	const char *component;
	const char *version;
	const char *distro;
	const char *arch;
	char **packages;
	size_t npackages;
	time_t built; /* 0: now */
};
/* Writes a signed .tar.zst bundle of dir to out. */
int bundle_create(const struct bundle_create *, const char *out, char **cause);

/* apt.c: installing packages from an extracted, verified bundle. */
struct bundle_apt_opts {
	const char *const *packages; /* NULL: the manifest's list */
	int timeout_ms; /* 0: 30 minutes */
	int keep_policy; /* leave services free to start */
};
/*
 * Installs packages with apt-get from staging/repo only: no other source,
 * no network, non-interactive, and (unless keep_policy) a policy-rc.d that
 * keeps services from starting while the packages are configured.
 */
int bundle_apt_install(const char *staging, const struct bundle_manifest *,
    const struct bundle_apt_opts *, char **cause);

/* install.c: the whole step for the engine. */
struct bundle_install_opts {
	struct bundle_read_opts read; /* keys, state_dir, allow_downgrade */
	struct bundle_apt_opts apt;
	const char *staging; /* a new folder to use, or NULL: */
	const char *staging_root; /* a fresh one under this (NULL: default) */
	int keep; /* keep the staging folder afterwards */
};
/*
 * Verifies and extracts the bundle at path into fresh staging, installs
 * its packages (bundle_apt_install), records its version, removes the
 * staging folder. Returns 0 and the manifest in *mp, or -1 with *cause.
 */
int bundle_install(const char *path, const struct bundle_install_opts *,
    struct bundle_manifest **mp, char **cause);

#endif
