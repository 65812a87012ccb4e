#include "kernels/reference_fallbacks.h"

#include <atomic>

namespace kiln {
namespace {

std::atomic<int64_t> fallbacks{0};

}  // namespace

void count_reference_fallback() { fallbacks.fetch_add(1, std::memory_order_relaxed); }

int64_t reference_fallbacks() { return fallbacks.load(std::memory_order_relaxed); }

}  // namespace kiln
