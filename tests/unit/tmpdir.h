/*
 * A scratch directory for unit tests, made under /tmp and removed with all
 * it holds. Header only: each unit test is one file linked on its own.
 */
#ifndef TEST_TMPDIR_H
#define TEST_TMPDIR_H

#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Makes a fresh directory from tmpl, which ends in six X. They are put
 * back first, so one template serves a setup run before every test.
 */
static inline int
tmpdir_make(char *tmpl)
{
	strcpy(tmpl + strlen(tmpl) - 6, "XXXXXX");
	return mkdtemp(tmpl) == NULL ? -1 : 0;
}

static inline int
tmpdir_remove_one(
    const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Removes dir and all below it; one already gone is no error. */
static inline int
tmpdir_remove(const char *dir)
{
	if (nftw(dir, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0)
		return 0;
	return errno == ENOENT ? 0 : -1;
}

/* Returns dir/name in a static buffer, good until the next call. */
static inline char *
tmpdir_path(const char *dir, const char *name)
{
	static char path[512];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return path;
}

#endif
