// SPDX-License-Identifier: MIT
/*
 * arenas.c — which arena a thread allocates from. The main arena (on the
 * program break) serves the first thread; each further thread gets an arena
 * of its own on mmap'd heaps until there are arena_max of them (default
 * 8 x cores, as glibc), then threads share, picking an arena that is not
 * locked. A thread keeps its arena; when it exits the arena goes on a free
 * list for the next new thread. A chunk always goes back to the arena that
 * owns it, whichever thread frees it.
 *
 * Fork: every arena lock (and the lists' locks) is held across fork, so
 * the child starts with a consistent heap; the child then re-initialises
 * the locks, being the only thread left.
 */
#include <string.h>

#include "allocator/arena.h"

struct arena_lock arena_list_lock;
unsigned narenas = 1;
__thread struct arena *thread_arena HL_TLS;
static struct arena *free_list;
static struct arena *next_to_use;
static pthread_key_t exit_key;
static int exit_key_ready;

/*
 * The arena lock's contended side. A few polite tries first (the holder's
 * critical section is short), then sleep on the futex marked 2, so that
 * the unlock knows to wake someone.
 */
void lock_wait(struct arena_lock *l, int c)
{
	for (int spin = 0; spin < 32 && c != 2; spin++) {
		__builtin_ia32_pause();
		c = 0;
		if (__atomic_compare_exchange_n(&l->word, &c, 1, 0, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
	}
	if (c != 2)
		c = __atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		os_futex_wait(&l->word, 2);
		c = __atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE);
	}
}

void lock_wake(struct arena_lock *l)
{
	os_futex_wake(&l->word, 1);
}

static unsigned arena_limit(void)
{
	unsigned cores;

	if (mp.arena_max)
		return (unsigned)mp.arena_max;
	cores = os_ncpus();
	return 8 * (cores ? cores : 1);
}

/* A new arena in a heap of its own: heap_info, the arena, then top. */
static struct arena *arena_new(unsigned index)
{
	struct heap_info *h = new_heap(sizeof(struct heap_info) + sizeof(struct arena) +
				       MINSIZE + MALLOC_ALIGNMENT, mp.top_pad);
	struct arena *a;

	if (!h)
		return NULL;
	a = (struct arena *)ALIGN_UP((uintptr_t)(h + 1), 64);
	memset(a, 0, sizeof(*a));
	lock_init(&a->mutex);
	arena_init(a, index);
	h->ar_ptr = a;
	h->first = (char *)ALIGN_UP((uintptr_t)(a + 1), MALLOC_ALIGNMENT);
	a->heap = h;
	a->system_mem = a->max_system_mem = h->size;
	arena_top_in_heap(a, h);
	COUNT_INC(arenas);
	os_note_arena_new(a);
	return a;
}

/* The thread-exit hook: only set once the thread has an arena of its own. */
static void thread_exit(void *arg)
{
	(void)arg;
	tcache_thread_exit();
	arena_detach();
}

static void remember_thread(void)
{
	/* Any non-NULL value makes the key's destructor run at thread exit. */
	if (__atomic_load_n(&exit_key_ready, __ATOMIC_ACQUIRE))
		pthread_setspecific(exit_key, (void *)1);
}

/* Round robin over all arenas, preferring one nobody holds right now. */
static struct arena *reuse_arena(void)
{
	struct arena *start = next_to_use ? next_to_use : &main_arena, *a = start;

	do {
		if (lock_try(&a->mutex) == 0) {
			lock_give(&a->mutex);
			break;
		}
		a = a->next ? a->next : &main_arena;
	} while (a != start);
	next_to_use = a->next ? a->next : &main_arena;
	return a;
}

struct arena *arena_attach(void)
{
	struct arena *a;

	lock_take(&arena_list_lock);
	if (main_arena.attached == 0) {
		/* The first thread (normally the main one) takes the main arena. */
		a = &main_arena;
	} else if (free_list) {
		a = free_list;
		free_list = a->next_free;
		a->next_free = NULL;
	} else if (narenas < arena_limit()) {
		unsigned index = narenas++;

		lock_give(&arena_list_lock);
		a = arena_new(index);
		lock_take(&arena_list_lock);
		if (a) {
			/* Appended, so readers walking from main_arena see it whole. */
			struct arena *tail = &main_arena;

			while (tail->next)
				tail = tail->next;
			__atomic_store_n(&tail->next, a, __ATOMIC_RELEASE);
		} else {
			narenas--;
			a = reuse_arena();
		}
	} else {
		a = reuse_arena();
	}
	a->attached++;
	lock_give(&arena_list_lock);
	thread_arena = a;
	remember_thread();
	return a;
}

void arena_detach(void)
{
	struct arena *a = thread_arena;

	if (!a)
		return;
	thread_arena = NULL;
	lock_take(&arena_list_lock);
	if (a->attached && --a->attached == 0 && a != &main_arena) {
		a->next_free = free_list;
		free_list = a;
	}
	lock_give(&arena_list_lock);
}

struct arena *arena_retry(struct arena *av)
{
	return av != &main_arena ? &main_arena : main_arena.next;
}

static void fork_prepare(void)
{
	lock_take(&arena_list_lock);
	for (struct arena *a = &main_arena; a; a = a->next)
		lock_take(&a->mutex);
	tcache_fork_prepare();
	mmapped_fork_prepare();
}

static void fork_parent(void)
{
	mmapped_fork_parent();
	tcache_fork_parent();
	for (struct arena *a = &main_arena; a; a = a->next)
		lock_give(&a->mutex);
	lock_give(&arena_list_lock);
}

/* The only thread now is the one that forked: every other arena is free. */
static void fork_child(void)
{
	struct arena *mine = thread_arena;

	mmapped_fork_child();
	tcache_fork_child();
	free_list = NULL;
	for (struct arena *a = &main_arena; a; a = a->next) {
		lock_init(&a->mutex);
		a->attached = a == mine;
		a->next_free = NULL;
		if (a != mine && a != &main_arena) {
			a->next_free = free_list;
			free_list = a;
		}
	}
	lock_init(&arena_list_lock);
}

/*
 * After the parameters and the main arena are ready, outside every lock:
 * pthread_atfork and pthread_key_create may allocate, and that must find
 * the allocator working. Registered this early, our prepare handler runs
 * after those of libraries registered later, which may still malloc.
 */
void arenas_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (pthread_key_create(&exit_key, thread_exit) == 0)
		__atomic_store_n(&exit_key_ready, 1, __ATOMIC_RELEASE);
	if (thread_arena)
		remember_thread();
}
