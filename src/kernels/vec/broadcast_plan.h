// How two float tensors broadcast onto their output, reduced to at most kMaxGroups loops: adjacent
// output dimensions merge when each operand either spans both or is broadcast along both, and the
// innermost merged group becomes the row a vectorized row function runs over. This covers, each in
// one or two loops, same shapes ([N, C, H, W] + [N, C, H, W]), scalars, rows ([B, S, 768] + [768]),
// channels ([N, C, H, W] * [N, C, 1, 1], as in squeeze-excitation) and blocked channels
// ([N, C/16, H, W, 16] * [N, C/16, 1, 1, 16]). Building a plan allocates nothing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "kernels/vec/binary_loops.h"
#include "kiln/tensor.h"

namespace kiln::vec {

class BroadcastPlan {
 public:
  static constexpr int kMaxGroups = 4;

  // The plan for a op b, or nullopt when the shapes do not broadcast (the reference reports that) or
  // need more than kMaxGroups loops (the reference runs them).
  static std::optional<BroadcastPlan> make(const Shape& a, const Shape& b);

  int64_t out_size() const { return out_size_; }
  RowKind row_kind() const { return kind_; }

  // Computes output elements [begin, end) with `row`, reading a and b. Thread-safe (const).
  void run(BinaryRowFn row, const float* a, const float* b, float* out, int64_t begin, int64_t end) const;

 private:
  int groups_ = 0;  // merged dimensions, outermost first; the last is the row
  std::array<int64_t, kMaxGroups> dims_{};
  std::array<int64_t, kMaxGroups> a_stride_{};  // elements to step per index of the group (0: broadcast)
  std::array<int64_t, kMaxGroups> b_stride_{};
  int64_t out_size_ = 0;
  RowKind kind_ = RowKind::kBoth;
};

// The broadcast output shape of a and b (numpy rules), or nullopt when they do not broadcast.
std::optional<Shape> broadcast_shape(const Shape& a, const Shape& b);

}  // namespace kiln::vec
