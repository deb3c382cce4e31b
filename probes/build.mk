# probes/ — the event model, the tap, the ptrace engine and `heaplab trace`.

PROBES_SRCS := probes/event.c probes/hlt.c probes/merge.c probes/sink.c probes/timeline.c \
	probes/trace.c \
	probes/tap/reader.c probes/ptrace/engine.c probes/ptrace/maps.c
TOOL_OBJS += $(PROBES_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_LIBS += -lseccomp

# The tap: preloaded, never sanitized, exports only the malloc family.
TAP_SO := $(BUILD)/libheaplab-tap.so
TAP_CFLAGS := -fvisibility=hidden -fno-builtin-malloc -fno-builtin-free \
	-fno-builtin-calloc -fno-builtin-realloc
ALL += $(TAP_SO)
INSTALL_LIBS += $(TAP_SO)

$(BUILD)/pic/probes/tap/tap.o: probes/tap/tap.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(TAP_CFLAGS) -MMD -MP -c $< -o $@

$(TAP_SO): $(BUILD)/pic/probes/tap/tap.o
	$(CC) $(LIB_LDFLAGS) -Wl,--no-undefined -o $@ $^

# Test targets run traced with LD_PRELOAD: plain builds, no sanitizers.
PROBES_TARGETS := $(patsubst probes/tests/targets/%.c,$(BUILD)/probes/targets/%,\
	$(wildcard probes/tests/targets/*.c))
$(BUILD)/probes/targets/%: probes/tests/targets/%.c probes/tap/ring.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -I. -pthread -o $@ $<

TESTS += $(sort $(wildcard probes/tests/*.t))
check: $(PROBES_TARGETS)
probes-targets: $(PROBES_TARGETS)
.PHONY: probes-targets

# Unit tests of the tool side (sanitized with the tools).
PROBES_UNIT := $(BUILD)/tests/probes/timeline_test
TESTS += $(PROBES_UNIT)
$(BUILD)/tests/probes/timeline_test: $(BUILD)/obj/probes/tests/timeline_test.o \
		$(BUILD)/obj/probes/timeline.o $(BUILD)/obj/probes/sink.o \
		$(BUILD)/obj/probes/event.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^

PROBES_UNIT += $(BUILD)/tests/probes/hlt_test
TESTS += $(BUILD)/tests/probes/hlt_test
$(BUILD)/tests/probes/hlt_test: $(BUILD)/obj/probes/tests/hlt_test.o \
		$(BUILD)/obj/probes/hlt.o $(BUILD)/obj/probes/merge.o \
		$(BUILD)/obj/probes/timeline.o $(BUILD)/obj/probes/sink.o \
		$(BUILD)/obj/probes/event.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^

# sinkfmt: the sinks alone, events in and a format out (synthetic events or
# a recorded jsonl); the sink tests and the sink benchmark use it.
SINKFMT := $(BUILD)/tests/probes/sinkfmt
ALL += $(SINKFMT)
$(SINKFMT): $(BUILD)/obj/probes/tests/sinkfmt.o $(BUILD)/obj/probes/sink.o \
		$(BUILD)/obj/probes/perfetto.o $(BUILD)/obj/probes/summary.o \
		$(BUILD)/obj/probes/event.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^
