// Concat without its copy. When each input of a Concat is the first output of an earlier node that
// nothing else reads, those nodes can write their results straight into the Concat's output, which is
// then complete when its turn comes: at batch 1 a channel Concat's inputs are consecutive ranges of its
// output (SqueezeNet's fire modules, Inception's branches). With batches the ranges interleave, and the
// Concat copies as before.
//
// Which shapes the parts have is only known at run time, so GraphPlan learns each Concat's layout from
// a run that copied (ConcatLayout::of) and uses it in the runs that follow with the same input shapes:
// the first producer allocates the output, every producer is offered its slice
// (KernelContext::output0_tensor), and the Concat step checks that every part is where its slice is
// before it skips its kernel (ConcatLayout::holds). A part anywhere else - a kernel that allocates its
// own output, a fallback, a shape that changed with the input values - makes the Concat copy as usual,
// so the result never depends on the guess.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "kiln/value.h"

namespace kiln {

// A Concat whose parts may be written in place (GraphPlan finds them when it builds).
struct ConcatSite {
  size_t step = 0;         // the Concat's step
  int64_t axis = 0;        // its attribute, possibly negative
  int output_slot = -1;
  std::vector<int> parts;  // its input slots, in order; each the output 0 of an earlier step
};

// Where a Concat's parts lie in its output.
struct ConcatLayout {
  DataType dtype = DataType::kUndefined;
  Shape shape;                   // the output's
  std::vector<int64_t> offsets;  // each part's first element in the output
  std::vector<Shape> part_shapes;

  // The layout of a Concat of `parts` along `axis`, or nullopt when they do not fill consecutive ranges
  // of the output (a dimension before the axis is not 1) or do not join (strings, unequal types, ranks
  // or other dimensions: the kernel reports those).
  static std::optional<ConcatLayout> of(const std::vector<const Value*>& parts, int64_t axis);

  // True when every part is the slice of `output` this layout puts it in.
  bool holds(const Tensor& output, const std::vector<const Value*>& parts) const;
};

// The layouts of a graph's Concat sites (nullopt: not in place) for one set of input shapes.
struct ConcatLayouts {
  std::vector<Shape> input_shapes;
  std::vector<std::optional<ConcatLayout>> sites;
};

// The layouts learned last. Thread-safe: runs of one plan on many threads share it.
class ConcatLayoutMemo {
 public:
  // The layouts learned for the shapes of `slots[key_slots]`, or null (none yet, other shapes, or a
  // key value that is not a tensor).
  std::shared_ptr<const ConcatLayouts> find(const std::vector<const Value*>& slots,
                                            const std::vector<int>& key_slots) const;
  // The shapes of `slots[key_slots]`, for a new ConcatLayouts; nullopt when one is not a tensor.
  static std::optional<std::vector<Shape>> key(const std::vector<const Value*>& slots, const std::vector<int>& key_slots);
  void remember(std::shared_ptr<const ConcatLayouts> layouts);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const ConcatLayouts> last_;
};

}  // namespace kiln
