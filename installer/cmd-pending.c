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

const struct cmd_entry cmd_plan_entry = {
    .name = "plan",
    .args = "[--answers FILE]",
    .summary = "Show the steps an install would change, and change "
	       "nothing.",
    .exec = cmd_pending_exec,
};

const struct cmd_entry cmd_preflight_entry = {
    .name = "preflight",
    .args = "[--answers FILE] [--json] [--profile P]",
    .summary = "Check this host before anything changes.",
    .exec = cmd_pending_exec,
};

const struct cmd_entry cmd_install_entry = {
    .name = "install",
    .args = "[--answers FILE] [--yes]",
    .summary = "Install or converge the chat service on this host.",
    .exec = cmd_pending_exec,
};

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .args = "",
    .summary = "Show each component's state, version and health.",
    .exec = cmd_pending_exec,
};

const struct cmd_entry cmd_verify_entry = {
    .name = "verify",
    .args = "",
    .summary = "Prove end to end that chat works on this host.",
    .exec = cmd_pending_exec,
};

const struct cmd_entry cmd_uninstall_entry = {
    .name = "uninstall",
    .args = "[--purge] [--yes]",
    .summary = "Remove what chatstack installed, keeping data unless "
	       "--purge.",
    .exec = cmd_pending_exec,
};

const struct cmd_entry cmd_remote_entry = {
    .name = "remote",
    .args = "install --host USER@HOST --answers FILE",
    .summary = "Install onto another server over SSH.",
    .exec = cmd_pending_exec,
};
