#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedConvSwish : public ::testing::TestWithParam<int64_t> {};

// EfficientNet's SiLU, Sigmoid and Mul after a conv, with the Mul's operands both ways round.
ir::Graph silu_graph(bool sigmoid_first) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w0"] = ramp({16, 3, 3, 3}, 0.03f, -0.2f);
  g.initializers["b0"] = ramp({16}, 0.1f, -0.6f);
  g.initializers["w1"] = ramp({20, 16, 1, 1}, 0.05f, -0.3f);
  std::vector<std::string> mul_in = sigmoid_first ? std::vector<std::string>{"s", "c"} : std::vector<std::string>{"c", "s"};
  g.nodes = {make("Conv", {"x", "w0", "b0"}, {"c"}, {ints("pads", {1, 1, 1, 1})}), make("Sigmoid", {"c"}, {"s"}),
             make("Mul", mul_in, {"m"}), make("Conv", {"m", "w1"}, {"c1"}), make("Sigmoid", {"c1"}, {"s1"}),
             make("Mul", {"c1", "s1"}, {"y"})};
  return g;
}

TEST_P(FuseBlockedConvSwish, SiluBecomesTheConvsActivation) {
  for (bool sigmoid_first : {false, true}) {
    ir::Graph g = silu_graph(sigmoid_first);
    const Tensor x = ramp({2, 3, 8, 8});
    const auto before = run(g, {x});
    ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), GetParam()}).value());
    ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "Sigmoid"), 0);
    EXPECT_EQ(count_op(g, "Mul"), 0);
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseBlockedConvSwish, SkipsASigmoidReadElsewhere) {
  ir::Graph g = silu_graph(false);
  g.outputs.push_back(float_value("s"));
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), GetParam()}).value());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "Sigmoid"), 1) << "only the last SiLU fuses";
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedConvSwish, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
