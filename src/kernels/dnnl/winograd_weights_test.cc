#include "kernels/dnnl/winograd_weights.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dnnl/common.h"
#include "kernels/dnnl/conv_primitive.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

// The Winograd weights layout oneDNN picks for a 3x3 stride-1 convolution, or an empty desc.
memory::desc winograd_layout(int64_t n, int64_t c, int64_t m, int64_t hw) {
  const dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                          memory::desc({n, c, hw, hw}, memory::data_type::f32, tag::nChw16c),
                                          memory::desc({m, c, 3, 3}, memory::data_type::f32, tag::any),
                                          memory::desc({n, m, hw, hw}, memory::data_type::f32, tag::nChw16c), {1, 1},
                                          {1, 1}, {1, 1});
  try {
    return dnnl::convolution_forward::primitive_desc(d, cpu_engine()).weights_desc();
  } catch (const dnnl::error&) {
    return memory::desc();
  }
}

// Each shape and batch below makes oneDNN pick one of its three float32 Winograd layouts, with
// channel counts that are and are not multiples of its 16-channel blocks; the bytes must be oneDNN's.
TEST(WinogradWeights, SameBytesAsOneDnnsReorderForEveryLayout) {
  struct Case {
    int64_t n, c, m, hw;
  };
  const int saved = omp_get_max_threads();
  std::vector<int> formats_seen(5, 0);
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (Case k :
         {Case{1, 64, 64, 56}, Case{8, 64, 72, 56}, Case{1, 128, 128, 28}, Case{1, 256, 264, 14},
          Case{32, 256, 256, 14}, Case{1, 16, 24, 8}, Case{2, 20, 28, 9}, Case{3, 40, 48, 30}, Case{1, 512, 512, 7}}) {
      const std::string name = "batch " + std::to_string(k.n) + " " + std::to_string(k.c) + "->" + std::to_string(k.m) +
                               " " + std::to_string(k.hw) + "x" + std::to_string(k.hw);
      SCOPED_TRACE(name);
      const memory::desc md = winograd_layout(k.n, k.c, k.m, k.hw);
      if (md.data.format_kind != dnnl_format_kind_wino) continue;  // no Winograd kernel on this CPU
      ++formats_seen[md.data.format_desc.wino_desc.wino_format];
      std::vector<float> w(static_cast<size_t>(k.m * k.c * 9));
      for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * static_cast<float>(i)) - 0.1f;
      const memory expected = reordered(wrap(plain_desc({k.m, k.c, 3, 3}), w.data()), md);
      std::vector<unsigned char> got(md.get_size(), 0xAB);
      ASSERT_TRUE(transform_winograd_weights(w.data(), k.m, k.c, md, got.data()));
      EXPECT_EQ(std::memcmp(got.data(), expected.get_data_handle(), got.size()), 0);
    }
  }
  omp_set_num_threads(saved);
  if (formats_seen[dnnl_wino_wei_OBaaIBOIio] == 0) GTEST_SKIP() << "oneDNN has no Winograd kernel on this CPU";
  EXPECT_GT(formats_seen[dnnl_wino_wei_aaOio] + formats_seen[dnnl_wino_wei_aaOBiOo], 0);
}

// A copy lies in its own pages (freed with the last holder of `pages`) and holds the transform's bytes.
TEST(WinogradWeights, CopyOwnsItsPages) {
  const memory::desc md = winograd_layout(1, 256, 264, 14);
  if (md.data.format_kind != dnnl_format_kind_wino) GTEST_SKIP() << "oneDNN has no Winograd kernel on this CPU";
  std::vector<float> w(static_cast<size_t>(264 * 256 * 9));
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.11f * static_cast<float>(i));
  const WinogradCopy copy = make_winograd_copy(w.data(), 264, 256, md);
  ASSERT_NE(copy.pages, nullptr);
  EXPECT_EQ(copy.memory.get_data_handle(), copy.pages.get());
  EXPECT_EQ(copy.memory.get_desc(), md);
  const memory expected = reordered(wrap(plain_desc({264, 256, 3, 3}), w.data()), md);
  EXPECT_EQ(std::memcmp(copy.pages.get(), expected.get_data_handle(), md.get_size()), 0);
}

TEST(WinogradWeights, LeavesOtherLayoutsToOneDnn) {
  std::vector<float> w(16 * 16 * 9, 1.f), out(16 * 16 * 9);
  EXPECT_FALSE(transform_winograd_weights(w.data(), 16, 16, plain_desc({16, 16, 3, 3}), out.data()));
  EXPECT_FALSE(transform_winograd_weights(w.data(), 16, 16, memory::desc(), out.data()));
}

}  // namespace
}  // namespace kiln::dnnl_kernels
