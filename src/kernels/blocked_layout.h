// kiln's blocked channel layout ("NCHWc", oneDNN's nChw16c): an activation [N, C, spatial...] is
// stored as the ordinary tensor [N, ceil(C/16), spatial..., 16], channel c at block c/16, lane c%16.
// Channels past C (the padding of the last block) hold zeros when made here and, in general, any finite
// value: every consumer either ignores them (a convolution's weights for them are zero) or keeps them
// finite (elementwise ops, pooling), and kiln.ReorderFromBlocked drops them.
//
// The graph pass convert_to_blocked_layout keeps CNN activations in this layout between operators
// that run well on it; the kiln.Blocked* kernels and the two reorders read and write it.
#pragma once

#include <cstdint>

#include "kiln/tensor.h"

namespace kiln {

// Channels per block: the AVX-512 float vector width oneDNN's blocked kernels use.
inline constexpr int64_t kChannelBlock = 16;

inline int64_t channel_blocks(int64_t channels) { return (channels + kChannelBlock - 1) / kChannelBlock; }

// The blocked shape of a plain [N, C, spatial...] shape (rank >= 2).
Shape blocked_shape(const Shape& plain);
// The plain shape [N, channels, spatial...] of a blocked [N, Cb, spatial..., 16] shape.
Shape plain_shape(const Shape& blocked, int64_t channels);

// Copies plain float32 [N, C, spatial...] into a new blocked tensor with zero padding lanes.
Tensor to_blocked(const Tensor& plain);
// Copies the first `channels` channels of blocked float32 [N, Cb, spatial..., 16] into a plain tensor;
// needs channels <= Cb * 16.
Tensor from_blocked(const Tensor& blocked, int64_t channels);

}  // namespace kiln
