// The blocked-layout reorders and the errors of the blocked kernels on inputs that are not blocked.
#include <gtest/gtest.h>

#include "kernels/blocked_layout.h"
#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using namespace testing;

Tensor iota(Shape shape) {
  Tensor t(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = static_cast<float>(i + 1);
  return t;
}

TEST(BlockedLayout, ReordersRoundTripAndPadWithZeros) {
  const Tensor x = iota({2, 20, 3, 2});
  NodeRun to = run_node(make_node("ReorderToBlocked", {}, "kiln"), 1, {Value(x)});
  ASSERT_TRUE(to.status.ok()) << to.status.to_string();
  const Tensor& b = to.outputs[0].tensor();
  ASSERT_EQ(b.shape(), (Shape{2, 2, 3, 2, 16}));
  // Channel 17 of image 1 at (h 2, w 1): block 1, lane 1.
  EXPECT_EQ(b.data<float>()[(((1 * 2 + 1) * 3 + 2) * 2 + 1) * 16 + 1], x.data<float>()[((1 * 20 + 17) * 3 + 2) * 2 + 1]);
  EXPECT_EQ(b.data<float>()[(((1 * 2 + 1) * 3 + 2) * 2 + 1) * 16 + 4], 0.f) << "channel 20 is padding";
  NodeRun from = run_node(make_node("ReorderFromBlocked", {int_attr("channels", 20)}, "kiln"), 1, {Value(b)});
  ASSERT_TRUE(from.status.ok()) << from.status.to_string();
  const Tensor& y = from.outputs[0].tensor();
  ASSERT_EQ(y.shape(), x.shape());
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_EQ(y.data<float>()[i], x.data<float>()[i]) << i;
}

// Blocks of 8 (AVX2's nChw8c): the block is the attribute of ReorderToBlocked, and every other kernel
// reads it from its input's last dimension.
TEST(BlockedLayout, EightChannelBlocksRoundTripThroughTheKernels) {
  const Tensor x = iota({1, 20, 3, 3});
  NodeRun to = run_node(make_node("ReorderToBlocked", {int_attr("channel_block", 8)}, "kiln"), 1, {Value(x)});
  ASSERT_TRUE(to.status.ok()) << to.status.to_string();
  const Tensor& b = to.outputs[0].tensor();
  ASSERT_EQ(b.shape(), (Shape{1, 3, 3, 3, 8}));
  // Channel 17 at (h 1, w 2): block 2, lane 1; channel 20 is padding.
  EXPECT_EQ(b.data<float>()[((2 * 3 + 1) * 3 + 2) * 8 + 1], x.data<float>()[(17 * 3 + 1) * 3 + 2]);
  EXPECT_EQ(b.data<float>()[((2 * 3 + 1) * 3 + 2) * 8 + 4], 0.f);
  NodeRun pool = run_node(make_node("BlockedMaxPool", {ints_attr("kernel_shape", {3, 3})}, "kiln"), 1, {Value(b)});
  ASSERT_TRUE(pool.status.ok()) << pool.status.to_string();
  EXPECT_EQ(pool.outputs[0].tensor().shape(), (Shape{1, 3, 1, 1, 8}));
  NodeRun from = run_node(make_node("ReorderFromBlocked", {int_attr("channels", 20)}, "kiln"), 1, {Value(b)});
  ASSERT_TRUE(from.status.ok()) << from.status.to_string();
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_EQ(from.outputs[0].tensor().data<float>()[i], x.data<float>()[i]) << i;
  // A convolution's Sum must come in X's block.
  NodeRun c = run_node(make_node("BlockedConv", {}, "kiln"), 1,
                       {Value(b), Value(iota({16, 20, 1, 1})), Value(), Value(to_blocked(iota({1, 16, 3, 3}), 16))});
  EXPECT_NE(c.status.message().find("input Sum has shape [1, 1, 3, 3, 16], expected a blocked [N, 2, spatial..., 8]"),
            std::string::npos)
      << c.status.to_string();
  EXPECT_FALSE(
      run_node(make_node("ReorderToBlocked", {int_attr("channel_block", 0)}, "kiln"), 1, {Value(x)}).status.ok());
}

// The block is the last dimension, whatever it is: a plain tensor reads as blocked in blocks of its
// width, and the errors say what that makes of it.
TEST(BlockedLayout, InputsThatAreNotBlockedAreErrors) {
  const Tensor plain = iota({1, 20, 3, 3});
  NodeRun from = run_node(make_node("ReorderFromBlocked", {int_attr("channels", 20)}, "kiln"), 1, {Value(plain)});
  EXPECT_NE(from.status.message().find("input X has 20 channel blocks of 3, 20 channels need 7"), std::string::npos)
      << from.status.to_string();
  NodeRun low_rank =
      run_node(make_node("ReorderFromBlocked", {int_attr("channels", 20)}, "kiln"), 1, {Value(iota({1, 20, 3}))});
  EXPECT_NE(low_rank.status.message().find("expected a blocked"), std::string::npos) << low_rank.status.to_string();
  NodeRun blocks =
      run_node(make_node("ReorderFromBlocked", {int_attr("channels", 40)}, "kiln"), 1, {Value(to_blocked(plain, 16))});
  EXPECT_NE(blocks.status.message().find("40 channels need 3"), std::string::npos) << blocks.status.to_string();
  EXPECT_FALSE(run_node(make_node("ReorderFromBlocked", {}, "kiln"), 1, {Value(to_blocked(plain, 16))}).status.ok());

  // BlockedConv: X with the wrong number of channel blocks for W, through the registered (oneDNN) kernel.
  const ir::Node conv = make_node("BlockedConv", {}, "kiln");
  NodeRun c = run_node(conv, 1, {Value(to_blocked(iota({1, 40, 4, 4}), 16)), Value(iota({8, 20, 1, 1}))});
  EXPECT_NE(c.status.message().find("input X has shape [1, 3, 4, 4, 16]"), std::string::npos) << c.status.to_string();
  NodeRun p =
      run_node(make_node("BlockedMaxPool", {ints_attr("kernel_shape", {2, 2})}, "kiln"), 1, {Value(iota({1, 20, 3}))});
  EXPECT_NE(p.status.message().find("expected a blocked"), std::string::npos) << p.status.to_string();
}

}  // namespace
}  // namespace kiln::ref
