/*
 * Commands that later work fills in. Each says plainly that it is not
 * available yet and exits 2; none pretends to work.
 * XXX each entry moves to its own file when its issue lands.
 */
#include "cmd.h"

static int
cmd_pending_exec(int argc, char **argv)
{
	(void)argc;
	return cmd_not_available(argv[0]);
}

const struct cmd_entry cmd_remote_entry = {
    .name = "remote",
    .args = "install --host USER@HOST --answers FILE",
    .summary = "Install onto another server over SSH.",
    .exec = cmd_pending_exec,
};
