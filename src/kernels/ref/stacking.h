// Slicing a tensor along one axis and joining tensors along one axis: the data movement shared by
// Loop and Scan (scan outputs), SplitToSequence and ConcatFromSequence. Works for every data type,
// strings included.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::ref {

// t[..., start:start+length, ...] along `axis`, keeping the axis. The caller has checked the range.
Tensor narrow_axis(const Tensor& t, int64_t axis, int64_t start, int64_t length);

// t[..., index, ...] along `axis`, with the axis removed. The caller has checked the range.
Tensor select_axis(const Tensor& t, int64_t axis, int64_t index);

// Joins `items` along the existing `axis` (in [0, rank)). All items must share dtype and rank and
// agree on every other dimension; `items` must not be empty.
Expected<Tensor> concat_tensors(const std::vector<Tensor>& items, int64_t axis);

// Joins `items` along a new axis inserted at `axis` (in [0, rank]). All items must have the same dtype
// and shape; `items` must not be empty.
Expected<Tensor> stack_tensors(const std::vector<Tensor>& items, int64_t axis);

// A tensor of zero slices along `axis` for an output no iteration produced, shaped from the declared
// type of the element (`decl`): its fixed dims with 0 inserted at `axis`, or just [0] when the declared
// shape is not fully known.
Expected<Tensor> empty_stack(const ir::ValueInfo& decl, int64_t axis);

}  // namespace kiln::ref
