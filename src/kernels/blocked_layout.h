// kiln's blocked channel layout ("NCHWc", oneDNN's nChw8c / nChw16c): an activation [N, C, spatial...]
// is stored as the ordinary tensor [N, ceil(C/B), spatial..., B], channel c at block c/B, lane c%B.
// The block B is the tensor's last dimension: every kernel reads it from there, so one binary runs
// B = 16 where oneDNN's blocked kernels are AVX-512 and B = 8 where they are AVX2 (process_channel_block
// in kernels/dnnl/channel_block.h picks it once; the pass convert_to_blocked_layout writes it into the
// graph). Channels past C (the padding of the last block) hold zeros when made here and, in general,
// any finite value: every consumer either ignores them (a convolution's weights for them are zero) or
// keeps them finite (elementwise ops, pooling), and kiln.ReorderFromBlocked drops them.
//
// The graph pass convert_to_blocked_layout keeps CNN activations in this layout between operators
// that run well on it; the kiln.Blocked* kernels and the two reorders read and write it.
#pragma once

#include <cstdint>

#include "kiln/tensor.h"

namespace kiln {

// The attribute of the nodes that make a blocked tensor from a plain one (kiln.ReorderToBlocked, and
// kiln.BlockedConv reading plain X): the block of their output. Absent, it is kDefaultChannelBlock,
// the only block before it became a choice, so graphs saved then mean what they meant.
inline constexpr const char* kChannelBlockAttr = "channel_block";
inline constexpr int64_t kDefaultChannelBlock = 16;

inline int64_t channel_blocks(int64_t channels, int64_t block) { return (channels + block - 1) / block; }

// The block of a blocked shape [N, Cb, spatial..., B]: its last dimension.
inline int64_t channel_block_of(const Shape& blocked) { return blocked.empty() ? 0 : blocked.back(); }

// The blocked shape of a plain [N, C, spatial...] shape (rank >= 2) with `block` channels per block.
Shape blocked_shape(const Shape& plain, int64_t block);
// The plain shape [N, channels, spatial...] of a blocked [N, Cb, spatial..., B] shape.
Shape plain_shape(const Shape& blocked, int64_t channels);

// Copies plain float32 [N, C, spatial...] into a new blocked tensor with `block` (>= 1) channels per
// block and zero padding lanes.
Tensor to_blocked(const Tensor& plain, int64_t block);
// Copies the first `channels` channels of blocked float32 [N, Cb, spatial..., B] into a plain tensor;
// needs B >= 1 and channels <= Cb * B.
Tensor from_blocked(const Tensor& blocked, int64_t channels);

}  // namespace kiln
