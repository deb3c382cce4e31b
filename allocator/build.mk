# allocator/ — libheaplab.so, the full allocator (ptmalloc2's design), and its tests.

ALLOC_SRCS := allocator/api.c allocator/arena.c allocator/arenas.c allocator/bins.c \
	allocator/check.c allocator/dump.c allocator/heap.c allocator/mmapped.c \
	allocator/options.c allocator/os.c allocator/out.c allocator/tcache.c
ALLOC_OBJS := $(ALLOC_SRCS:%.c=$(BUILD)/pic/%.o)

# Only the API is exported; TLS must be initial-exec (glibc's manual on
# replacing malloc); the compiler must not turn malloc+memset into calloc
# inside calloc itself. -fno-plt: see the resident code, below.
ALLOC_CFLAGS := -fvisibility=hidden -ftls-model=initial-exec $(SDT_INC) \
	-fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free \
	-fno-semantic-interposition -fno-plt
# nodelete: pointers we handed out must stay freeable even if someone
# dlcloses us; defs: no undefined symbol may slip through.
ALLOC_LDFLAGS := -Wl,-z,nodelete -Wl,-z,defs -Wl,-z,now

$(ALLOC_OBJS): LIB_CFLAGS += $(ALLOC_CFLAGS)
# A change of these flags rebuilds the library (footprint checks the result).
$(ALLOC_OBJS): allocator/build.mk

# Resident code: a preloaded library's code pages all count towards every
# process's RSS (the kernel maps up to 16 file pages around each fault), so
# the code segment is kept to 10 pages (tests/footprint.c checks it). Calls
# to libc go through the GOT (-z now binds it at load; no PLT stubs), and
# the files whose code a program reaches once or never (the option parser,
# the heap dump and reporting calls, check=1's verifier, the formatter of
# reports, a thread's arena attach, fork and the lock's contended side)
# are optimised for size. So is mmapped.c, whose every path ends in a
# system call: -Os takes 1.6 KiB off it and adds no instruction to the
# big-block workloads (callgrind: large, realloc, mixed, memreturn).
ALLOC_COLD_OBJS := $(addprefix $(BUILD)/pic/allocator/,arenas.o check.o dump.o mmapped.o options.o out.o)
$(ALLOC_COLD_OBJS): LIB_CFLAGS += -Os

ALL += $(BUILD)/libheaplab.so
INSTALL_LIBS += $(BUILD)/libheaplab.so

$(BUILD)/libheaplab.so: $(ALLOC_OBJS)
	$(CC) $(LIB_LDFLAGS) $(ALLOC_LDFLAGS) -o $@ $(ALLOC_OBJS)

# Tests. sizes is a plain unit test (sanitizers welcome); the others run with
# libheaplab.so preloaded, so they are built without sanitizers.
ALLOC_PRELOAD_TESTS := $(addprefix $(BUILD)/tests/allocator/,api behaviour corrupt threads fuzz footprint)
TESTS += $(BUILD)/tests/allocator/sizes $(ALLOC_PRELOAD_TESTS) \
	allocator/tests/programs.t allocator/tests/options.t allocator/tests/library.t

$(BUILD)/tests/allocator/sizes: $(BUILD)/obj/allocator/tests/sizes.o $(BUILD)/obj/allocator/bins.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^

$(ALLOC_PRELOAD_TESTS): $(BUILD)/tests/allocator/%: allocator/tests/%.c allocator/tests/preload.h \
		allocator/include/heaplab.h lab/tests/tap.h $(BUILD)/libheaplab.so
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE -pthread -fno-builtin -Wno-alloc-size-larger-than -Wno-use-after-free \
		-I. -o $@ $< -ldl

# The shell tests run the C programs above.
check: $(ALLOC_PRELOAD_TESTS)
