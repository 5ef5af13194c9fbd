/*
 * One call for the install engine: verify and extract a bundle into a
 * fresh staging folder, install its packages with apt from that folder
 * only, record the version for the downgrade check, and clean up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "fileio.h"
#include "xmalloc.h"

int
bundle_install(const char *path, const struct bundle_install_opts *io,
    struct bundle_manifest **mp, char **cause)
{
	struct bundle_manifest *m = NULL;
	const char *root, *state;
	char *dest = NULL;
	int rc = -1;

	*mp = NULL;
	if (io->staging != NULL)
		dest = xstrdup(io->staging);
	else {
		root = io->staging_root != NULL ? io->staging_root
						: BUNDLE_STAGING_DIR;
		if (mkdir_p(root, 0700, cause) != 0)
			goto out;
		dest = xasprintf(
		    "%s/%ld-%ld", root, (long)getpid(), (long)time(NULL));
	}
	if (bundle_extract(path, dest, &io->read, &m, cause) != 0)
		goto out;
	if (bundle_apt_install(dest, m, &io->apt, cause) != 0)
		goto out;
	state =
	    io->read.state_dir != NULL ? io->read.state_dir : BUNDLE_STATE_DIR;
	if (*state != '\0' && bundle_record_installed(m, state, cause) != 0)
		goto out;
	rc = 0;

out:
	/* Only a staging folder this call filled is removed. */
	if (m != NULL && !io->keep)
		bundle_remove_staging(dest);
	if (rc == 0)
		*mp = m;
	else
		bundle_manifest_free(m);
	free(dest);
	return rc;
}
