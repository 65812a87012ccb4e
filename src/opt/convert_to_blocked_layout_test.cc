#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class ConvertToBlockedLayout : public ::testing::TestWithParam<int64_t> {};

ir::Attribute group(int64_t g) { return ir::Attribute::of_int("group", g); }

// A small CNN with the shapes of a real one: a 3-channel stem, pooling, a depthwise conv, a 1x1 conv
// with a residual Add, a squeeze-excite Mul, a channel Concat, and a plain tail (Flatten). 20 channels
// leave 12 padding lanes in the second block.
ir::Graph small_cnn() {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y"), float_value("mid")};
  g.initializers["w_stem"] = ramp({20, 3, 3, 3}, 0.03f, -0.2f);
  g.initializers["b_stem"] = ramp({20}, 0.1f);
  g.initializers["w_dw"] = ramp({20, 1, 3, 3}, 0.05f, -0.3f);
  g.initializers["w_pw"] = ramp({20, 20, 1, 1}, 0.02f, -0.1f);
  g.initializers["w_se"] = ramp({20, 20, 1, 1}, 0.04f, -0.2f);
  g.initializers["w_a"] = ramp({16, 20, 1, 1}, 0.03f, -0.15f);
  g.initializers["w_b"] = ramp({32, 20, 3, 3}, 0.01f, -0.06f);
  g.initializers["half"] = Tensor::scalar<float>(0.5f);
  g.nodes = {
      make("Conv", {"x", "w_stem", "b_stem"}, {"stem"}, {ints("pads", {1, 1, 1, 1})}),
      make("Relu", {"stem"}, {"stem_relu"}),
      make("MaxPool", {"stem_relu"}, {"pool"}, {ints("kernel_shape", {2, 2}), ints("strides", {2, 2})}),
      make("Conv", {"pool", "w_dw"}, {"dw"}, {ints("pads", {1, 1, 1, 1}), group(20)}),
      make("Clip", {"dw"}, {"dw_act"}, {real("min", 0.f), real("max", 6.f)}),
      make("Conv", {"dw_act", "w_pw"}, {"pw"}),
      make("Add", {"pw", "pool"}, {"res"}),
      make("GlobalAveragePool", {"res"}, {"se_pool"}),
      make("Conv", {"se_pool", "w_se"}, {"se"}),
      make("Sigmoid", {"se"}, {"se_gate"}),
      make("Mul", {"res", "se_gate"}, {"mid"}),
      make("Mul", {"mid", "half"}, {"scaled"}),
      make("Conv", {"scaled", "w_a"}, {"branch_a"}),
      make("Conv", {"scaled", "w_b"}, {"branch_b"}, {ints("pads", {1, 1, 1, 1})}),
      make("Concat", {"branch_a", "branch_b"}, {"cat"}, {ir::Attribute::of_int("axis", 1)}),
      make("AveragePool", {"cat"}, {"avg"}, {ints("kernel_shape", {3, 3}), ints("pads", {1, 1, 1, 1})}),
      make("GlobalAveragePool", {"avg"}, {"gap"}),
      make("Flatten", {"gap"}, {"y"}),
  };
  return g;
}

TEST_P(ConvertToBlockedLayout, SmallCnnMatchesThePlainGraph) {
  ir::Graph g = small_cnn();
  const Tensor x = ramp({2, 3, 12, 10});
  const auto before = run(g, {x}, 10);  // opset 10: Clip's bounds are attributes
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{{{"", 10}, {"kiln", 1}}, GetParam()}).value());
  EXPECT_EQ(count_op(g, "Conv"), 0);
  EXPECT_EQ(count_op(g, "BlockedConv"), 6);
  EXPECT_EQ(count_op(g, "BlockedMaxPool"), 1);
  EXPECT_EQ(count_op(g, "BlockedAveragePool"), 1);
  EXPECT_EQ(count_op(g, "BlockedGlobalAveragePool"), 2);
  EXPECT_EQ(count_op(g, "ReorderToBlocked"), 0) << "the 3-channel stem reads plain X";
  EXPECT_EQ(count_op(g, "ReorderFromBlocked"), 2) << "one for Flatten, one for the graph output mid";
  expect_close(run(g, {x}, 10), before, 1e-5);
}

TEST_P(ConvertToBlockedLayout, ReordersAPlainInputWithManyChannelsAndLeavesOtherOpsPlain) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({8, 24, 3, 3}, 0.02f, -0.1f);
  g.initializers["wg"] = ramp({8, 4, 1, 1}, 0.05f, -0.1f);  // grouped (not depthwise): stays plain
  g.nodes = {make("Conv", {"x", "w"}, {"c"}), make("Neg", {"c"}, {"n"}),
             make("Conv", {"n", "wg"}, {"y"}, {group(2)})};
  const Tensor x = ramp({1, 24, 7, 7});
  const auto before = run(g, {x});
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), GetParam()}).value());
  EXPECT_EQ(count_op(g, "ReorderToBlocked"), 1);
  EXPECT_EQ(count_op(g, "ReorderFromBlocked"), 1);
  EXPECT_EQ(count_op(g, "Conv"), 1);
  for (const ir::Node& n : g.nodes) {
    if (n.op_type == "ReorderToBlocked") {
      EXPECT_EQ(n.attr_int("channel_block", 0), GetParam());
    }
  }
  expect_close(run(g, {x}), before, 1e-5);
}

TEST_P(ConvertToBlockedLayout, StemReadingPlainXWritesTheBlock) {
  ir::Graph g = small_cnn();
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{{{"", 10}, {"kiln", 1}}, GetParam()}).value());
  int stems = 0;
  for (const ir::Node& n : g.nodes) {
    if (n.op_type != "BlockedConv" || n.attr_string("input_layout") != "plain") continue;
    ++stems;
    EXPECT_EQ(n.attr_int("channel_block", 0), GetParam());
  }
  EXPECT_EQ(stems, 1);
}

TEST(ConvertToBlockedLayoutOff, ChannelBlockZeroLeavesTheGraphPlain) {
  ir::Graph g = small_cnn();
  EXPECT_FALSE(convert_to_blocked_layout(g, PassContext{{{"", 10}, {"kiln", 1}}, 0}).value());
  EXPECT_EQ(count_op(g, "Conv"), 6);
}

TEST_P(ConvertToBlockedLayout, LeavesGraphsWithoutConvolutionsAlone) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.nodes = {make("Relu", {"x"}, {"r"}), make("MaxPool", {"r"}, {"y"}, {ints("kernel_shape", {2, 2})})};
  EXPECT_FALSE(convert_to_blocked_layout(g, PassContext{opsets(), GetParam()}).value());
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, ConvertToBlockedLayout, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
