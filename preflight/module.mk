# Preflight: host checks, each a table entry (docs/preflight.md).
CHATSTACK_SRCS	+= $(wildcard preflight/*.c)
FORMAT_DIRS	+= preflight
