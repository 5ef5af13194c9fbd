#ifndef VERSION_H
#define VERSION_H

#ifndef CHATSTACK_VERSION
#define CHATSTACK_VERSION "0.0.0-dev"
#endif

#endif
