// The FP32 ceiling of this machine's CPUs: loops of nothing but independent fused multiply-adds at the
// widest vector width the compiler targets (bench/compare.sh builds it with -march=native), so that
// docs/benchmarks.md can put a model's GFLOP/s beside what the CPUs can do at most.
//
//   fma_peak [THREADS]    THREADS loops at once (default 1), one per thread
//
// Prints one JSON line: the instruction set, the thread count, and GFLOP/s per thread (one FMA = 2
// FLOP): the median over threads of each thread's median of 7 timed rounds, and the slowest and
// fastest round. Run at 1 and at the core count: logical CPUs that share a physical core's FMA units
// (SMT siblings, or a hypervisor's vCPUs on one core) each get a share of them when all are busy.
//
// 16 accumulators: more than an FMA's latency (4 cycles) times the FMA pipes (2 on AVX-512 Zen 4/5
// and Intel server cores) need, so the loop runs at the pipes' throughput, not the latency's.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define ISA "avx512"
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define SUM(v) _mm512_reduce_add_ps(v)
#elif defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define ISA "avx2"
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float SUM(__m256 v) {
  float f[8];
  _mm256_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#else
#error "fma_peak needs FMA (AVX2) or AVX-512: build with -march=native on an x86-64 machine that has them"
#endif

#define CHAINS 16

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// GFLOP/s of `iterations` rounds of CHAINS FMAs; *sink keeps the results alive.
static double round_gflops(long iterations, float* sink) {
  vec acc[CHAINS];
  for (int i = 0; i < CHAINS; ++i) acc[i] = SET1(0.001f * (float)i);
  const vec a = SET1(0.99999f), b = SET1(1e-7f);
  const double start = now_s();
  for (long k = 0; k < iterations; ++k) {
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; ++i) acc[i] = FMA(acc[i], a, b);
  }
  const double seconds = now_s() - start;
  vec total = acc[0];
  for (int i = 1; i < CHAINS; ++i) total = ADD(total, acc[i]);
  *sink += SUM(total);
  return (double)iterations * CHAINS * LANES * 2 / seconds / 1e9;
}

static int by_value(const void* x, const void* y) {
  const double a = *(const double*)x, b = *(const double*)y;
  return (a > b) - (a < b);
}

#define ROUNDS 7
#define ITERATIONS 20000000L
#define MAX_THREADS 256

struct thread_result {
  double rounds[ROUNDS];
  float sink;
};

static pthread_barrier_t start_together;

static void* run_thread(void* arg) {
  struct thread_result* r = arg;
  round_gflops(ITERATIONS, &r->sink);  // warm-up: the clock ramps up
  pthread_barrier_wait(&start_together);
  for (int i = 0; i < ROUNDS; ++i) r->rounds[i] = round_gflops(ITERATIONS, &r->sink);
  qsort(r->rounds, ROUNDS, sizeof r->rounds[0], by_value);
  return NULL;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > MAX_THREADS) {
    fprintf(stderr, "fma_peak: THREADS must be 1 to %d\n", MAX_THREADS);
    return 2;
  }
  static struct thread_result results[MAX_THREADS];
  pthread_t ids[MAX_THREADS];
  pthread_barrier_init(&start_together, NULL, (unsigned)threads);
  for (int t = 0; t < threads; ++t) pthread_create(&ids[t], NULL, run_thread, &results[t]);
  double medians[MAX_THREADS], lo = 1e30, hi = 0, sink = 0;
  for (int t = 0; t < threads; ++t) {
    pthread_join(ids[t], NULL);
    medians[t] = results[t].rounds[ROUNDS / 2];
    if (results[t].rounds[0] < lo) lo = results[t].rounds[0];
    if (results[t].rounds[ROUNDS - 1] > hi) hi = results[t].rounds[ROUNDS - 1];
    sink += results[t].sink;
  }
  qsort(medians, (size_t)threads, sizeof medians[0], by_value);
  printf("{\"isa\":\"%s\",\"threads\":%d,\"gflops_per_thread\":%.1f,\"min\":%.1f,\"max\":%.1f,\"sink\":%g}\n",
         ISA, threads, medians[threads / 2], lo, hi, sink);
  return 0;
}
