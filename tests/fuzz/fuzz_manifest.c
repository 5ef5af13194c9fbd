/*
 * The manifest parser on arbitrary bytes: no crash, no leak, and what
 * parses formats back to text that parses to the same files.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_manifest *m, *again;
	char *cause = NULL, *text;
	size_t len, i;

	m = bundle_manifest_parse((const char *)data, size, &cause);
	if (m == NULL) {
		free(cause);
		return 0;
	}
	text = bundle_manifest_format(m, &len);
	again = bundle_manifest_parse(text, len, &cause);
	if (again == NULL || again->nfiles != m->nfiles)
		abort();
	for (i = 0; i < m->nfiles; i++) {
		if (strcmp(m->files[i].path, again->files[i].path) != 0 ||
		    m->files[i].size != again->files[i].size ||
		    bundle_path_problem(m->files[i].path) != NULL)
			abort();
	}
	(void)bundle_version_compare(m->version, again->version);
	bundle_manifest_free(again);
	bundle_manifest_free(m);
	free(text);
	return 0;
}
