# lab/ — the `heaplab` command and the shared test and bench runners.

LAB_SRCS := lab/main.c lab/util.c lab/paths.c lab/run.c lab/json.c lab/proc.c
LAB_OBJS := $(LAB_SRCS:%.c=$(BUILD)/obj/%.o)

ALL += $(BUILD)/heaplab
TESTS += lab/tests/cli.t lab/tests/install.t

# TOOL_OBJS and TOOL_LIBS are filled by the other areas' build.mk.
$(BUILD)/heaplab: $(LAB_OBJS) $(TOOL_OBJS)
	$(CC) $(TOOL_LDFLAGS) -o $@ $(LAB_OBJS) $(TOOL_OBJS) $(TOOL_LIBS)

# Unit tests of lab/ code, sanitized like the tools.
LAB_TESTS := $(BUILD)/tests/lab/json_test
TESTS += $(LAB_TESTS)
$(BUILD)/tests/lab/json_test: $(BUILD)/obj/lab/tests/json_test.o $(BUILD)/obj/lab/json.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^
