# allocator/phases/ — the teaching allocators, one self-contained source per
# phase: build/phases/libphase1.so … libphase6.so (see phase.h for what each
# exports besides the malloc API).

PHASE_NS := 1 2 3 4 5 6
PHASE_LIBS := $(PHASE_NS:%=$(BUILD)/phases/libphase%.so)

ALL += $(PHASE_LIBS)
INSTALL_LIBS += $(PHASE_LIBS)

# Only the malloc API and the heaplab_phase_* symbols are exported.
$(BUILD)/pic/allocator/phases/%.o: LIB_CFLAGS += -fvisibility=hidden

# Keep the objects: make would delete them as intermediates of the pattern.
.SECONDARY: $(PHASE_NS:%=$(BUILD)/pic/allocator/phases/phase%.o)

$(BUILD)/phases/libphase%.so: $(BUILD)/pic/allocator/phases/phase%.o
	@mkdir -p $(dir $@)
	$(CC) $(LIB_LDFLAGS) -Wl,--no-undefined -o $@ $<

# The checks run inside processes with a phase preloaded: never sanitized
# (ASan would bring its own malloc), so they get their own rule.
PHASE_TEST_CFLAGS := $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -fno-builtin -I.
PHASE_TEST := $(BUILD)/tests/phases/phase-test

$(PHASE_TEST): allocator/phases/tests/phase-test.c allocator/phases/phase.h lab/tests/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(PHASE_TEST_CFLAGS) -o $@ $< -lpthread

TESTS += allocator/phases/tests/preload.t $(PHASE_TEST)
