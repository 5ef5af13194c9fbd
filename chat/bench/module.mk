# chat-bench: the load generator for chatd (libwebsockets client, libcurl
# for the REST setup). Linked with the chatd libraries and libcommon.
# (The obj helper is defined after the modules are read: spelled out.)
BENCH_SRCS	 = $(wildcard chat/bench/*.c)
PROGRAMS	+= $(BUILD)/chat-bench
FORMAT_DIRS	+= chat/bench

$(BUILD)/chat-bench: $(patsubst %.c,$(BUILD)/obj/%.o,$(BENCH_SRCS)) $(BUILD)/obj/libcommon.a
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHATD_LIBS) $(call pkg_libs,libcurl)
