# experiments/ — the experiment drivers (linked into heaplab) and the target
# programs they run (built without sanitizers: they run with an allocator
# preloaded; installed with the libraries).

EXP_SRCS := $(wildcard experiments/*.c)
TOOL_OBJS += $(EXP_SRCS:%.c=$(BUILD)/obj/%.o)

EXP_TARGET_SRCS := $(wildcard experiments/targets/*.c)
EXP_TARGETS := $(EXP_TARGET_SRCS:experiments/targets/%.c=$(BUILD)/experiments/targets/%)
ALL += $(EXP_TARGETS)
INSTALL_LIBS += $(EXP_TARGETS)

$(BUILD)/experiments/targets/%: experiments/targets/%.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -I. -o $@ $< -ldl -lpthread

TESTS += $(wildcard experiments/tests/*.t)
