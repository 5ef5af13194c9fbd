# chatstack: one entry point. See README.md and docs/architecture.md.
#
#   make            build/chatstack and the other programs
#   make check      install test dependencies, build, run every suite
#   make demo       build the release and install it into a throwaway
#                   Debian 12 target
#   make dist       the release artifact under dist/
#   make bundles    the signed component bundles
#   make bench      speed and memory figures, as ratios to a baseline
#   make fuzz       run every libFuzzer harness (FUZZ_SECONDS each)
#   make format     reformat the C sources with clang-format

VERSION		:= $(shell cat VERSION)
BUILD		?= build
PREFIX		?= /usr/local
MANDIR		?= $(PREFIX)/share/man
PYTHON		?= /usr/bin/python3
FUZZ_SECONDS	?= 60
CLANG		?= clang

WARNINGS	 = -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
		   -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
		   -Wno-format-nonliteral -Wvla
BASE_CFLAGS	 = -std=gnu11 -g -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		   -DCHATSTACK_VERSION='"$(VERSION)"' -Ilib $(WARNINGS)
OPT_CFLAGS	?= -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN_CFLAGS	 = -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all
FUZZ_CFLAGS	 = -O1 -fsanitize=fuzzer-no-link,address,undefined \
		   -fno-omit-frame-pointer

# Libraries, found through pkg-config. Every module adds its sources to
# one of the *_SRCS lists in its module.mk.
COMMON_PKGS	 = jansson
CHATSTACK_PKGS	 = $(COMMON_PKGS) yaml-0.1 libcrypto libssl libcurl \
		   libarchive libssh2 ncursesw hiredis librabbitmq libmariadb \
		   libwebsockets
CHATD_PKGS	 = $(COMMON_PKGS) libwebsockets libuv libmariadb hiredis \
		   librabbitmq libsodium libsystemd libcrypto
ALL_PKGS	 = $(sort $(CHATSTACK_PKGS) $(CHATD_PKGS))

pkg_cflags	 = $(shell pkg-config --cflags $(1))
pkg_libs	 = $(shell pkg-config --libs $(1))

ifeq ($(filter check deps clean format,$(MAKECMDGOALS)),)
PKG_CFLAGS	:= $(call pkg_cflags,$(ALL_PKGS))
CHATSTACK_LIBS	:= $(call pkg_libs,$(CHATSTACK_PKGS))
CHATD_LIBS	:= $(call pkg_libs,$(CHATD_PKGS))
endif

LIB_SRCS	 =
CHATSTACK_SRCS	 =
CHATSTACK_MAIN	 = installer/main.c
CHATD_SRCS	 =
CHATD_MAIN	 =
PROGRAMS	 =
FORMAT_DIRS	 = lib installer tests/unit tests/fuzz

include $(sort $(wildcard */module.mk */*/module.mk))

CFLAGS_ALL	 = $(BASE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)

# Quiet by default; V=1 shows every command.
ifeq ($(V),1)
Q		 =
say		 = @true
else
Q		 = @
say		 = @printf '  %-6s %s\n'
endif

obj		 = $(patsubst %.c,$(BUILD)/$(1)/%.o,$(2))

.PHONY: all check check-run deps unit integration e2e lint fuzz \
	fuzz-regress bench demo demo-stop dist bundles install clean format
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BUILD)/chatstack $(PROGRAMS)

# Objects: normal, sanitized (unit tests) and fuzzing builds.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(say) CC $<
	$(Q)$(CC) $(CFLAGS_ALL) $(OPT_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(@D)
	$(say) CC-SAN $<
	$(Q)$(CC) $(CFLAGS_ALL) $(SAN_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/%.o: %.c
	@mkdir -p $(@D)
	$(say) CC-FUZ $<
	$(Q)$(CLANG) $(CFLAGS_ALL) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

# Static archives, one set per build kind.
define archives
$(BUILD)/$(1)/libcommon.a: $(call obj,$(1),$(LIB_SRCS))
	@rm -f $$@
	$(Q)$(AR) rcs $$@ $$^
$(BUILD)/$(1)/libchatstack.a: $(call obj,$(1),$(CHATSTACK_SRCS))
	@rm -f $$@
	$(Q)$(AR) rcs $$@ $$^
$(BUILD)/$(1)/libchatd.a: $(call obj,$(1),$(CHATD_SRCS))
	@rm -f $$@
	$(Q)$(AR) rcs $$@ $$^
endef
$(eval $(call archives,obj))
$(eval $(call archives,san))
$(eval $(call archives,fuzz))

$(BUILD)/chatstack: $(call obj,obj,$(CHATSTACK_MAIN)) \
    $(BUILD)/obj/libchatstack.a $(BUILD)/obj/libcommon.a
	$(say) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CHATSTACK_LIBS)

# Unit tests: tests/unit/test_*.c link the chatstack code, and
# tests/unit/chatd/test_*.c the chatd code, all under ASan and UBSan.
UNIT_SRCS	 = $(wildcard tests/unit/test_*.c)
UNIT_CHATD_SRCS	 = $(wildcard tests/unit/chatd/test_*.c)
UNIT_BINS	 = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS)) \
		   $(patsubst tests/unit/chatd/%.c,$(BUILD)/tests/chatd/%, \
		   $(UNIT_CHATD_SRCS))

$(BUILD)/tests/test_%: $(BUILD)/san/tests/unit/test_%.o \
    $(BUILD)/san/libchatstack.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(CHATSTACK_LIBS) -lcmocka

$(BUILD)/tests/chatd/test_%: $(BUILD)/san/tests/unit/chatd/test_%.o \
    $(BUILD)/san/libchatd.a $(BUILD)/san/libcommon.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CC) $(SAN_CFLAGS) -o $@ $^ $(CHATD_LIBS) -lcmocka

# Fuzz harnesses: tests/fuzz/fuzz_*.c (chatstack code) and
# tests/fuzz/chatd/fuzz_*.c (chatd code).
FUZZ_SRCS	 = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_CHATD_SRCS	 = $(wildcard tests/fuzz/chatd/fuzz_*.c)
FUZZ_BINS	 = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzzers/%,$(FUZZ_SRCS)) \
		   $(patsubst tests/fuzz/chatd/%.c,$(BUILD)/fuzzers/chatd/%, \
		   $(FUZZ_CHATD_SRCS))

$(BUILD)/fuzzers/fuzz_%: $(BUILD)/fuzz/tests/fuzz/fuzz_%.o \
    $(BUILD)/fuzz/libchatstack.a $(BUILD)/fuzz/libcommon.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ \
	    $(CHATSTACK_LIBS)

$(BUILD)/fuzzers/chatd/%: $(BUILD)/fuzz/tests/fuzz/chatd/%.o \
    $(BUILD)/fuzz/libchatd.a $(BUILD)/fuzz/libcommon.a
	@mkdir -p $(@D)
	$(say) LINK $@
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(CHATD_LIBS)

# Benchmarks: every bench/NAME/run prints its figures as ratios to a
# baseline measured in the same run.
bench: all
	@for b in bench/*/run; do [ -x "$$b" ] && "$$b" || exit 1; done

fuzz: $(FUZZ_BINS)
	scripts/run-fuzz long $(FUZZ_SECONDS) $(FUZZ_BINS)

# The one test command. Dependencies first, in their own make run, so
# pkg-config finds them when the build is parsed.
check:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory check-run

check-run:
	@rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(MAKE) all $(UNIT_BINS) $(FUZZ_BINS)
	-@scripts/run-lint $(BUILD)/results $(FORMAT_DIRS)
	-@scripts/run-unit $(BUILD)/results $(UNIT_BINS)
	-@scripts/run-fuzz regress $(BUILD)/results $(FUZZ_BINS)
	-@scripts/run-pytest $(BUILD)/results integration tests/integration
	-@scripts/run-step $(BUILD)/results release \
	    $(MAKE) --no-print-directory dist
	-@scripts/run-pytest $(BUILD)/results e2e tests/e2e
	@$(PYTHON) scripts/tally $(BUILD)/results

deps:
	@scripts/deps.sh test

unit: $(UNIT_BINS)
	@mkdir -p $(BUILD)/results
	@scripts/run-unit $(BUILD)/results $(UNIT_BINS)

integration: all
	@scripts/run-pytest $(BUILD)/results integration tests/integration

e2e: all
	@scripts/run-pytest $(BUILD)/results e2e tests/e2e

lint:
	@mkdir -p $(BUILD)/results
	@scripts/run-lint $(BUILD)/results $(FORMAT_DIRS)

format:
	find $(FORMAT_DIRS) -name '*.[ch]' | xargs clang-format -i

install: $(BUILD)/chatstack
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/chatstack $(DESTDIR)$(PREFIX)/bin/chatstack
	install -m 0644 docs/chatstack.8 $(DESTDIR)$(MANDIR)/man8/chatstack.8

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
