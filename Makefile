# heaplab — the one entry point.
#
#   make               everything into build/ (warning-free, -Wall -Wextra)
#   make test          every test, tools under ASan/UBSan, summary from prove
#   make bench         the benchmarks, side by side with the other allocators
#   make report        the lab report (installs what is missing first)
#   make deps          install the Debian packages heaplab needs
#   make install PREFIX=/usr/local
#   make clean
#
# Each area adds its own rules in AREA/build.mk and appends to:
#   ALL       files `make` must produce
#   TESTS     test executables (TAP on stdout), run by prove
#   BENCHES   benchmark executables, run by `make bench`
#   TOOL_OBJS objects linked into build/heaplab, TOOL_LIBS their libraries
#   INSTALL_LIBS  files installed into $(PREFIX)/lib/heaplab (same relative path
#                 as under $(BUILD))

VERSION   := 0.1.0
BUILD     ?= build
PREFIX    ?= /usr/local
CC        ?= cc
OPT       ?= -O2 -g
WARN      := -Wall -Wextra
SDT_INC   := -idirafter /usr/include/x86_64-linux-gnu

# The tools (heaplab, tracers, test programs) may run under sanitizers; the
# preloaded libraries never do.
ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
TOOL_CFLAGS := $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE $(SAN_FLAGS) -I. -DHEAPLAB_VERSION='"$(VERSION)"'
TOOL_LDFLAGS := $(SAN_FLAGS)
LIB_CFLAGS  := $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -fPIC -I.
LIB_LDFLAGS := -shared

ALL :=
TESTS :=
BENCHES :=
TOOL_OBJS :=
TOOL_LIBS :=
INSTALL_LIBS :=

.PHONY: all test check bench report deps install clean
all: build-all

# lab/build.mk comes last: build/heaplab links what the other areas add.
-include $(filter-out lab/build.mk,$(sort $(wildcard */build.mk */*/build.mk)))
include lab/build.mk

build-all: $(ALL)

# Compile rules shared by every area: tools and libraries keep separate objects.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

deps:
	@lab/deps.sh

# The tests build into their own tree so the sanitized tools never mix with
# the normal build.
test: deps
	@$(MAKE) --no-print-directory BUILD=build/test SAN=1 check

check: build-all $(TESTS)
	@HEAPLAB_SRC=$(CURDIR) HEAPLAB_BUILD=$(abspath $(BUILD)) lab/tests/run-tests $(TESTS)

bench: deps
	@$(MAKE) --no-print-directory build-all bench-build
	@HEAPLAB_BUILD=$(abspath $(BUILD)) lab/bench.sh $(BENCHES)

# One goal for all of BENCHES: no "is up to date" line per benchmark.
.PHONY: bench-build
bench-build: $(BENCHES)
	@:

# The report, then a look at it in headless Chromium (installed here, not by
# `make deps`, since only the report needs a browser).
report: deps
	@$(MAKE) --no-print-directory build-all
	@$(BUILD)/heaplab report -o heaplab-report
	@report/screenshot.sh heaplab-report $(BUILD)/report.png

install: build-all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/heaplab
	install -m 755 $(BUILD)/heaplab $(DESTDIR)$(PREFIX)/bin/heaplab
	@set -e; for f in $(INSTALL_LIBS:$(BUILD)/%=%); do \
		mode=644; [ -x $(BUILD)/$$f ] && mode=755; \
		install -D -m $$mode $(BUILD)/$$f $(DESTDIR)$(PREFIX)/lib/heaplab/$$f; \
	done

clean:
	rm -rf build
