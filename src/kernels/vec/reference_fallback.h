// The vectorized kernels' place in the registry: above the reference kernels, to which each hands the
// cases it does not take (other data types, legacy broadcasting, unusual inputs), so that answers and
// error messages never differ from the reference's.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "kernels/kernel.h"

namespace kiln::vec {

// Priority of the vectorized kernels: above the reference kernels (0), like the oneDNN ones.
inline constexpr int kVecPriority = 10;

// Builds the kernel one priority below kVecPriority (the reference) for the node being built.
Expected<std::unique_ptr<Kernel>> build_reference(const KernelBuildContext& b);

// Runs `reference` on a call the fast kernel does not take, counted (kernels/reference_fallbacks.h) so
// that the op tests can tell that their cases took the vector path.
Status run_counted_reference(const Kernel& reference, KernelContext& ctx);

// run_counted_reference with `released[j].second` standing for input `released[j].first` where that
// input is absent or undefined: a constant the plan let go of once the fast kernel had packed it
// (Kernel::releases_constant), unpacked again by the kernel for the reference.
Status run_counted_reference(const Kernel& reference, KernelContext& ctx,
                             const std::vector<std::pair<size_t, const Value*>>& released);

// True if input i is present and a float32 tensor.
bool is_float32_tensor(const KernelContext& ctx, size_t i);

}  // namespace kiln::vec
