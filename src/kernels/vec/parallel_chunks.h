// Splits an elementwise loop over the intra-op OpenMP team (the one oneDNN's kernels use; its size is
// set per run by exec/run_threads.h), or runs it on the calling thread when the work is too small to
// pay for waking the team, when the team has one thread, or when already inside a parallel region
// (regions never nest).
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernels/thread_scratch.h"

namespace kiln::vec {

// Calls body(begin, end) over [0, n) in contiguous chunks, one per thread, each at least `grain`
// elements and a multiple of 64 (whole cache lines of floats) except the last.
template <typename Body>
void for_each_chunk(int64_t n, int64_t grain, Body&& body) {
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t threads = std::min<int64_t>(max_threads, n / std::max<int64_t>(grain, 1));
  if (threads <= 1) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
  const int64_t chunk = ((n + threads - 1) / threads + 63) / 64 * 64;
#pragma omp parallel num_threads(static_cast <int>(threads))
  {
    // OpenMP may give fewer threads than asked (OMP_DYNAMIC, a thread limit): those it gives take the
    // chunks in turn, so none is left undone.
    for (int64_t t = omp_get_thread_num(); t < threads; t += omp_get_num_threads()) {
      const int64_t begin = std::min<int64_t>(n, t * chunk);
      const int64_t end = std::min<int64_t>(n, begin + chunk);
      if (begin < end) body(begin, end);
    }
  }
}

// The threads for_each_row_chunk splits `rows` rows of `row_elements` elements over: at most one per
// row, and one per `grain` elements, once there are two grains; 1 inside a parallel region (regions
// never nest).
inline int row_chunk_threads(int64_t rows, int64_t row_elements, int64_t grain) {
  const int max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t threads = std::min<int64_t>({max_threads, rows, rows * row_elements / std::max<int64_t>(grain, 1)});
  return static_cast<int>(std::max<int64_t>(threads, 1));
}

// Calls body(begin, end) over [0, rows) in contiguous runs of whole rows of `row_elements` elements,
// one run per thread of row_chunk_threads(...), or all on this thread when that is 1. For kernels
// whose unit of work is a row (an image's channel block), not an element.
template <typename Body>
void for_each_row_chunk(int64_t rows, int64_t row_elements, int64_t grain, Body&& body) {
  const int threads = row_chunk_threads(rows, row_elements, grain);
  if (threads <= 1) {
    if (rows > 0) body(int64_t{0}, rows);
    return;
  }
  const int64_t chunk = (rows + threads - 1) / threads;
#pragma omp parallel num_threads(threads)
  {
    // Fewer threads than asked take the runs in turn, as in for_each_chunk.
    for (int64_t t = omp_get_thread_num(); t < threads; t += omp_get_num_threads()) {
      const int64_t begin = std::min<int64_t>(rows, t * chunk);
      const int64_t end = std::min<int64_t>(rows, begin + chunk);
      if (begin < end) body(begin, end);
    }
  }
}

// for_each_row_chunk whose body also gets `floats` floats of its thread's scratch in `slot`
// (kernels/thread_scratch.h): body(begin, end, scratch). False when a thread had no memory for it
// (its rows are then left undone), for the caller to report after the loop: no exception may leave
// the parallel region.
template <typename Body>
bool for_each_row_chunk_with_scratch(int64_t rows, int64_t row_elements, int64_t grain, ScratchSlot slot, size_t floats,
                                     Body&& body) {
  std::atomic<bool> no_memory{false};
  for_each_row_chunk(rows, row_elements, grain, [&](int64_t begin, int64_t end) {
    auto* scratch = static_cast<float*>(thread_scratch(slot, floats * sizeof(float)));
    if (scratch == nullptr) {
      no_memory = true;
      return;
    }
    body(begin, end, scratch);
  });
  return !no_memory;
}

}  // namespace kiln::vec
