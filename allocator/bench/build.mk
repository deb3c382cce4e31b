# allocator/bench/ — `make bench`: allocator workloads under glibc, heaplab,
# jemalloc, mimalloc and tcmalloc, side by side (runner.c, lab/bench.sh).
#
# The workloads are built without sanitizers and linked normally, so that
# LD_PRELOAD replaces their malloc; the runner is a tool like any other.

BENCH_WORKLOADS := churn glibc-simple larson xmalloc sh6bench sh8bench \
	rptest realloc mixed large memreturn memfrag
BENCH_BINS := $(BENCH_WORKLOADS:%=$(BUILD)/bench/alloc/%)
BENCH_RUNNER := $(BUILD)/bench/runner
BENCH_CFLAGS := -O2 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread

# Real programs, timed only where installed.
BENCH_REAL := $(foreach p,python3 gcc sqlite3 git,$(if $(shell command -v $(p) 2>/dev/null),allocator/bench/real/$(p).sh))

BENCHES += $(BENCH_RUNNER) $(BENCH_BINS) $(BENCH_REAL)
TESTS += allocator/bench/tests/bench.t

# The harness test runs the runner and every workload: build them first
# (not in ALL, so plain `make` stays fast).
allocator/bench/tests/bench.t: $(BENCH_RUNNER) $(BENCH_BINS)

# Dependency files go beside, not into, bench/alloc/: that directory holds
# only workloads.
$(BUILD)/bench/alloc/%: allocator/bench/workloads/%.c
	@mkdir -p $(dir $@) $(BUILD)/bench/deps
	$(CC) $(BENCH_CFLAGS) -MMD -MP -MF $(BUILD)/bench/deps/$*.d -o $@ $<

BENCH_RUNNER_OBJS := $(BUILD)/obj/allocator/bench/runner.o \
	$(BUILD)/obj/allocator/bench/jsonr.o
$(BENCH_RUNNER): $(BENCH_RUNNER_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $(BENCH_RUNNER_OBJS) -lm
