#include "kernels/vec/broadcast_plan.h"

#include <algorithm>

namespace kiln::vec {

std::optional<Shape> broadcast_shape(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::optional<BroadcastPlan> BroadcastPlan::make(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  BroadcastPlan p;
  // Walk the dimensions innermost first, merging each into the current group when its broadcast
  // pattern (which operand is 1 there) matches; dimensions of output size 1 change nothing.
  std::array<bool, kMaxGroups> a_bcast{}, b_bcast{};
  std::array<int64_t, kMaxGroups> dims{}, a_stride{}, b_stride{};
  int groups = 0;
  int64_t a_elems = 1, b_elems = 1, out_size = 1;
  for (size_t k = 0; k < rank; ++k) {
    const size_t i = rank - 1 - k;
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    const int64_t d = da == 1 ? db : da;
    out_size *= d;
    if (d == 1) continue;
    const bool ab = da == 1, bb = db == 1;
    if (groups > 0 && a_bcast[groups - 1] == ab && b_bcast[groups - 1] == bb) {
      dims[groups - 1] *= d;
    } else {
      if (groups == kMaxGroups) return std::nullopt;
      a_bcast[groups] = ab;
      b_bcast[groups] = bb;
      dims[groups] = d;
      a_stride[groups] = ab ? 0 : a_elems;
      b_stride[groups] = bb ? 0 : b_elems;
      ++groups;
    }
    if (!ab) a_elems *= d;
    if (!bb) b_elems *= d;
  }
  if (groups == 0) {  // every output dimension is 1: one element
    dims[0] = 1;
    groups = 1;
  }
  // Stored outermost first.
  p.groups_ = groups;
  for (int g = 0; g < groups; ++g) {
    p.dims_[g] = dims[groups - 1 - g];
    p.a_stride_[g] = a_stride[groups - 1 - g];
    p.b_stride_[g] = b_stride[groups - 1 - g];
  }
  p.out_size_ = out_size;
  const bool a_row = a_bcast[0], b_row = b_bcast[0];  // the innermost group, as collected
  p.kind_ = a_row ? RowKind::kScalarA : (b_row ? RowKind::kScalarB : RowKind::kBoth);
  return p;
}

void BroadcastPlan::run(BinaryRowFn row, const float* a, const float* b, float* out, int64_t begin, int64_t end) const {
  if (begin >= end) return;
  const int last = groups_ - 1;
  const int64_t row_len = dims_[last];
  // The odometer of the outer groups at `begin`, and the operands' offsets there.
  std::array<int64_t, kMaxGroups> index{};
  int64_t rest = begin / row_len;
  int64_t a_off = 0, b_off = 0;
  for (int g = last - 1; g >= 0; --g) {
    index[g] = rest % dims_[g];
    rest /= dims_[g];
    a_off += index[g] * a_stride_[g];
    b_off += index[g] * b_stride_[g];
  }
  int64_t pos = begin % row_len;
  int64_t o = begin;
  while (o < end) {
    // Whole rows left in the current sweep of the group above the row run in one call.
    int64_t reps = 1;
    if (pos == 0 && last >= 1)
      reps = std::max<int64_t>(1, std::min(dims_[last - 1] - index[last - 1], (end - o) / row_len));
    const int64_t n = std::min(row_len - pos, end - o);
    const int64_t step_a = last >= 1 ? a_stride_[last - 1] : 0, step_b = last >= 1 ? b_stride_[last - 1] : 0;
    row(a + a_off + pos * a_stride_[last], b + b_off + pos * b_stride_[last], out + o, n, reps, step_a, step_b);
    o += n + (reps - 1) * row_len;
    pos = 0;
    // Advance the odometer by `reps` rows: the group above the row by reps (never past its end), then
    // carry outwards one step if it wrapped.
    if (last == 0) continue;
    index[last - 1] += reps - 1;
    a_off += (reps - 1) * step_a;
    b_off += (reps - 1) * step_b;
    for (int g = last - 1; g >= 0; --g) {
      a_off += a_stride_[g];
      b_off += b_stride_[g];
      if (++index[g] < dims_[g]) break;
      a_off -= a_stride_[g] * dims_[g];
      b_off -= b_stride_[g] * dims_[g];
      index[g] = 0;
    }
  }
}

}  // namespace kiln::vec
