/*
 * libFuzzer harness for the answer file loader: any bytes as an answer
 * file, then every result path (errors formatted, answers turned to
 * JSON) so a bad pointer anywhere shows up.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "../../installer/answers.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
const char *__ubsan_default_options(void);

/* Undefined behaviour is a crash here, kept as an input like any other. */
const char *
__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct answers_errors errs = {NULL, 0};
	struct answers *a;
	json_t *j;
	size_t i;

	a = answers_parse("fuzz.yaml", (const char *)data, size, &errs);
	for (i = 0; i < errs.n; i++)
		free(answers_error_string(&errs.list[i]));
	if (a != NULL) {
		if (errs.n != 0)
			abort();
		j = answers_to_json(a);
		if (j == NULL)
			abort();
		json_decref(j);
		(void)answers_waiver(a, "cpu.cores");
		answers_free(a);
	} else if (errs.n == 0)
		abort();
	answers_errors_free(&errs);
	return 0;
}
