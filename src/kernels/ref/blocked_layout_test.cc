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

TEST(BlockedLayout, InputsThatAreNotBlockedAreErrors) {
  const Tensor plain = iota({1, 20, 3, 3});
  NodeRun from = run_node(make_node("ReorderFromBlocked", {int_attr("channels", 20)}, "kiln"), 1, {Value(plain)});
  EXPECT_NE(from.status.message().find("expected a blocked"), std::string::npos) << from.status.to_string();
  NodeRun blocks = run_node(make_node("ReorderFromBlocked", {int_attr("channels", 40)}, "kiln"), 1,
                            {Value(to_blocked(plain))});
  EXPECT_NE(blocks.status.message().find("40 channels need 3"), std::string::npos) << blocks.status.to_string();
  EXPECT_FALSE(run_node(make_node("ReorderFromBlocked", {}, "kiln"), 1, {Value(to_blocked(plain))}).status.ok());

  // BlockedConv: X with the wrong number of channel blocks for W, through the registered (oneDNN) kernel.
  const ir::Node conv = make_node("BlockedConv", {}, "kiln");
  NodeRun c = run_node(conv, 1, {Value(to_blocked(iota({1, 40, 4, 4}))), Value(iota({8, 20, 1, 1}))});
  EXPECT_NE(c.status.message().find("input X has shape [1, 3, 4, 4, 16]"), std::string::npos) << c.status.to_string();
  NodeRun p = run_node(make_node("BlockedMaxPool", {ints_attr("kernel_shape", {2, 2})}, "kiln"), 1, {Value(plain)});
  EXPECT_NE(p.status.message().find("expected a blocked"), std::string::npos) << p.status.to_string();
}

}  // namespace
}  // namespace kiln::ref
