#include <stdio.h>

#include "cmd.h"
#include "version.h"

static int
cmd_version_exec(int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return cmd_usage_error(
		    &cmd_version_entry, "takes no arguments");
	printf("chatstack %s\n", CHATSTACK_VERSION);
	return EXIT_SUCCESS;
}

const struct cmd_entry cmd_version_entry = {
    .name = "version",
    .args = "",
    .summary = "Print the version of chatstack.",
    .exec = cmd_version_exec,
};
