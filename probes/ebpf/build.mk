# probes/ebpf/ — the ebpf engine: memtrace.bpf.c (kernel side), ebpf.c (loader).
#
# vmlinux.h comes from the running kernel's BTF and the skeleton from the
# compiled BPF object, both generated into $(BUILD)/ebpf and never committed.
# Where the kernel has no BTF or bpftool/clang are missing, heaplab is built
# without the engine (HL_NO_EBPF) and says so when asked to use it.

EBPF_DIR   := $(BUILD)/ebpf
BTF_FILE   ?= /sys/kernel/btf/vmlinux
BPFTOOL    ?= $(firstword $(wildcard /usr/sbin/bpftool /usr/bin/bpftool) bpftool)
BPF_CLANG  ?= clang
BPF_CFLAGS := -g -O2 -Wall -target bpf -D__TARGET_ARCH_x86 -I$(EBPF_DIR) -Iprobes/ebpf \
	-idirafter /usr/include/x86_64-linux-gnu

EBPF_PROGS := memtrace
EBPF_SRCS  := probes/ebpf/ebpf.c probes/ebpf/engine.c probes/ebpf/run.c
EBPF_OBJS  := $(EBPF_SRCS:%.c=$(BUILD)/obj/%.o)

HAVE_EBPF := $(shell test -r $(BTF_FILE) && command -v $(BPFTOOL) >/dev/null && \
	command -v $(BPF_CLANG) >/dev/null && test -f /usr/include/bpf/libbpf.h && echo 1)

TOOL_OBJS += $(EBPF_OBJS)

# The sinks of part 2 (-f perfetto, -c), beside part 1's text/jsonl sink.
TOOL_OBJS += $(BUILD)/obj/probes/perfetto.o $(BUILD)/obj/probes/summary.o

ifeq ($(HAVE_EBPF),1)
TOOL_LIBS += -lbpf -lelf -lz
EBPF_SKELS := $(EBPF_PROGS:%=$(EBPF_DIR)/%.skel.h)

$(EBPF_DIR)/vmlinux.h: $(BTF_FILE)
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $< format c > $@.tmp && mv $@.tmp $@

$(EBPF_DIR)/%.bpf.o: probes/ebpf/%.bpf.c probes/ebpf/memtrace.h $(EBPF_DIR)/vmlinux.h
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(EBPF_DIR)/%.skel.h: $(EBPF_DIR)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

# The kernel types the object's CO-RE reads use, cut out of BTF_FILE (about
# 1 KiB instead of libbpf parsing all 5.5 MB of it at every start, 15-25 ms
# here), and the notes of the kernel that BTF came from (its build id), so
# that ebpf.c uses the cut only on that very kernel. A BTF_FILE other than
# the running kernel's gives no notes: the kernel's BTF is then always used.
$(EBPF_DIR)/%.min.btf: $(EBPF_DIR)/%.bpf.o $(BTF_FILE)
	$(BPFTOOL) gen min_core_btf $(BTF_FILE) $@.tmp $< && mv $@.tmp $@

$(EBPF_DIR)/%.btf.h: $(EBPF_DIR)/%.min.btf
	probes/ebpf/embed.sh $* $< $(if $(filter /sys/kernel/btf/vmlinux,$(BTF_FILE)),/sys/kernel/notes) > $@.tmp && mv $@.tmp $@

$(EBPF_OBJS): $(EBPF_SKELS) $(EBPF_PROGS:%=$(EBPF_DIR)/%.btf.h)
$(BUILD)/obj/probes/ebpf/%.o: TOOL_CFLAGS += -I$(EBPF_DIR)
else
EBPF_COMMA := ,
EBPF_WHY := $(if $(wildcard $(BTF_FILE)),bpftool$(EBPF_COMMA) clang or libbpf-dev was missing,there was no kernel BTF at $(BTF_FILE))
$(BUILD)/obj/probes/ebpf/%.o: TOOL_CFLAGS += -DHL_NO_EBPF='"$(EBPF_WHY) at build time"'
endif

# Keep the BPF objects: bpftool reads them, and make would delete them.
.SECONDARY: $(EBPF_PROGS:%=$(EBPF_DIR)/%.bpf.o) $(EBPF_PROGS:%=$(EBPF_DIR)/%.min.btf)

# Test programs: mt_target (deterministic targets, never sanitized: ASan's
# own malloc would replace the allocator under test) and, with the engine,
# mtdump (the raw records of memtrace, no timeline).
EBPF_TEST_DIR := $(BUILD)/tests/ebpf
ALL += $(EBPF_TEST_DIR)/mt_target
TESTS += probes/ebpf/tests/memtrace.t probes/ebpf/tests/trace-ebpf.t probes/ebpf/tests/sinks.t \
	probes/ebpf/tests/uprobes-hold.t probes/ebpf/tests/uprobes-pid.t probes/ebpf/tests/no-ebpf.t

$(EBPF_TEST_DIR)/mt_target: probes/ebpf/tests/mt_target.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE $(SDT_INC) -o $@ $< -lpthread

# The same, statically linked, for --uprobes on a program with its own malloc.
ifneq ($(wildcard /usr/lib/x86_64-linux-gnu/libc.a),)
ALL += $(EBPF_TEST_DIR)/mt_static
$(EBPF_TEST_DIR)/mt_static: probes/ebpf/tests/mt_target.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(WARN) -std=gnu11 -D_GNU_SOURCE $(SDT_INC) -static -o $@ $< -lpthread
endif

ifeq ($(HAVE_EBPF),1)
ALL += $(EBPF_TEST_DIR)/mtdump
$(EBPF_TEST_DIR)/mtdump: $(BUILD)/obj/probes/ebpf/tests/mtdump.o $(BUILD)/obj/probes/ebpf/ebpf.o
	@mkdir -p $(dir $@)
	$(CC) $(TOOL_LDFLAGS) -o $@ $^ -lbpf -lelf -lz
endif

# make bench: the tracers' overhead side by side (needs root for eBPF columns).
BENCHES += probes/ebpf/bench/trace-overhead.sh
