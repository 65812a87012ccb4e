// LD_PRELOAD shim that counts heap allocation calls and bytes and prints the totals to stderr at exit:
//   gcc -shared -fPIC -O2 -o build/malloc_count.so bench/malloc_count/malloc_count.c -ldl
//   LD_PRELOAD=build/malloc_count.so build/kiln bench MODEL --runs 10
// Allocations per steady-state run are the difference of two such runs with different --runs, divided
// by the difference in runs (bench/malloc_count/per_run.sh does that). It forwards to glibc's own
// entry points, so it changes nothing but the counters.
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static atomic_ulong calls, bytes;

static void count(size_t n) {
  atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&bytes, n, memory_order_relaxed);
}

void* malloc(size_t n) { count(n); return __libc_malloc(n); }
void* calloc(size_t k, size_t n) { count(k * n); return __libc_calloc(k, n); }
void* realloc(void* p, size_t n) { count(n); return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { count(n); return __libc_memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) {
  count(n);
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;  // ENOMEM
}

__attribute__((destructor)) static void report(void) {
  fprintf(stderr, "malloc_count: calls=%lu bytes=%lu\n", atomic_load(&calls), atomic_load(&bytes));
}
