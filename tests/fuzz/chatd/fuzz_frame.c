/*
 * libFuzzer harness for what chatd parses from the network: WebSocket
 * frames, REST paths, query strings and deliveries between instances.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../../chat/server/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame f;
	struct route_match m;
	int64_t ids[8];
	size_t flen;
	const char *code, *frame;
	char *cause = NULL, *text, out[64];

	if (proto_parse_frame((const char *)data, size, &f, &code, &cause) != 0)
		free(cause);
	proto_frame_free(&f);

	proto_parse_remote((const char *)data, size, ids, 8, &frame, &flen);
	proto_route(HTTP_GET, (const char *)data, size, &m);
	proto_route(HTTP_DELETE, (const char *)data, size, &m);

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	proto_query_arg(text, "q", out, sizeof out);
	proto_query_arg(text, "limit", out, sizeof out);
	if (proto_check_username(text, out, 33, &cause) != 0)
		free(cause);
	free(text);
	return 0;
}
