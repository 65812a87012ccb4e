// The 1x1 convolution of blocked X (stride 1, no padding, group 1) as units of work a team splits:
// a run of pixels of one image x a group of 2 or 3 of Y's channel blocks (pointwise_rows.h's tiles).
// Shared by kiln.BlockedConv's 1x1 vector kernel (vec/blocked_pointwise_conv.cc) and
// kiln.BlockedSqueezeExciteConv's (vec/blocked_squeeze_excite_conv.cc), whose weights differ per image.
//
// Per image, the pixels in runs whose X (all channels) stays within ~32 KB, and per run the blocks of
// Y in groups; a team splits the (image, run, group) units in contiguous ranges, so a thread keeps its
// pixels of X in its cache. (Runs of 128 KB, read again from L2 for every group, made ResNet-50's
// 64 -> 256 layers 1.25x slower than oneDNN's at 2 threads.) Y's padding lanes are set to 0 (an
// infinite X value would make them NaN through the zero weights).
#pragma once

#include <cstdint>

#include "kernels/vec/pointwise_rows.h"
#include "kernels/vec/row_activation.h"

namespace kiln::vec::pointwise {

// One call's arguments. X blocked [n][in_blocks][pixels][block], Y [n][ceil(m/block)][pixels][block].
struct Call {
  const float* x;
  const float* w;          // packed [ceil(m/16)][c][16] (packed_lanes.h)
  int64_t w_image_stride;  // floats from one image's W to the next; 0 where all images share W
  const float* b;          // packed [ceil(m/16) * 16]
  const float* sum;        // Y's shape, added before the activation; null without a residual
  float* y;
  int64_t n, c, m, block, in_blocks, pixels;
  RowActivation act;
  // Set by the constructor below.
  int64_t run = 0, runs = 0;  // pixels per run, runs per image
  BlockGroups groups;

  Call(const float* x, const float* w, int64_t w_image_stride, const float* b, const float* sum, float* y, int64_t n,
       int64_t c, int64_t m, int64_t block, int64_t in_blocks, int64_t pixels, RowActivation act);

  int64_t units() const { return n * runs * groups.count; }
  // The multiply-adds of one unit (at most), to size a team by.
  int64_t unit_macs() const { return run * kGroup * block * c; }
};

// Units [begin, end) of call.units(), (image * runs + run) * groups.count + group: blocks of 16 at
// AVX-512, blocks of 8 at AVX2 (which an AVX-512 machine has).
void run_units(const Call& call, int64_t begin, int64_t end);

}  // namespace kiln::vec::pointwise
