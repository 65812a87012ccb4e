#include "kernels/vec/pointwise_units.h"

#include <algorithm>

#include "kernels/blocked_layout.h"
#include "kernels/vec/packed_lanes.h"

namespace kiln::vec::pointwise {
namespace {

// A run of pixels reads at most about this much of X (all its channels).
constexpr int64_t kRunBytes = int64_t{32} << 10;

template <int W, int B>
KILN_SIMD_INLINE void units(const Call& c, int64_t begin, int64_t end) {
  const int64_t plane = c.pixels * B;
  const int64_t blocks = channel_blocks(c.m, B);
  for (int64_t u = begin; u < end; ++u) {
    const int64_t group = u % c.groups.count, run = u / c.groups.count % c.runs;
    const int64_t n = u / c.groups.count / c.runs;
    const int64_t p0 = run * c.run, count = std::min(c.run, c.pixels - p0);
    const int64_t first = c.groups.first(group);
    const float* w = c.w + n * c.w_image_stride;
    Group g;
    g.count = c.groups.size(group);
    float* y = c.y + (n * blocks + first) * plane + p0 * B;
    for (int64_t q = 0; q < g.count; ++q) {
      const int64_t block = first + q;
      // A block of 8 reads lanes [0, 8) or [8, 16) of its 16-lane weight group.
      g.w[q] = w + block * B / kPackedLanes * c.c * kPackedLanes + block * B % kPackedLanes;
      g.b[q] = c.b + block * B;
      g.sum[q] = c.sum == nullptr ? nullptr : c.sum + (n * blocks + block) * plane + p0 * B;
    }
    rows<W, B>(Input{c.x + n * c.in_blocks * plane + p0 * B, plane, c.c}, g, c.act, count, y, plane);
    const int64_t last = first + g.count - 1;
    if (last == blocks - 1 && c.m % B != 0) zero_padding_lanes<B>(y + (g.count - 1) * plane, count, c.m % B);
  }
}

KILN_TARGET_AVX512 void units16(const Call& c, int64_t begin, int64_t end) { units<16, 16>(c, begin, end); }
#if defined(__x86_64__)
KILN_TARGET_AVX2 void units8(const Call& c, int64_t begin, int64_t end) { units<8, 8>(c, begin, end); }
#else
void units8(const Call& c, int64_t begin, int64_t end) { units<4, 8>(c, begin, end); }
#endif

}  // namespace

Call::Call(const float* x, const float* w, int64_t w_image_stride, const float* b, const float* sum, float* y,
           int64_t n, int64_t c, int64_t m, int64_t block, int64_t in_blocks, int64_t pixels, RowActivation act)
    : x(x),
      w(w),
      w_image_stride(w_image_stride),
      b(b),
      sum(sum),
      y(y),
      n(n),
      c(c),
      m(m),
      block(block),
      in_blocks(in_blocks),
      pixels(pixels),
      act(act),
      groups(channel_blocks(m, block)) {
  const int64_t padded_c = in_blocks * block;
  run = std::max<int64_t>(kTile, kRunBytes / (padded_c * 4) / kTile * kTile);
  run = std::min(run, pixels);
  runs = pixels == 0 ? 0 : (pixels + run - 1) / run;
}

void run_units(const Call& call, int64_t begin, int64_t end) {
  if (call.block == 16) {
    units16(call, begin, end);
  } else {
    units8(call, begin, end);
  }
}

}  // namespace kiln::vec::pointwise
