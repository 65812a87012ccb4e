#include "kernels/blocked_layout.h"

#include <algorithm>

namespace kiln {

Shape blocked_shape(const Shape& plain, int64_t block) {
  Shape s = plain;
  s[1] = channel_blocks(plain[1], block);
  s.push_back(block);
  return s;
}

Shape plain_shape(const Shape& blocked, int64_t channels) {
  Shape s(blocked.begin(), blocked.end() - 1);
  s[1] = channels;
  return s;
}

namespace {

// Elements per channel of one image: the product of the spatial dims.
int64_t spatial_size(const Shape& plain) {
  int64_t n = 1;
  for (size_t d = 2; d < plain.size(); ++d) n *= plain[d];
  return n;
}

}  // namespace

Tensor to_blocked(const Tensor& plain, int64_t block) {
  Tensor out(DataType::kFloat32, blocked_shape(plain.shape(), block));
  const int64_t n = plain.dim(0), c = plain.dim(1), s = spatial_size(plain.shape()), cb = channel_blocks(c, block);
  const float* src = plain.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* from = src + (i * c + ch) * s;
      float* to = dst + ((i * cb + ch / block) * s) * block + ch % block;
      for (int64_t p = 0; p < s; ++p) to[p * block] = from[p];
    }
  }
  return out;
}

Tensor from_blocked(const Tensor& blocked, int64_t channels) {
  const Shape plain = plain_shape(blocked.shape(), channels);
  Tensor out(DataType::kFloat32, plain);
  const int64_t n = plain[0], s = spatial_size(plain), cb = blocked.dim(1), block = channel_block_of(blocked.shape());
  const float* src = blocked.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float* from = src + ((i * cb + ch / block) * s) * block + ch % block;
      float* to = dst + (i * channels + ch) * s;
      for (int64_t p = 0; p < s; ++p) to[p] = from[p * block];
    }
  }
  return out;
}

}  // namespace kiln
