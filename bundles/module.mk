# Signed offline bundles: create, verify, extract, install packages.
CHATSTACK_SRCS	+= $(wildcard bundles/*.c)
FORMAT_DIRS	+= bundles
BASE_CFLAGS	+= -Ibundles
