#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedSqueezeExcite : public ::testing::TestWithParam<int64_t> {};

// EfficientNet's block tail: depthwise conv, then squeeze-excite (pool, 1x1 conv, SiLU, 1x1 conv,
// Sigmoid, Mul with the depthwise output), then the projecting conv. 20 channels: a padded last block.
ir::Graph squeeze_excite_graph(bool gate_first) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["wd"] = ramp({20, 1, 3, 3}, 0.03f, -0.2f);
  g.initializers["w1"] = ramp({5, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["b1"] = ramp({5}, 0.1f, -0.2f);
  g.initializers["w2"] = ramp({20, 5, 1, 1}, 0.07f, -0.4f);
  g.initializers["b2"] = ramp({20}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({8, 20, 1, 1}, 0.05f, -0.3f);
  std::vector<std::string> mul_in =
      gate_first ? std::vector<std::string>{"g", "d"} : std::vector<std::string>{"d", "g"};
  g.nodes = {make("Conv", {"x", "wd"}, {"d"}, {ints("pads", {1, 1, 1, 1}), ir::Attribute::of_int("group", 20)}),
             make("GlobalAveragePool", {"d"}, {"s"}),
             make("Conv", {"s", "w1", "b1"}, {"r"}),
             make("Sigmoid", {"r"}, {"rs"}),
             make("Mul", {"r", "rs"}, {"ra"}),
             make("Conv", {"ra", "w2", "b2"}, {"e"}),
             make("Sigmoid", {"e"}, {"gate"}),
             make("Identity", {"gate"}, {"g"}),
             make("Mul", mul_in, {"m"}),
             make("Conv", {"m", "wp"}, {"y"})};
  return g;
}

// The passes that run before this one, in the pass manager's order.
void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(remove_identity(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
}

TEST_P(FuseBlockedSqueezeExcite, BlockBecomesOneNode) {
  for (bool gate_first : {false, true}) {
    ir::Graph g = squeeze_excite_graph(gate_first);
    const Tensor x = ramp({2, 20, 6, 6});
    const auto before = run(g, {x});
    prepare(g, GetParam());
    ASSERT_TRUE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "BlockedSqueezeExcite"), 1);
    EXPECT_EQ(count_op(g, "BlockedGlobalAveragePool"), 0);
    EXPECT_EQ(count_op(g, "Mul"), 0);
    EXPECT_EQ(count_op(g, "BlockedConv"), 2) << "the depthwise and the projecting conv stay";
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseBlockedSqueezeExcite, SkipsAGateReadElsewhere) {
  ir::Graph g = squeeze_excite_graph(false);
  g.outputs.push_back(float_value("gate"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "Mul"), 1);
}

TEST_P(FuseBlockedSqueezeExcite, SkipsAMulOfAnotherTensor) {
  ir::Graph g = squeeze_excite_graph(false);
  // The gate scales the block's input, not the pooled tensor: not a squeeze-excite.
  g.nodes[8].inputs = {"x", "g"};
  g.nodes.pop_back();
  g.outputs = {float_value("m")};
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_squeeze_excite(g, PassContext{opsets()}).value());
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedSqueezeExcite, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
