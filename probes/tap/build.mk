# probes/tap/ — the tap's own tests and microbenchmark (the tap and the
# reader are built by probes/build.mk).

# The reader's clock conversion, sanitized with the tools.
TESTS += $(BUILD)/tests/probes/clock_test
$(BUILD)/tests/probes/clock_test: $(BUILD)/obj/probes/tap/tests/clock_test.o \
		$(BUILD)/obj/probes/tap/reader.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^

# tapbench: ns per call with and without the tap, both clocks (make bench).
# Plain -O2, never sanitized: it measures.
TAPBENCH := $(BUILD)/probes/tapbench
BENCHES += $(TAPBENCH)
$(TAPBENCH): probes/tap/bench/tapbench.c probes/tap/reader.c \
		probes/tap/reader.h probes/tap/ring.h
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -I. \
		-fno-builtin-malloc -fno-builtin-free -o $@ \
		probes/tap/bench/tapbench.c probes/tap/reader.c
