/*
 * The bundle manifest: a small line-based text format, parsed strictly
 * (every line known, every value checked) because it decides what may be
 * written to disk. It is parsed only after its signature was verified.
 *
 *	chatstack-bundle 1
 *	component redis
 *	version 5:7.0.15-1~deb12u1
 *	distro debian12
 *	arch amd64
 *	built 2026-12-03T18:00:00Z
 *	package redis-server
 *	file 0644 1234 <sha256 hex> repo/Packages
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bundle.h"
#include "xmalloc.h"

#define MANIFEST_HEADER "chatstack-bundle 1"
#define MANIFEST_MAX_PACKAGES 1000
#define MANIFEST_MAX_SIZE (1ULL << 40)

enum field_kind { FIELD_WORD, FIELD_VERSION, FIELD_BUILT };

struct manifest_field {
	const char *key;
	enum field_kind kind;
	size_t offset;
};

static const struct manifest_field manifest_fields[] = {
    {"component", FIELD_WORD, offsetof(struct bundle_manifest, component)},
    {"version", FIELD_VERSION, offsetof(struct bundle_manifest, version)},
    {"distro", FIELD_WORD, offsetof(struct bundle_manifest, distro)},
    {"arch", FIELD_WORD, offsetof(struct bundle_manifest, arch)},
    {"built", FIELD_BUILT, offsetof(struct bundle_manifest, built)},
};

static int
manifest_word_ok(const char *s, enum field_kind kind)
{
	const char *extra;
	size_t i, n = strlen(s);

	if (n == 0 || n > 128)
		return 0;
	if (kind == FIELD_BUILT) {
		/* YYYY-MM-DDTHH:MM:SSZ */
		if (n != 20)
			return 0;
		for (i = 0; i < n; i++) {
			if (i == 4 || i == 7)
				if (s[i] != '-')
					return 0;
			if (i == 10 && s[i] != 'T')
				return 0;
			if ((i == 13 || i == 16) && s[i] != ':')
				return 0;
			if (i == 19 && s[i] != 'Z')
				return 0;
			if ((i < 19 && i != 4 && i != 7 && i != 10 && i != 13 &&
				i != 16) &&
			    !isdigit((unsigned char)s[i]))
				return 0;
		}
		return 1;
	}
	extra = kind == FIELD_VERSION ? ".+~:-" : ".+-";
	if (!isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) &&
		    strchr(extra, s[i]) == NULL)
			return 0;
	}
	return 1;
}

const char *
bundle_path_problem(const char *path)
{
	const char *p, *c;
	size_t n = strlen(path), clen;

	if (n == 0)
		return "the path is empty";
	if (n > BUNDLE_PATH_MAX)
		return "the path is too long";
	if (path[0] == '/')
		return "the path is absolute";
	for (p = path; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) &&
		    strchr("._+~%@=,-/", *p) == NULL)
			return "the path has a character outside "
			       "[A-Za-z0-9._+~%@=,-/]";
	}
	for (c = path; *c != '\0'; c += clen + (c[clen] == '/')) {
		clen = strcspn(c, "/");
		if (clen == 0)
			return "the path has an empty component";
		if (clen > 255)
			return "a path component is longer than 255 bytes";
		if (clen == 2 && c[0] == '.' && c[1] == '.')
			return "the path leaves the bundle ('..')";
		if (clen == 1 && c[0] == '.')
			return "the path has a '.' component";
	}
	if (path[n - 1] == '/')
		return "the path ends in '/'";
	if (strcmp(path, BUNDLE_MANIFEST_NAME) == 0 ||
	    strcmp(path, BUNDLE_SIG_NAME) == 0)
		return "the path is reserved for the manifest";
	return NULL;
}

static int
manifest_hex(const char *s, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != outlen * 2)
		return -1;
	for (i = 0; i < outlen; i++) {
		hi = s[2 * i], lo = s[2 * i + 1];
		if (!isxdigit(hi) || !isxdigit(lo) || isupper(hi) ||
		    isupper(lo))
			return -1;
		hi = isdigit(hi) ? hi - '0' : hi - 'a' + 10;
		lo = isdigit(lo) ? lo - '0' : lo - 'a' + 10;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int
manifest_cmp_file(const void *a, const void *b)
{
	const struct bundle_file *fa = a, *fb = b;

	return strcmp(fa->path, fb->path);
}

/* Parses "file MODE SIZE SHA256 PATH" (after "file "). */
static int
manifest_parse_file(struct bundle_manifest *m, char *s, char **why)
{
	struct bundle_file *f;
	char *mode, *size, *hash, *path, *end;
	const char *problem;
	unsigned long long v;

	mode = strsep(&s, " ");
	size = strsep(&s, " ");
	hash = strsep(&s, " ");
	path = s;
	if (mode == NULL || size == NULL || hash == NULL || path == NULL) {
		*why = xstrdup("expected 'file MODE SIZE SHA256 PATH'");
		return -1;
	}
	if (strcmp(mode, "0644") != 0 && strcmp(mode, "0755") != 0) {
		*why = xasprintf("mode '%s' is not 0644 or 0755", mode);
		return -1;
	}
	if (!isdigit((unsigned char)size[0]) || (size[0] == '0' && size[1]) ||
	    strlen(size) > 15) {
		*why = xstrdup("size is not a decimal number");
		return -1;
	}
	errno = 0;
	v = strtoull(size, &end, 10);
	if (*end != '\0' || errno != 0 || v > MANIFEST_MAX_SIZE) {
		*why = xstrdup("size is not a decimal number below 1 TiB");
		return -1;
	}
	if ((problem = bundle_path_problem(path)) != NULL) {
		*why = xasprintf("bad path: %s", problem);
		return -1;
	}
	if (m->nfiles >= BUNDLE_MAX_FILES) {
		*why = xasprintf("more than %d files", BUNDLE_MAX_FILES);
		return -1;
	}
	m->files = xreallocarray(m->files, m->nfiles + 1, sizeof *m->files);
	f = &m->files[m->nfiles];
	if (manifest_hex(hash, f->sha256, sizeof f->sha256) != 0) {
		*why = xstrdup("SHA-256 is not 64 lowercase hex digits");
		return -1;
	}
	f->path = xstrdup(path);
	f->mode = mode[1] == '7' ? 0755 : 0644;
	f->size = v;
	m->nfiles++;
	m->total += v;
	return 0;
}

static int
manifest_parse_line(struct bundle_manifest *m, char *line, char **why)
{
	const struct manifest_field *mf;
	char *key, *value, **slot;
	size_t i;

	key = strsep(&line, " ");
	value = line;
	if (value == NULL) {
		*why = xasprintf("'%s' has no value", key);
		return -1;
	}
	if (strcmp(key, "file") == 0)
		return manifest_parse_file(m, value, why);
	if (strcmp(key, "package") == 0) {
		if (!manifest_word_ok(value, FIELD_WORD)) {
			*why = xstrdup("bad package name");
			return -1;
		}
		if (m->npackages >= MANIFEST_MAX_PACKAGES) {
			*why = xstrdup("too many packages");
			return -1;
		}
		m->packages = xreallocarray(
		    m->packages, m->npackages + 1, sizeof *m->packages);
		m->packages[m->npackages++] = xstrdup(value);
		return 0;
	}
	for (i = 0; i < sizeof manifest_fields / sizeof manifest_fields[0];
	     i++) {
		mf = &manifest_fields[i];
		if (strcmp(key, mf->key) != 0)
			continue;
		slot = (char **)((char *)m + mf->offset);
		if (*slot != NULL) {
			*why = xasprintf("'%s' appears twice", key);
			return -1;
		}
		if (!manifest_word_ok(value, mf->kind)) {
			*why = xasprintf("bad value for '%s'", key);
			return -1;
		}
		*slot = xstrdup(value);
		return 0;
	}
	*why = xasprintf("unknown key '%.32s'", key);
	return -1;
}

struct bundle_manifest *
bundle_manifest_parse(const char *data, size_t len, char **cause)
{
	struct bundle_manifest *m;
	char *copy = NULL, *p, *line, *why = NULL, *esc;
	size_t i, lineno = 0;

	m = xcalloc(1, sizeof *m);
	if (len > BUNDLE_MANIFEST_MAX) {
		*cause = xasprintf(
		    "manifest is larger than %u bytes", BUNDLE_MANIFEST_MAX);
		goto fail;
	}
	if (memchr(data, '\0', len) != NULL) {
		*cause = xstrdup("manifest holds a NUL byte");
		goto fail;
	}
	if (len == 0 || data[len - 1] != '\n') {
		*cause = xstrdup("manifest does not end with a newline");
		goto fail;
	}
	copy = xstrndup(data, len - 1);
	p = copy;
	while ((line = strsep(&p, "\n")) != NULL) {
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, MANIFEST_HEADER) != 0) {
				*cause = xstrdup("manifest does not start with "
						 "'" MANIFEST_HEADER "'");
				goto fail;
			}
			continue;
		}
		if (manifest_parse_line(m, line, &why) != 0) {
			esc = str_escape(why);
			*cause =
			    xasprintf("manifest line %zu: %s", lineno, esc);
			free(esc);
			goto fail;
		}
	}
	for (i = 0; i < sizeof manifest_fields / sizeof manifest_fields[0];
	     i++) {
		if (*(char **)((char *)m + manifest_fields[i].offset) == NULL) {
			*cause = xasprintf(
			    "manifest has no '%s'", manifest_fields[i].key);
			goto fail;
		}
	}
	if (m->nfiles > 0)
		qsort(m->files, m->nfiles, sizeof *m->files, manifest_cmp_file);
	for (i = 1; i < m->nfiles; i++) {
		if (strcmp(m->files[i - 1].path, m->files[i].path) == 0) {
			*cause = xasprintf(
			    "manifest lists '%s' twice", m->files[i].path);
			goto fail;
		}
	}
	free(copy);
	return m;

fail:
	free(why);
	free(copy);
	bundle_manifest_free(m);
	return NULL;
}

char *
bundle_manifest_format(struct bundle_manifest *m, size_t *len)
{
	struct buf b = BUF_INIT;
	struct bundle_file *f;
	size_t i, j;

	if (m->nfiles > 0)
		qsort(m->files, m->nfiles, sizeof *m->files, manifest_cmp_file);
	buf_printf(&b, "%s\n", MANIFEST_HEADER);
	for (i = 0; i < sizeof manifest_fields / sizeof manifest_fields[0];
	     i++) {
		buf_printf(&b, "%s %s\n", manifest_fields[i].key,
		    *(char **)((char *)m + manifest_fields[i].offset));
	}
	for (i = 0; i < m->npackages; i++)
		buf_printf(&b, "package %s\n", m->packages[i]);
	for (i = 0; i < m->nfiles; i++) {
		f = &m->files[i];
		buf_printf(&b, "file %04o %llu ", (unsigned)f->mode,
		    (unsigned long long)f->size);
		for (j = 0; j < sizeof f->sha256; j++)
			buf_printf(&b, "%02x", f->sha256[j]);
		buf_printf(&b, " %s\n", f->path);
	}
	return buf_detach(&b, len);
}

void
bundle_manifest_free(struct bundle_manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	free(m->component);
	free(m->version);
	free(m->distro);
	free(m->arch);
	free(m->built);
	free(m->signer);
	for (i = 0; i < m->npackages; i++)
		free(m->packages[i]);
	free(m->packages);
	for (i = 0; i < m->nfiles; i++)
		free(m->files[i].path);
	free(m->files);
	free(m);
}

const struct bundle_file *
bundle_manifest_find(const struct bundle_manifest *m, const char *path)
{
	struct bundle_file key;

	if (m->nfiles == 0)
		return NULL;
	key.path = (char *)path;
	return bsearch(
	    &key, m->files, m->nfiles, sizeof *m->files, manifest_cmp_file);
}

/* Debian's ordering: '~' sorts before everything, even the end. */
static int
version_order(int c)
{
	if (isdigit(c))
		return 0;
	if (isalpha(c))
		return c;
	if (c == '~')
		return -1;
	if (c != '\0')
		return c + 256;
	return 0;
}

static int
version_part_compare(const char *a, const char *b)
{
	int first_diff, ac, bc;

	while (*a != '\0' || *b != '\0') {
		first_diff = 0;
		while ((*a != '\0' && !isdigit((unsigned char)*a)) ||
		    (*b != '\0' && !isdigit((unsigned char)*b))) {
			ac = version_order((unsigned char)*a);
			bc = version_order((unsigned char)*b);
			if (ac != bc)
				return ac - bc;
			a++;
			b++;
		}
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (
		    isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			if (first_diff == 0)
				first_diff = *a - *b;
			a++;
			b++;
		}
		if (isdigit((unsigned char)*a))
			return 1;
		if (isdigit((unsigned char)*b))
			return -1;
		if (first_diff != 0)
			return first_diff;
	}
	return 0;
}

/* Splits "epoch:upstream-revision" into its three parts (allocated). */
static void
version_split(const char *v, long *epoch, char **upstream, char **revision)
{
	const char *colon, *dash;

	*epoch = 0;
	colon = strchr(v, ':');
	if (colon != NULL && colon != v) {
		*epoch = strtol(v, NULL, 10);
		v = colon + 1;
	}
	dash = strrchr(v, '-');
	if (dash != NULL) {
		*upstream = xstrndup(v, dash - v);
		*revision = xstrdup(dash + 1);
	} else {
		*upstream = xstrdup(v);
		*revision = xstrdup("");
	}
}

int
bundle_version_compare(const char *a, const char *b)
{
	char *ua, *ra, *ub, *rb;
	long ea, eb;
	int rc;

	version_split(a, &ea, &ua, &ra);
	version_split(b, &eb, &ub, &rb);
	if (ea != eb)
		rc = ea < eb ? -1 : 1;
	else if ((rc = version_part_compare(ua, ub)) == 0)
		rc = version_part_compare(ra, rb);
	free(ua);
	free(ra);
	free(ub);
	free(rb);
	return rc < 0 ? -1 : rc > 0;
}
