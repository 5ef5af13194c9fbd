# chatd, the reference chat server (docs/chatd.md, docs/chat-api.md).
CHATD_SRCS	+= $(filter-out chat/server/main.c,$(wildcard chat/server/*.c))
CHATD_MAIN	 = chat/server/main.c
PROGRAMS	+= $(BUILD)/chatd
FORMAT_DIRS	+= chat/server

$(BUILD)/chatd: $(BUILD)/obj/chat/server/main.o $(BUILD)/obj/libchatd.a \
    $(BUILD)/obj/libcommon.a
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHATD_LIBS) -lpthread
