#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseSqueezeExciteProjection : public ::testing::TestWithParam<int64_t> {};

// EfficientNet's block tail: depthwise conv, squeeze-excite, then the projecting conv, with the
// block's input added when `residual` (20 channels in and out). 20 channels: a padded last block.
ir::Graph block_tail(bool residual) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["wd"] = ramp({20, 1, 3, 3}, 0.03f, -0.2f);
  g.initializers["w1"] = ramp({5, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["b1"] = ramp({5}, 0.1f, -0.2f);
  g.initializers["w2"] = ramp({20, 5, 1, 1}, 0.07f, -0.4f);
  g.initializers["b2"] = ramp({20}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({20, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["bp"] = ramp({20}, 0.02f, -0.1f);
  g.nodes = {make("Conv", {"x", "wd"}, {"d"}, {ints("pads", {1, 1, 1, 1}), ir::Attribute::of_int("group", 20)}),
             make("GlobalAveragePool", {"d"}, {"s"}),
             make("Conv", {"s", "w1", "b1"}, {"r"}),
             make("Sigmoid", {"r"}, {"rs"}),
             make("Mul", {"r", "rs"}, {"ra"}),
             make("Conv", {"ra", "w2", "b2"}, {"e"}),
             make("Sigmoid", {"e"}, {"g"}),
             make("Mul", {"d", "g"}, {"m"}),
             make("Conv", {"m", "wp", "bp"}, {residual ? "p" : "y"})};
  if (residual) g.nodes.push_back(make("Add", {"p", "x"}, {"y"}));
  return g;
}

// The passes that run before this one, in the pass manager's order.
void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
  ASSERT_TRUE(fuse_blocked_conv_add(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
  ASSERT_TRUE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
}

TEST_P(FuseSqueezeExciteProjection, BlockAndProjectionBecomeOneNode) {
  for (bool residual : {false, true}) {
    SCOPED_TRACE(residual);
    ir::Graph g = block_tail(residual);
    const Tensor x = ramp({2, 20, 6, 6});
    const auto before = run(g, {x});
    prepare(g, GetParam());
    ASSERT_TRUE(fuse_squeeze_excite_projection(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "BlockedSqueezeExciteConv"), 1);
    EXPECT_EQ(count_op(g, "BlockedSqueezeExcite"), 0);
    EXPECT_EQ(count_op(g, "BlockedConv"), 1) << "the depthwise conv stays";
    EXPECT_EQ(count_op(g, "Add"), 0);
    for (const ir::Node& n : g.nodes) {
      if (n.op_type == "BlockedSqueezeExciteConv") EXPECT_EQ(n.inputs.size(), residual ? 8u : 7u);
    }
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseSqueezeExciteProjection, SkipsABlockReadElsewhere) {
  ir::Graph g = block_tail(false);
  g.outputs.push_back(float_value("m"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_squeeze_excite_projection(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "BlockedSqueezeExcite"), 1);
}

TEST_P(FuseSqueezeExciteProjection, SkipsAConvThatIsNotPointwise) {
  ir::Graph g = block_tail(false);
  g.initializers["wp"] = ramp({20, 20, 3, 3}, 0.01f, -0.3f);
  g.nodes.back().attributes.push_back(ints("pads", {1, 1, 1, 1}));
  const Tensor x = ramp({1, 20, 5, 5});
  const auto before = run(g, {x});
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_squeeze_excite_projection(g, PassContext{opsets()}).value());
  expect_close(run(g, {x}), before, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseSqueezeExciteProjection, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
