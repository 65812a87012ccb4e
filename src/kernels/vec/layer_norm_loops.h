// Vectorized float32 layer normalization of contiguous rows, with an optional residual added first
// (LayerNormalization, kiln.SkipLayerNormalization: dnnl/layer_norm.cc), at the widest instruction set
// the CPU has.
#pragma once

#include <cstdint>

namespace kiln::vec {

// `rows` rows of n (> 0) values each; row r of a tensor starts at r * n. Scale and bias are one row,
// shared by all. Pointers marked "or null" may be null.
struct LayerNormRows {
  const float* a = nullptr;
  const float* b = nullptr;  // the residual, or null: x = a + b, else x = a
  const float* scale = nullptr;
  const float* bias = nullptr;  // or null
  float* y = nullptr;           // y = (x - mean(x)) / sqrt(var(x) + epsilon) * scale + bias
  float* sum = nullptr;         // or null; receives x = a + b (with b only)
  int64_t rows = 0;
  int64_t n = 0;
  float epsilon = 0;

  // The same job over rows [first, first + count) only.
  LayerNormRows slice(int64_t first, int64_t count) const {
    LayerNormRows s = *this;
    const int64_t offset = first * n;
    s.a += offset;
    if (s.b != nullptr) s.b += offset;
    s.y += offset;
    if (s.sum != nullptr) s.sum += offset;
    s.rows = count;
    return s;
  }
};

// Normalizes every row of `job` on the calling thread. The mean is summed relative to the row's first
// value (so a row far from 0 keeps its precision) and the variance is the mean of (x - mean)^2 (the
// stable two-pass form, not E[x^2] - mean^2), both in float over one vector of lanes.
void layer_norm_rows(const LayerNormRows& job);

}  // namespace kiln::vec
