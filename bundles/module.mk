# Signed offline bundles: create, verify, extract, install packages; and
# the release artifact (make bundles, make dist). docs/bundles.md.
CHATSTACK_SRCS	+= $(wildcard bundles/*.c)
FORMAT_DIRS	+= bundles
BASE_CFLAGS	+= -Ibundles

# Development signing key: made on first use, outside the tree, never
# committed. A release build passes SIGNING_KEY=/path/to/release.key.
SIGNING_KEY	?= $(HOME)/.cache/chatstack/dev-signing.key
BUNDLES		?= mariadb redis rabbitmq nginx chatd chatstack
BUNDLE_OUT	 = $(BUILD)/bundles
DIST_NAME	 = chatstack-$(VERSION)-debian12-amd64

$(SIGNING_KEY): | $(BUILD)/chatstack
	@mkdir -p $(@D)
	$(BUILD)/chatstack bundle keygen $@

# "all" first, so that the chatd bundle carries a freshly built chatd.
bundles: all $(SIGNING_KEY)
	scripts/build-bundle --chatstack $(BUILD)/chatstack \
	    --key $(SIGNING_KEY) --out $(BUNDLE_OUT) \
	    $(addprefix bundles/recipes/,$(BUNDLES))

# The release binary finds its private libraries in ../lib. DT_RPATH (not
# RUNPATH) so that the libraries' own dependencies are found there too.
$(BUILD)/release/chatstack: $(BUILD)/obj/installer/main.o \
    $(BUILD)/obj/libchatstack.a $(BUILD)/obj/libcommon.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -Wl,--disable-new-dtags \
	    -Wl,-rpath,'$$ORIGIN/../lib' -o $@ $^ $(CHATSTACK_LIBS)

dist: $(BUILD)/release/chatstack $(SIGNING_KEY) bundles
	scripts/dist --name $(DIST_NAME) --binary $(BUILD)/release/chatstack \
	    --key $(SIGNING_KEY).pub --sign $(SIGNING_KEY) \
	    --bundles $(BUNDLE_OUT) --out dist

# Built by "make all" so that the release tests can use it.
PROGRAMS	+= $(BUILD)/release/chatstack
