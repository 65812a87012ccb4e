#include "kernels/ref/common.h"

#include <gtest/gtest.h>

namespace kiln::ref {
namespace {

TEST(Broadcast, Shapes) {
  EXPECT_EQ(*broadcast_shapes({{2, 3, 4}, {4}}), (Shape{2, 3, 4}));
  EXPECT_EQ(*broadcast_shapes({{2, 1, 4}, {3, 1}}), (Shape{2, 3, 4}));
  EXPECT_EQ(*broadcast_shapes({{}, {5}}), (Shape{5}));
  EXPECT_EQ(*broadcast_shapes({{0, 1}, {1, 3}}), (Shape{0, 3}));
  auto bad = broadcast_shapes({{2, 3}, {4}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("[2, 3] [4]"), std::string::npos);
}

TEST(Broadcast, IteratorOffsets) {
  // out [2, 3] from a [2, 1] and b [3]
  BroadcastIterator it({2, 3}, {{2, 1}, {3}});
  std::vector<std::pair<int64_t, int64_t>> seen;
  for (int i = 0; i < 6; ++i, it.next()) seen.emplace_back(it.offset(0), it.offset(1));
  std::vector<std::pair<int64_t, int64_t>> want = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}};
  EXPECT_EQ(seen, want);
}

TEST(Axis, Normalize) {
  EXPECT_EQ(*normalize_axis(-1, 4), 3);
  EXPECT_EQ(*normalize_axis(2, 4), 2);
  EXPECT_FALSE(normalize_axis(4, 4).ok());
  EXPECT_FALSE(normalize_axis(-5, 4).ok());
}

TEST(Convert, Elements) {
  EXPECT_EQ((convert_element<int32_t, float>(-2.7f)), -2);
  EXPECT_EQ((convert_element<bool, float>(0.5f)), true);
  EXPECT_EQ((convert_element<float, bool>(true)), 1.0f);
  EXPECT_EQ((convert_element<Float16, int64_t>(3)).bits, Float16(3.0f).bits);
}

}  // namespace
}  // namespace kiln::ref
