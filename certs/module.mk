# TLS certificates: the ACME client, the local CA and the checks of
# certificates an operator brings (docs/tls.md).
CHATSTACK_SRCS	+= $(wildcard certs/*.c)
FORMAT_DIRS	+= certs
