# The chatstack command: command table, subcommands, answers, engine.
CHATSTACK_SRCS	+= $(filter-out $(CHATSTACK_MAIN),$(wildcard installer/*.c))
