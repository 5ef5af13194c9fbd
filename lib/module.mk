# The small library every binary links: allocation, buffers, logging,
# events, atomic files, process spawning. Keep it small.
LIB_SRCS	+= $(wildcard lib/*.c)
