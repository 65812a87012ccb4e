// Shared pieces of the oneDNN-backed kernels: the CPU engine, a stream per thread, plain (row-major)
// memory descriptors, the per-shape primitive cache, and delegation to the reference kernel.
//
// Every fast kernel here follows one shape:
//   factory:  parse attributes, build the reference kernel for the same node (the fallback), pre-pack
//             constant weights;
//   run:      if the inputs are something the kernel does not handle (another dtype, an empty tensor,
//             an unusual attribute combination, or oneDNN has no implementation), run the reference
//             kernel instead, so the answer (and any error message) is the reference's; otherwise
//             look up (or create once) the primitive for these input shapes and execute it.
// oneDNN reports errors by throwing dnnl::error; no exception leaves this folder.
#pragma once

#include <omp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/fused_activation.h"
#include "kernels/kernel.h"
#include "kernels/thread_scratch.h"

namespace kiln::dnnl_kernels {

// Priority of the oneDNN kernels in the registry: above the reference kernels (0).
inline constexpr int kDnnlPriority = 10;

// The process-wide CPU engine. Thread-safe.
const dnnl::engine& cpu_engine();
// A stream for the calling thread (oneDNN CPU streams are cheap, but creating one allocates).
dnnl::stream& thread_stream();

dnnl::memory::dims to_dims(const Shape& shape);
// A dense row-major f32 descriptor of `dims`.
dnnl::memory::desc plain_desc(const dnnl::memory::dims& dims);
// The oneDNN tag of kiln's blocked layout with `block` channels per block (nChw8c, nChw16c), or
// format_tag::undef for a block oneDNN has no 2-D tag for (the kernels then run their reference).
dnnl::memory::format_tag blocked_tag(int64_t block);
// A f32 descriptor of logical NCHW `dims` in kiln's blocked layout; blocked_tag(block) must not be undef.
dnnl::memory::desc blocked_desc(const dnnl::memory::dims& dims, int64_t block);
// A memory object over caller-owned data (const only in spirit: oneDNN reads inputs through it).
dnnl::memory wrap(const dnnl::memory::desc& md, const void* data);

// Primitive attributes every kernel starts from: a user-provided scratchpad. oneDNN's own
// (library-managed) scratchpad belongs to the primitive, so two threads running one cached primitive
// at once would share it; each thread brings its own instead (see execute()).
dnnl::primitive_attr base_attr();
// Runs `p` on the calling thread's stream and waits, with a scratchpad of `scratchpad_bytes` from a
// buffer of the calling thread that only grows (so a seen shape allocates nothing). Throws dnnl::error.
void execute(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory>& args, size_t scratchpad_bytes);

// The arguments of one execution in a fixed array, for hot paths: building one allocates nothing (a
// map allocates a node per argument). Holds raw handles: the memory objects must outlive execute().
class ExecArgs {
 public:
  static constexpr size_t kCapacity = 8;
  // Throws dnnl::error when full (a kernel bug, never the input's fault).
  void add(int arg, const dnnl::memory& m) {
    if (n_ == kCapacity) throw dnnl::error(dnnl_invalid_arguments, "too many execution arguments");
    args_[n_++] = {arg, m.get()};
  }
  int size() const { return static_cast<int>(n_); }
  const dnnl_exec_arg_t* data() const { return args_.data(); }

 private:
  std::array<dnnl_exec_arg_t, kCapacity> args_{};
  size_t n_ = 0;
};
// As execute() above, with the scratchpad added to `args`. Throws dnnl::error.
void execute(const dnnl::primitive& p, ExecArgs& args, size_t scratchpad_bytes);

// A oneDNN memory over pages of its own: core/buffer_pool.h's allocate_block, a large one in huge
// pages, so filling it costs few page faults, and freeing it returns them to the OS. oneDNN's own
// allocation (malloc, 4 KiB pages) made a 3 MB weight reorder take 10 ms, mostly faults. Whoever uses
// `memory` must hold `pages`.
struct OwnedMemory {
  std::shared_ptr<void> pages;
  dnnl::memory memory;
};
// Zero-filled. Throws dnnl::error when there is no memory.
OwnedMemory owned_memory(const dnnl::memory::desc& md);

// kiln::thread_scratch (kernels/thread_scratch.h), throwing dnnl::error when memory runs out.
void* thread_buffer(ScratchSlot slot, size_t bytes);

// Builds the reference (priority below kDnnlPriority) kernel for the node being built.
Expected<std::unique_ptr<Kernel>> build_reference(const KernelBuildContext& b);

// True if every present input listed is a float32 tensor with no zero-sized dimension.
bool all_float32_nonempty(const KernelContext& ctx, std::initializer_list<size_t> inputs);

// A fixed-capacity key built from input shapes and flags; building one allocates nothing.
class ShapeKey {
 public:
  void add(int64_t v) {
    if (n_ < v_.size()) v_[n_++] = v;
    else overflow_ = true;
  }
  void add(const Shape& s) {
    add(static_cast<int64_t>(s.size()));
    for (int64_t d : s) add(d);
  }
  // Keys that did not fit are never cached (the kernel delegates to the reference).
  bool overflow() const { return overflow_; }
  bool operator==(const ShapeKey& o) const {
    if (n_ != o.n_) return false;
    for (size_t i = 0; i < n_; ++i) {
      if (v_[i] != o.v_[i]) return false;
    }
    return true;
  }

 private:
  std::array<int64_t, 48> v_{};
  size_t n_ = 0;
  bool overflow_ = false;
};

// Primitives (and whatever else depends on the input shapes) keyed by ShapeKey, at most kCapacity of
// them, least recently used evicted first, so memory stays bounded however many shapes a model sees.
// Thread-safe; entries are shared_ptrs so an entry evicted while another thread runs it stays alive.
//
// The key includes the calling thread's OpenMP team size (omp_get_max_threads()): oneDNN's OpenMP
// kernels fix their thread split when the primitive is created and then ask for that many threads on
// every execution, so a primitive made for a team of 2 would still run on 2 threads in a run that the
// CoreBudget, TeamContention or SerialBelow gave one.
template <typename Entry>
class ShapeCache {
 public:
  static constexpr size_t kCapacity = 16;

  // The entry for `key`, made by make() (returning Expected<std::shared_ptr<const Entry>>) on a miss.
  // make() runs under the lock, so one shape is built once even when threads race on it.
  template <typename Make>
  Expected<std::shared_ptr<const Entry>> get(const ShapeKey& key, Make&& make) const {
    const int threads = omp_get_max_threads();
    std::lock_guard<std::mutex> lock(mu_);
    if (std::shared_ptr<const Entry> found = find_locked(key, threads)) return found;
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const Entry> entry, make());
    if (entries_.size() == kCapacity) entries_.pop_back();
    entries_.insert(entries_.begin(), Slot{key, threads, entry});
    return entry;
  }

  // The entry for `key` made for a team of `threads` (not necessarily the caller's), or null; makes
  // nothing. For a kernel that sets the team size from the entry it finds (SerialBelow).
  std::shared_ptr<const Entry> find(const ShapeKey& key, int threads) const {
    std::lock_guard<std::mutex> lock(mu_);
    return find_locked(key, threads);
  }

  // Drops every entry `drop` (called under the lock with a const Entry&) returns true for; a run still
  // holding one keeps it alive until it finishes.
  template <typename Drop>
  void erase_if(Drop&& drop) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(entries_, [&](const Slot& slot) { return drop(*slot.entry); });
  }

 private:
  struct Slot {
    ShapeKey key;
    int threads;
    std::shared_ptr<const Entry> entry;
  };
  // Moves a hit to the front without allocating. Called under mu_.
  std::shared_ptr<const Entry> find_locked(const ShapeKey& key, int threads) const {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].threads == threads && entries_[i].key == key) {
        for (size_t j = i; j > 0; --j) std::swap(entries_[j], entries_[j - 1]);
        return entries_[0].entry;
      }
    }
    return nullptr;
  }

  mutable std::mutex mu_;
  mutable std::vector<Slot> entries_;  // most recent first
};

// Appends the activation (fused_activation.h's, or kiln.BlockedConv's Swish) as oneDNN eltwise post-ops.
void append_activation(const FusedActivation& act, dnnl::post_ops* ops);

}  // namespace kiln::dnnl_kernels
