# The small library every binary links: allocation, buffers, logging,
# events, atomic files, process spawning.
LIB_SRCS	+= lib/xmalloc.c lib/buf.c lib/log.c lib/event.c \
		   lib/fileio.c lib/spawn.c
