# The chatstack command: command table and subcommands.
CHATSTACK_SRCS	+= installer/cmd.c installer/cmd-version.c \
		   installer/cmd-pending.c
