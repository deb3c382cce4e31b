// SPDX-License-Identifier: MIT
/*
 * ebpf.c — loads memtrace.bpf.c through its generated skeleton, feeds the
 * target's pid to the in-kernel filter and drains the ring buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "probes/ebpf/ebpf.h"

const char *hl_ebpf_syscall_name(unsigned int nr)
{
	switch (nr) {
	case MT_NR_MMAP:	return "mmap";
	case MT_NR_MPROTECT:	return "mprotect";
	case MT_NR_MUNMAP:	return "munmap";
	case MT_NR_BRK:		return "brk";
	case MT_NR_MREMAP:	return "mremap";
	case MT_NR_MADVISE:	return "madvise";
	}
	return NULL;
}

#ifdef HL_NO_EBPF

struct hl_ebpf *hl_ebpf_open(const struct hl_ebpf_opts *o, hl_ebpf_fn fn,
			     void *ctx, char *why, size_t len)
{
	(void)o, (void)fn, (void)ctx;
	snprintf(why, len, "heaplab was built without the ebpf engine (%s)",
		 HL_NO_EBPF);
	return NULL;
}

int hl_ebpf_follow(struct hl_ebpf *e, pid_t pid)
{
	(void)e, (void)pid;
	errno = ENOSYS;
	return -1;
}

int hl_ebpf_poll(struct hl_ebpf *e, int timeout_ms)
{
	(void)e, (void)timeout_ms;
	errno = ENOSYS;
	return -1;
}

int hl_ebpf_attach_usdt(struct hl_ebpf *e, const char *path,
			const char *provider, const struct hl_ebpf_probe *p,
			size_t n, char *why, size_t len)
{
	(void)e, (void)path, (void)provider, (void)p, (void)n;
	snprintf(why, len, "no ebpf engine");
	return -1;
}

int hl_ebpf_attach_calls(struct hl_ebpf *e, const char *path, pid_t pid,
			 const struct hl_ebpf_probe *p, size_t n,
			 char *why, size_t len)
{
	(void)e, (void)path, (void)pid, (void)p, (void)n;
	snprintf(why, len, "no ebpf engine");
	return -1;
}

int hl_ebpf_attached(const struct hl_ebpf *e, pid_t pid, const char *path)
{
	(void)e, (void)pid, (void)path;
	return 0;
}
void hl_ebpf_detach_pid(struct hl_ebpf *e, pid_t pid) { (void)e, (void)pid; }
size_t hl_ebpf_nlinks(const struct hl_ebpf *e) { (void)e; return 0; }
int hl_ebpf_any_alive(struct hl_ebpf *e) { (void)e; return 0; }
void hl_ebpf_kill_all(struct hl_ebpf *e, int sig) { (void)e, (void)sig; }
int hl_ebpf_procs_fd(const struct hl_ebpf *e) { (void)e; return -1; }
long hl_ebpf_live(const struct hl_ebpf *e) { (void)e; return 0; }
const char *hl_ebpf_btf(const struct hl_ebpf *e) { (void)e; return "none"; }
long hl_ebpf_pending(const struct hl_ebpf *e) { (void)e; return 0; }
unsigned long long hl_ebpf_drops(const struct hl_ebpf *e) { (void)e; return 0; }
size_t hl_ebpf_ring_bytes(const struct hl_ebpf *e) { (void)e; return 0; }
void hl_ebpf_close(struct hl_ebpf *e) { (void)e; }

#else

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <sys/syscall.h>

#include "memtrace.skel.h"
#include "memtrace.btf.h"

/*
 * The BPF ring's size. Creating, mapping (twice, for records that wrap)
 * and unmapping it costs ~0.27 ms per MiB here, at every trace's start and
 * end: 4.4 ms for 16 MiB, a fifth of the start-up. Without --uprobes the
 * ring carries only the memory syscalls and the tree's fork/exec/exit (the
 * allocator calls come through the tap's lanes): a few MB/s at most from
 * one thread (an mmap+munmap loop, ~370k records/s of 112 bytes: 41 MB/s),
 * so 4 MiB holds ~37k records, ~0.1 s of that loop with the reader starved;
 * it is woken at a quarter. Uprobes put every malloc and free in it: 16 MiB.
 * What finds the ring full is counted (drops) and reported, never hidden.
 */
#define RING_SYSCALLS	(4u << 20)
#define RING_CALLS	(16u << 20)
#define MAX_LINKS	256
/* Uprobe links destroyed side by side, at most (a thread each). */
#define REAP_BATCH	256

/* Functions of one object a link can hold (the malloc family: 10). */
#define MAX_FNS		16
/* Objects whose functions were looked up (the allocator, static programs). */
#define MAX_OBJS	72
/* The kernel's, for libbpf 1.1 and uapi headers that predate them (6.6). */
#define HL_TRACE_UPROBE_MULTI	48
#define HL_F_UPROBE_MULTI_RETURN	1u

/* A uprobe_multi link of one traced process, on one object. */
struct plink {
	pid_t pid;
	const char *path;	/* the caller's string, compared by address */
	int fd;
};

/* An object's functions, as a uprobe_multi link takes them. */
struct fnset {
	const char *path;	/* the caller's string, compared by address */
	unsigned int n;
	unsigned long long offs[MAX_FNS], cookies[MAX_FNS];
};

struct hl_ebpf {
	struct memtrace *skel;
	struct ring_buffer *rb;
	hl_ebpf_fn fn;
	void *ctx;
	int failed;
	int usdt, calls;	/* their programs were loaded */
	const char *btf;	/* "embedded" or "kernel" (see core_btf) */
	size_t ring;		/* the ring's size */
	/* USDT attachments made at run time. */
	struct bpf_link *links[MAX_LINKS];
	size_t nlinks;
	/* Uprobe links, by process (attached by pid). */
	struct plink *plinks;
	size_t nplinks, capplinks;
	struct fnset objs[MAX_OBJS];
	size_t nobjs;
	/*
	 * Links of processes gone, for the reaper thread to destroy (each
	 * waits out an RCU grace period: not on the main loop).
	 */
	pthread_mutex_t reap_lock;
	pthread_cond_t reap_cond;
	pthread_t reaper;
	int reaping, reap_stop;
	int *dead;
	size_t ndead, capdead;
};

static int keep_link(struct hl_ebpf *e, struct bpf_link *l)
{
	if (e->nlinks == MAX_LINKS) {
		bpf_link__destroy(l);
		errno = ENOSPC;
		return -1;
	}
	e->links[e->nlinks++] = l;
	return 0;
}

/*
 * libbpf's own messages: kept quiet unless HEAPLAB_DEBUG is set, but the
 * last warning is remembered to explain a failed load.
 */
static char libbpf_last[512];

static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	if (getenv("HEAPLAB_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_WARN) {
		vsnprintf(libbpf_last, sizeof(libbpf_last), fmt, ap);
		libbpf_last[strcspn(libbpf_last, "\n")] = '\0';
	}
	return 0;
}

static void explain(char *why, size_t len, const char *what, int err)
{
	if (err == EPERM || err == EACCES)
		snprintf(why, len, "%s: %s (BPF needs root or CAP_BPF+CAP_PERFMON)",
			 what, strerror(err));
	else
		snprintf(why, len, "%s: %s%s%s", what, strerror(err),
			 libbpf_last[0] ? "; libbpf: " : "", libbpf_last);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct hl_ebpf *e = ctx;
	const struct mt_hdr *h = data;

	if (size < sizeof(*h) || h->size > size)
		return 0;	/* cannot happen with one producer; skip it */
	if (e->fn(h, e->ctx) < 0) {
		e->failed = 1;
		return -1;
	}
	return 0;
}

/* Is this the kernel whose notes (build id) the build embedded? */
static int built_for_this_kernel(void)
{
	unsigned char buf[1024];
	size_t len = memtrace_btf_kernel_len, got = 0;
	ssize_t n;
	int fd;

	if (!len || len > sizeof(buf))
		return 0;
	fd = open("/sys/kernel/notes", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += n;
	close(fd);
	return got == len && !memcmp(buf, memtrace_btf_kernel, len);
}

/*
 * The kernel types for CO-RE. Left to itself, libbpf parses all of
 * /sys/kernel/btf/vmlinux (5.5 MB, read 4 KiB at a time: 15-25 ms here,
 * the bulk of the start-up) to relocate a dozen field reads. The build cut
 * out just those types (build.mk, bpftool gen min_core_btf); on the very
 * kernel they were cut from, libbpf gets them instead, through a memfd.
 * On another kernel, or with HEAPLAB_EBPF_BTF=kernel, it reads the
 * kernel's own. Returns the memfd (to close after the load) or -1, and
 * the path for libbpf in PATH.
 */
static int core_btf(char *path, size_t len)
{
	const char *want = getenv("HEAPLAB_EBPF_BTF");
	size_t off = 0;
	int fd;

	if ((want && !strcmp(want, "kernel")) || !built_for_this_kernel())
		return -1;
	fd = memfd_create("heaplab-core-btf", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	while (off < sizeof(memtrace_btf)) {
		ssize_t n = write(fd, memtrace_btf + off, sizeof(memtrace_btf) - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += n;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	if (access(path, R_OK) < 0) {	/* no /proc: libbpf could not open it */
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A power of two, at least a page: what BPF_MAP_TYPE_RINGBUF requires.
 * HEAPLAB_EBPF_RING (bytes) overrides the default, for tests of a full ring.
 */
static size_t ring_size(const struct hl_ebpf_opts *o)
{
	const char *env = getenv("HEAPLAB_EBPF_RING");
	size_t n = (size_t)sysconf(_SC_PAGESIZE), want;

	want = o->ring_bytes ? o->ring_bytes : o->calls ? RING_CALLS : RING_SYSCALLS;
	if (env && *env)
		want = strtoull(env, NULL, 0);
	while (n < want && n < (1ul << 30))
		n <<= 1;
	return n;
}

struct hl_ebpf *hl_ebpf_open(const struct hl_ebpf_opts *o, hl_ebpf_fn fn,
			     void *ctx, char *why, size_t len)
{
	struct hl_ebpf *e = calloc(1, sizeof(*e));
	size_t ring = ring_size(o);
	char btf_path[64];
	int err, btf_fd;

	if (!e) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	e->fn = fn;
	e->ctx = ctx;
	libbpf_set_print(libbpf_log);
	libbpf_last[0] = '\0';
	btf_fd = core_btf(btf_path, sizeof(btf_path));
	e->btf = btf_fd >= 0 ? "embedded" : "kernel";
	{
		LIBBPF_OPTS(bpf_object_open_opts, oo,
			    .btf_custom_path = btf_fd >= 0 ? btf_path : NULL);

		e->skel = memtrace__open_opts(&oo);
	}
	if (!e->skel) {
		explain(why, len, "cannot open the BPF object", errno);
		if (btf_fd >= 0)
			close(btf_fd);
		goto fail;
	}
	/*
	 * Only the programs this trace uses: each costs a verification at
	 * load, and the USDT and uprobe ones are attached by hand later.
	 */
	e->usdt = o->usdt;
	e->calls = o->calls;
	bpf_program__set_autoload(e->skel->progs.sys_enter, o->syscalls);
	/* A forked child is held at its return from fork (hold_forks). */
	bpf_program__set_autoload(e->skel->progs.sys_exit,
				  o->syscalls || o->hold_forks);
	bpf_program__set_autoload(e->skel->progs.usdt_probe, o->usdt);
	bpf_program__set_autoload(e->skel->progs.call_enter, o->calls);
	bpf_program__set_autoload(e->skel->progs.call_exit, o->calls);
	/* Attached by pid as uprobe_multi links (link_multi()). */
	bpf_program__set_expected_attach_type(e->skel->progs.call_enter,
					      HL_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(e->skel->progs.call_exit,
					      HL_TRACE_UPROBE_MULTI);
	if (!o->calls) {
		/* Preallocated per thread: megabytes to clear for nothing. */
		bpf_map__set_max_entries(e->skel->maps.calls, 1);
		bpf_map__set_autocreate(e->skel->maps.empty_stack, false);
	}
	if (!o->usdt) {
		/* usdt.bpf.h's maps, used by the USDT program alone. */
		bpf_map__set_autocreate(e->skel->maps.__bpf_usdt_specs, false);
		bpf_map__set_autocreate(e->skel->maps.__bpf_usdt_ip_to_spec_id, false);
	}
	e->skel->rodata->trace_syscalls = o->syscalls;
	e->skel->rodata->trace_calls = o->calls;
	e->skel->rodata->hold_execs = o->hold_execs;
	e->skel->rodata->hold_forks = o->hold_forks;
	if (o->tap_path) {
		struct stat st;

		if (stat(o->tap_path, &st) == 0) {
			/* The kernel's dev_t: major in the high 12 bits of 32. */
			e->skel->rodata->tap_dev = (unsigned long long)major(st.st_dev) << 20 |
						   minor(st.st_dev);
			e->skel->rodata->tap_ino = st.st_ino;
		}
	}
	/* Wake the reader when a quarter of the ring is waiting. */
	e->skel->rodata->wake_bytes = ring / 4;
	e->ring = ring;
	bpf_map__set_max_entries(e->skel->maps.events, ring);
	err = memtrace__load(e->skel);
	if (btf_fd >= 0)
		close(btf_fd);
	if (err) {
		explain(why, len, "cannot load the BPF programs", -err);
		goto fail;
	}
	err = memtrace__attach(e->skel);
	if (err) {
		explain(why, len, "cannot attach the tracepoints", -err);
		goto fail;
	}
	e->rb = ring_buffer__new(bpf_map__fd(e->skel->maps.events), on_record, e, NULL);
	if (!e->rb) {
		explain(why, len, "cannot map the ring buffer", errno);
		goto fail;
	}
	return e;
fail:
	hl_ebpf_close(e);
	return NULL;
}

int hl_ebpf_attach_usdt(struct hl_ebpf *e, const char *path,
			const char *provider, const struct hl_ebpf_probe *p,
			size_t n, char *why, size_t len)
{
	int attached = 0;

	if (!e->usdt) {
		snprintf(why, len, "the USDT program was not loaded (opts.usdt)");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_usdt_opts, o, .usdt_cookie = p[i].cookie);
		struct bpf_link *l;

		libbpf_last[0] = '\0';
		l = bpf_program__attach_usdt(e->skel->progs.usdt_probe, -1,
					     path, provider, p[i].name, &o);
		if (!l) {
			if (errno == ENOENT)	/* not in this object */
				continue;
			explain(why, len, p[i].name, errno);
			return -1;
		}
		if (keep_link(e, l) < 0) {
			explain(why, len, p[i].name, errno);
			return -1;
		}
		attached++;
	}
	return attached;
}

/*
 * Where function FN of ELF object ELF is in its file: what a uprobe is
 * put on. Its symbol's address, less its load segment's address, plus the
 * segment's file offset. -1 when not defined there.
 */
static long long fn_offset(Elf *elf, const char *fn)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t nph;
	long long addr = -1;

	while (addr < 0 && (scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || !sh.sh_entsize ||
		    (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) ||
		    !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_shndx == SHN_UNDEF || !sym.st_value)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && !strcmp(name, fn)) {
				addr = (long long)sym.st_value;
				break;
			}
		}
	}
	if (addr < 0 || elf_getphdrnum(elf, &nph))
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
		    (unsigned long long)addr >= ph.p_vaddr &&
		    (unsigned long long)addr < ph.p_vaddr + ph.p_memsz)
			return addr - (long long)ph.p_vaddr + (long long)ph.p_offset;
	}
	return -1;
}

/* PATH's functions of P, looked up once. NULL with WHY on failure. */
static const struct fnset *fnset_of(struct hl_ebpf *e, const char *path,
				    const struct hl_ebpf_probe *p, size_t n,
				    char *why, size_t len)
{
	struct fnset *fs;
	Elf *elf;
	int fd;

	for (size_t i = 0; i < e->nobjs; i++)
		if (e->objs[i].path == path)
			return &e->objs[i];
	if (e->nobjs == MAX_OBJS) {
		snprintf(why, len, "%s: too many objects to put uprobes on", path);
		return NULL;
	}
	fs = &e->objs[e->nobjs];
	memset(fs, 0, sizeof(*fs));
	fs->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf) {
		snprintf(why, len, "%s: not an ELF object (%s)", path,
			 elf_errmsg(-1));
		close(fd);
		return NULL;
	}
	for (size_t i = 0; i < n && fs->n < MAX_FNS; i++) {
		long long off = fn_offset(elf, p[i].name);

		if (off < 0)
			continue;	/* not defined here */
		fs->offs[fs->n] = (unsigned long long)off;
		fs->cookies[fs->n++] = p[i].cookie;
	}
	elf_end(elf);
	close(fd);
	e->nobjs++;
	return fs;
}

/*
 * One uprobe_multi link (BPF_LINK_CREATE; libbpf 1.1 has no wrapper) of
 * PROG on every function of FS, for process PID alone: the kernel runs it
 * only in PID's mm and for PID's threads (a vfork child, sharing the mm,
 * needs its own), and keeps following PID across exec; other processes
 * mapping the file get no breakpoint. One link for all the functions,
 * where perf-event uprobes take a perf event (fd) each, whose removal
 * waits out grace periods under perf's global event mutex, ~0.1 s each,
 * blocking every other open meanwhile: bench/README.md, "Uprobes by pid".
 */
static int link_multi(const struct bpf_program *prog, const struct fnset *fs,
		      pid_t pid, unsigned int flags)
{
	union bpf_attr a;
	/* link_create.uprobe_multi, laid out by hand (uapi 6.6). */
	struct {
		__u32 prog_fd, target_fd, attach_type, flags;
		__u64 path, offsets, ref_ctr_offsets, cookies;
		__u32 cnt, uflags, pid;
	} *um = (void *)&a;
	_Static_assert(sizeof(*um) <= sizeof(a), "bpf_attr holds it");

	memset(&a, 0, sizeof(a));
	um->prog_fd = bpf_program__fd(prog);
	um->attach_type = HL_TRACE_UPROBE_MULTI;
	um->path = (unsigned long)fs->path;
	um->offsets = (unsigned long)fs->offs;
	um->cookies = (unsigned long)fs->cookies;
	um->cnt = fs->n;
	um->uflags = flags;
	um->pid = pid;
	return (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a));
}

static int keep_plink(struct hl_ebpf *e, pid_t pid, const char *path, int fd)
{
	if (e->nplinks == e->capplinks) {
		size_t cap = e->capplinks ? e->capplinks * 2 : 64;
		struct plink *v = realloc(e->plinks, cap * sizeof(*v));

		if (!v) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
		e->plinks = v;
		e->capplinks = cap;
	}
	e->plinks[e->nplinks++] = (struct plink){ pid, path, fd };
	return 0;
}

int hl_ebpf_attached(const struct hl_ebpf *e, pid_t pid, const char *path)
{
	for (size_t i = 0; i < e->nplinks; i++)
		if (e->plinks[i].pid == pid &&
		    (!path || e->plinks[i].path == path))
			return 1;
	return 0;
}

int hl_ebpf_attach_calls(struct hl_ebpf *e, const char *path, pid_t pid,
			 const struct hl_ebpf_probe *p, size_t n,
			 char *why, size_t len)
{
	const struct fnset *fs;
	int in, out;

	if (!e->calls) {
		snprintf(why, len, "the uprobe programs were not loaded (opts.calls)");
		return -1;
	}
	fs = fnset_of(e, path, p, n, why, len);
	if (!fs)
		return -1;
	if (!fs->n)
		return 0;
	in = link_multi(e->skel->progs.call_enter, fs, pid, 0);
	if (in < 0) {
		if (errno == ESRCH)	/* gone: nothing to record */
			return 0;
		explain(why, len, path, errno);
		return -1;
	}
	out = link_multi(e->skel->progs.call_exit, fs, pid,
			 HL_F_UPROBE_MULTI_RETURN);
	if (out < 0) {
		explain(why, len, path, errno);
		close(in);
		return -1;
	}
	/* keep_plink() closes what it cannot keep. */
	if (keep_plink(e, pid, path, in) < 0) {
		close(out);
		explain(why, len, path, errno);
		return -1;
	}
	if (keep_plink(e, pid, path, out) < 0) {
		explain(why, len, path, errno);
		return -1;
	}
	return (int)fs->n;
}

const char *hl_ebpf_btf(const struct hl_ebpf *e)
{
	return e->btf;
}

long hl_ebpf_pending(const struct hl_ebpf *e)
{
	return __atomic_load_n(&e->skel->bss->npending, __ATOMIC_ACQUIRE);
}

int hl_ebpf_follow(struct hl_ebpf *e, pid_t pid)
{
	struct mt_proc proc = { 0 };	/* filled in at exec */
	__u32 key = pid;

	if (bpf_map__update_elem(e->skel->maps.procs, &key, sizeof(key),
				 &proc, sizeof(proc), BPF_NOEXIST))
		return -1;
	__sync_fetch_and_add(&e->skel->bss->live_procs, 1);
	return 0;
}

int hl_ebpf_poll(struct hl_ebpf *e, int timeout_ms)
{
	int n, m;

	/*
	 * Records go in without a wake-up (memtrace.bpf.c: submit()), so a
	 * poll that times out may still find some: always consume after.
	 */
	n = ring_buffer__poll(e->rb, timeout_ms);
	if (n < 0 && n != -EINTR)
		goto fail;
	m = ring_buffer__consume(e->rb);
	if (m < 0)
		goto fail;
	return (n > 0 ? n : 0) + m;
fail:
	if (!e->failed)
		errno = -(n < 0 ? n : m);
	return -1;
}

/* Calls FN on every tgid in the filter map until it returns non-zero. */
static int each_proc(struct hl_ebpf *e, int (*fn)(__u32 pid, int arg), int arg)
{
	const struct bpf_map *m = e->skel->maps.procs;
	__u32 key, next;
	int have = 0, r;

	while (bpf_map__get_next_key(m, have ? &key : NULL, &next,
				     sizeof(next)) == 0) {
		if ((r = fn(next, arg)))
			return r;
		key = next;
		have = 1;
	}
	return 0;
}

static int proc_alive(__u32 pid, int arg)
{
	(void)arg;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int proc_kill(__u32 pid, int sig)
{
	kill((pid_t)pid, sig);
	return 0;
}

int hl_ebpf_any_alive(struct hl_ebpf *e)
{
	return each_proc(e, proc_alive, 0);
}

void hl_ebpf_kill_all(struct hl_ebpf *e, int sig)
{
	each_proc(e, proc_kill, sig);
}

int hl_ebpf_procs_fd(const struct hl_ebpf *e)
{
	return bpf_map__fd(e->skel->maps.procs);
}

long hl_ebpf_live(const struct hl_ebpf *e)
{
	return __atomic_load_n(&e->skel->bss->live_procs, __ATOMIC_ACQUIRE);
}

unsigned long long hl_ebpf_drops(const struct hl_ebpf *e)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long total = 0;
	__u32 zero = 0;

	if (ncpu <= 0)
		return 0;
	__u64 per[ncpu];
	if (bpf_map__lookup_elem(e->skel->maps.drops, &zero, sizeof(zero),
				 per, sizeof(per), 0))
		return 0;
	for (int i = 0; i < ncpu; i++)
		total += per[i];
	return total;
}

size_t hl_ebpf_ring_bytes(const struct hl_ebpf *e)
{
	return e->ring;
}

/*
 * Removing a uprobe waits for an RCU grace period, up to a quarter of a
 * second here: one at a time, --uprobes would take seconds to end. Side by
 * side, the waits overlap. side_by_side() runs FN(SET, i) for every i < N,
 * a thread each, REAP_BATCH at a time; where no thread can be had, here.
 */
typedef void side_fn(const void *set, size_t i);

struct side_job {
	side_fn *fn;
	const void *set;
	size_t i;
};

static void *side_job_run(void *arg)
{
	const struct side_job *j = arg;

	j->fn(j->set, j->i);
	return NULL;
}

static void side_by_side(side_fn *fn, const void *set, size_t n)
{
	struct side_job jobs[REAP_BATCH];
	pthread_t t[REAP_BATCH];
	int started[REAP_BATCH];

	for (size_t at = 0; at < n; at += REAP_BATCH) {
		size_t m = n - at < REAP_BATCH ? n - at : REAP_BATCH;

		for (size_t i = 0; i < m; i++) {
			jobs[i] = (struct side_job){ fn, set, at + i };
			started[i] = pthread_create(&t[i], NULL, side_job_run,
						    &jobs[i]) == 0;
		}
		for (size_t i = 0; i < m; i++) {
			if (started[i])
				pthread_join(t[i], NULL);
			else
				fn(set, at + i);
		}
	}
}

/* A uprobe_multi link's last close waits out its grace period too. */
static void close_fd_at(const void *fds, size_t i)
{
	close(((const int *)fds)[i]);
}

static void close_plink_at(const void *plinks, size_t i)
{
	close(((const struct plink *)plinks)[i].fd);
}

static void destroy_link_at(const void *links, size_t i)
{
	bpf_link__destroy(((struct bpf_link *const *)links)[i]);
}

/*
 * The reaper: destroys the links of processes gone, all those queued at
 * once, side by side, so that a fork loop's links are closed about as
 * fast as they are opened and the open fds stay bounded.
 */
static void *reap_loop(void *arg)
{
	struct hl_ebpf *e = arg;

	pthread_mutex_lock(&e->reap_lock);
	for (;;) {
		int *v;
		size_t n;

		while (!e->ndead && !e->reap_stop)
			pthread_cond_wait(&e->reap_cond, &e->reap_lock);
		if (!e->ndead)
			break;
		v = e->dead;
		n = e->ndead;
		e->dead = NULL;
		e->ndead = e->capdead = 0;
		pthread_mutex_unlock(&e->reap_lock);
		side_by_side(close_fd_at, v, n);
		free(v);
		pthread_mutex_lock(&e->reap_lock);
	}
	pthread_mutex_unlock(&e->reap_lock);
	return NULL;
}

/* Queues FD for the reaper (lock held); 0, or -1 when it must go now. */
static int reap_queue(struct hl_ebpf *e, int fd)
{
	if (e->ndead == e->capdead) {
		size_t cap = e->capdead ? e->capdead * 2 : 64;
		int *v = realloc(e->dead, cap * sizeof(*v));

		if (!v)
			return -1;
		e->dead = v;
		e->capdead = cap;
	}
	e->dead[e->ndead++] = fd;
	return 0;
}

void hl_ebpf_detach_pid(struct hl_ebpf *e, pid_t pid)
{
	size_t j = 0;

	if (!e->reaping) {
		pthread_mutex_init(&e->reap_lock, NULL);
		pthread_cond_init(&e->reap_cond, NULL);
		e->reaping = 1 + !pthread_create(&e->reaper, NULL, reap_loop, e);
	}
	pthread_mutex_lock(&e->reap_lock);
	for (size_t i = 0; i < e->nplinks; i++) {
		struct plink *p = &e->plinks[i];

		if (p->pid != pid)
			e->plinks[j++] = *p;
		else if (e->reaping != 2 || reap_queue(e, p->fd) < 0)
			close(p->fd);	/* slow, but no leak */
	}
	e->nplinks = j;
	pthread_cond_signal(&e->reap_cond);
	pthread_mutex_unlock(&e->reap_lock);
}

size_t hl_ebpf_nlinks(const struct hl_ebpf *e)
{
	return e->nplinks;
}

static void reaper_stop(struct hl_ebpf *e)
{
	if (!e->reaping)
		return;
	if (e->reaping == 2) {
		pthread_mutex_lock(&e->reap_lock);
		e->reap_stop = 1;
		pthread_cond_signal(&e->reap_cond);
		pthread_mutex_unlock(&e->reap_lock);
		pthread_join(e->reaper, NULL);
	}
	pthread_mutex_destroy(&e->reap_lock);
	pthread_cond_destroy(&e->reap_cond);
	e->reaping = 0;
}

void hl_ebpf_close(struct hl_ebpf *e)
{
	if (!e)
		return;
	reaper_stop(e);
	/* Every process's links still open, side by side; then USDT's. */
	side_by_side(close_plink_at, e->plinks, e->nplinks);
	side_by_side(destroy_link_at, e->links, e->nlinks);
	free(e->plinks);
	ring_buffer__free(e->rb);
	memtrace__destroy(e->skel);
	free(e);
}

#endif
