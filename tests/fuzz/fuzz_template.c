/*
 * libFuzzer harness for the template renderer. Input up to the first NUL
 * byte is a JSON document of variables and the rest the template; input
 * without a NUL is a template rendered against a fixed set of variables.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../installer/template.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *__ubsan_default_options(void);

/* Undefined behaviour is a crash here, kept as an input like any other. */
const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static json_t *fuzz_vars;

static json_t *
fuzz_fixed_vars(void)
{
	if (fuzz_vars == NULL)
		fuzz_vars = json_loads(
		    "{\"hostname\": \"chat.example.com\", \"empty\": \"\","
		    " \"n\": null, \"yes\": true, \"no\": false, \"zero\": 0,"
		    " \"pi\": 3.5, \"tls\": {\"mode\": \"selfsigned\","
		    " \"port\": 443}, \"names\": [\"a\", \"b\", \"c\"],"
		    " \"rows\": [[1, 2], [], [3]], \"chatd\": [{\"port\": 1},"
		    " {\"port\": 2}], \"evil\": \"a\\nb\"}",
		    0, NULL);
	return fuzz_vars;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	json_t *vars = NULL;
	struct buf out;
	char *text, *cause = NULL;
	size_t off = 0;
	int rc;

	if ((nul = memchr(data, '\0', size)) != NULL) {
		vars = json_loadb((const char *)data, (size_t)(nul - data),
		    JSON_DECODE_ANY, NULL);
		off = (size_t)(nul - data) + 1;
	}
	text = malloc(size - off + 1);
	if (text == NULL)
		abort();
	memcpy(text, data + off, size - off);
	text[size - off] = '\0';

	buf_init(&out);
	rc = template_render("fuzz.tmpl", text,
	    nul != NULL ? vars : fuzz_fixed_vars(), &out, &cause);
	if (rc == 0 && cause != NULL)
		abort();
	if (rc != 0 && (cause == NULL || strncmp(cause, "fuzz.tmpl:", 10) != 0))
		abort();
	free(cause);
	buf_free(&out);
	free(text);
	json_decref(vars);
	return 0;
}
