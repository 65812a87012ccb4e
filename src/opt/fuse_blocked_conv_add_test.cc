#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedConvAdd : public ::testing::TestWithParam<int64_t> {};

// A ResNet block: two convs, the second's output plus the block input, then Relu; and a projection
// shortcut where both Add operands are convs.
ir::Graph residual_graph(bool relu_after_add) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w0"] = ramp({24, 3, 3, 3}, 0.03f, -0.2f);
  g.initializers["w1"] = ramp({24, 24, 3, 3}, 0.01f, -0.06f);
  g.initializers["b1"] = ramp({24}, 0.1f);
  g.initializers["w2"] = ramp({24, 24, 1, 1}, 0.02f, -0.1f);
  g.initializers["w3"] = ramp({20, 24, 1, 1}, 0.02f, -0.1f);
  g.initializers["w4"] = ramp({20, 24, 3, 3}, 0.01f, -0.05f);
  g.nodes = {
      make("Conv", {"x", "w0"}, {"a"}, {ints("pads", {1, 1, 1, 1})}),
      make("Relu", {"a"}, {"a_relu"}),
      make("Conv", {"a_relu", "w1", "b1"}, {"c1"}, {ints("pads", {1, 1, 1, 1})}),
      make("Relu", {"c1"}, {"c1_relu"}),
      make("Conv", {"c1_relu", "w2"}, {"c2"}),
      make("Add", {"a_relu", "c2"}, {"sum"}),
  };
  std::string block_out = "sum";
  if (relu_after_add) {
    g.nodes.push_back(make("Relu", {"sum"}, {"block"}));
    block_out = "block";
  }
  g.nodes.push_back(make("Conv", {block_out, "w3"}, {"p"}, {ints("strides", {2, 2})}));
  g.nodes.push_back(make("Conv", {block_out, "w4"}, {"q"}, {ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1})}));
  g.nodes.push_back(make("Add", {"p", "q"}, {"y"}));  // y is a graph output: the Add folds, y stays
  return g;
}

TEST_P(FuseBlockedConvAdd, ResidualAddsAndReluFoldIntoTheConv) {
  for (bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "with Relu" : "without Relu");
    ir::Graph g = residual_graph(relu);
    const Tensor x = ramp({2, 3, 9, 9});
    const auto before = run(g, {x});
    ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), GetParam()}).value());
    ASSERT_TRUE(fuse_blocked_conv_add(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "Add"), 0);
    EXPECT_EQ(count_op(g, "Relu"), 2) << "the Relus after convs stay (fuse_conv_activation's job)";
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseBlockedConvAdd, SkipsAConvOutputReadTwice) {
  ir::Graph g = residual_graph(false);
  g.nodes.push_back(make("Neg", {"c2"}, {"n"}));
  g.outputs.push_back(float_value("n"));
  const Tensor x = ramp({1, 3, 9, 9});
  const auto before = run(g, {x});
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), GetParam()}).value());
  ASSERT_TRUE(fuse_blocked_conv_add(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "Add"), 1) << "only the projection Add folds";
  expect_close(run(g, {x}), before, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedConvAdd, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
