// The lanes of the vector kernels' blocked rows: constant weights packed for their tiles (channels in
// groups of 16 lanes, each tap or input channel of a group one 16-lane vector, zero past the last
// channel, so that a block of 16 reads one group and a block of 8 half of one), and the padding lanes
// of the rows they write.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "kernels/blocked_layout.h"
#include "kernels/kernel.h"
#include "kiln/tensor.h"

namespace kiln::vec {

inline constexpr int64_t kPackedLanes = 16;

// Weights [m][taps] packed as [ceil(m/16)][taps][16], zero past m: a block of 16 reads one group, a
// block of 8 half of one.
inline Tensor pack_lanes(const Tensor& w, int64_t m, int64_t taps) {
  Tensor packed(DataType::kFloat32, {channel_blocks(m, kPackedLanes), taps, kPackedLanes});  // zero-filled
  for (int64_t ch = 0; ch < m; ++ch) {
    for (int64_t t = 0; t < taps; ++t) {
      packed.data<float>()[(ch / kPackedLanes * taps + t) * kPackedLanes + ch % kPackedLanes] =
          w.data<float>()[ch * taps + t];
    }
  }
  return packed;
}

// [ceil(m/16) * 16] from [m] (or zeros without a bias).
inline Tensor pack_bias(const Tensor* b, int64_t m) {
  Tensor packed(DataType::kFloat32, {channel_blocks(m, kPackedLanes) * kPackedLanes});
  if (b != nullptr) std::copy(b->data<float>(), b->data<float>() + m, packed.data<float>());
  return packed;
}

// [m][taps] from pack_lanes' [ceil(m/16)][taps][16]: the plain weights back, for the reference.
inline Tensor unpack_lanes(const Tensor& packed, const Shape& shape) {
  Tensor plain(DataType::kFloat32, shape);
  const int64_t m = shape[0], taps = plain.size() / m;
  for (int64_t ch = 0; ch < m; ++ch) {
    for (int64_t t = 0; t < taps; ++t) {
      plain.data<float>()[ch * taps + t] =
          packed.data<float>()[(ch / kPackedLanes * taps + t) * kPackedLanes + ch % kPackedLanes];
    }
  }
  return plain;
}

// The biases of a fused block over m channels, B (input 2) and DB (input 4), as the fused kernels pack
// them at build: each null where absent or not a constant (run() then sees one given and hands the
// call to the reference), else a float32 [m] constant; nullopt for a constant of another type or shape.
struct BlockBiases {
  const Tensor* b = nullptr;
  const Tensor* db = nullptr;
};
inline std::optional<BlockBiases> block_biases(const KernelBuildContext& build, int64_t m) {
  const BlockBiases biases{build.constant(2), build.constant(4)};
  auto fits = [m](const Tensor* t) {
    return t == nullptr || (t->dtype() == DataType::kFloat32 && t->shape() == Shape{m});
  };
  if (!fits(biases.b) || !fits(biases.db)) return std::nullopt;
  return biases;
}

// Zeroes lanes [lanes, B) of each of the n pixels of `row`. Their weights and bias are 0, but an
// infinite or NaN input value makes 0 * x NaN there, which the depthwise convolution would carry into
// Y's padding lanes (and a 1x1 convolution after it into every channel).
template <int B>
inline void zero_padding_lanes(float* row, int64_t n, int64_t lanes) {
  if (lanes >= B) return;
  for (int64_t i = 0; i < n; ++i) std::fill(row + i * B + lanes, row + (i + 1) * B, 0.0f);
}

}  // namespace kiln::vec
