#include <string>

#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedConvDepthwise : public ::testing::TestWithParam<int64_t> {};

// An inverted residual: 1x1 expansion + activation, depthwise convolution (kernel x kernel, padding
// kernel / 2, stride `stride`) + activation, 1x1 projection. With `silu`, EfficientNet's (SiLU as
// Sigmoid and Mul), else MobileNetV2's (ReLU6). 20 input channels, 40 expanded: padded last blocks on
// both.
ir::Graph expansion_graph(int64_t stride, int64_t kernel = 3, bool silu = false) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["we"] = ramp({40, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["be"] = ramp({40}, 0.1f, -0.2f);
  g.initializers["wd"] = ramp({40, 1, kernel, kernel}, 0.07f, -0.4f);
  g.initializers["bd"] = ramp({40}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({8, 40, 1, 1}, 0.05f, -0.3f);
  g.initializers["lo"] = Tensor::scalar<float>(0.f);
  g.initializers["hi"] = Tensor::scalar<float>(6.f);
  auto activation = [&](const std::string& in, const std::string& out) {
    if (!silu) return std::vector<ir::Node>{make("Clip", {in, "lo", "hi"}, {out})};
    return std::vector<ir::Node>{make("Sigmoid", {in}, {out + "_s"}), make("Mul", {in, out + "_s"}, {out})};
  };
  const int64_t pad = kernel / 2;
  g.nodes = {make("Conv", {"x", "we", "be"}, {"e"})};
  for (ir::Node& n : activation("e", "e6")) g.nodes.push_back(n);
  g.nodes.push_back(make(
      "Conv", {"e6", "wd", "bd"}, {"d"},
      {ints("pads", {pad, pad, pad, pad}), ints("strides", {stride, stride}), ir::Attribute::of_int("group", 40)}));
  for (ir::Node& n : activation("d", "d6")) g.nodes.push_back(n);
  g.nodes.push_back(make("Conv", {"d6", "wp"}, {"y"}));
  return g;
}

void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).ok());
}

// MobileNetV2's pairs (3x3, ReLU6) and EfficientNet's (3x3 and 5x5, SiLU), at both strides.
TEST_P(FuseBlockedConvDepthwise, ExpansionAndDepthwiseBecomeOneNode) {
  for (bool silu : {false, true}) {
    for (int64_t kernel : {3, 5}) {
      for (int64_t stride : {1, 2}) {
        if (kernel == 5 && !silu) continue;
        SCOPED_TRACE(std::to_string(kernel) + "x" + std::to_string(kernel) + " stride " + std::to_string(stride) +
                     (silu ? " SiLU" : " ReLU6"));
        ir::Graph g = expansion_graph(stride, kernel, silu);
        const Tensor x = ramp({2, 20, 7, 7});
        const auto before = run(g, {x});
        prepare(g, GetParam());
        ASSERT_TRUE(fuse_blocked_conv_depthwise(g, PassContext{opsets()}).value());
        EXPECT_EQ(count_op(g, "BlockedConvDepthwise"), 1);
        EXPECT_EQ(count_op(g, "BlockedConv"), 1) << "the projection stays";
        EXPECT_EQ(count_op(g, "Sigmoid"), 0);
        expect_close(run(g, {x}), before, 1e-5);
      }
    }
  }
}

TEST_P(FuseBlockedConvDepthwise, SkipsAnExpansionReadElsewhere) {
  ir::Graph g = expansion_graph(1);
  g.outputs.push_back(float_value("e6"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_conv_depthwise(g, PassContext{opsets()}).value());
}

// The operator's depthwise windows are 3x3 and 5x5, padded by half the window on every side.
TEST_P(FuseBlockedConvDepthwise, SkipsOtherDepthwiseWindows) {
  ir::Graph g7 = expansion_graph(1, 7);
  prepare(g7, GetParam());
  EXPECT_FALSE(fuse_blocked_conv_depthwise(g7, PassContext{opsets()}).value()) << "7x7";
  ir::Graph unpadded = expansion_graph(1);
  unpadded.nodes[2].attributes[0] = ints("pads", {0, 0, 0, 0});
  prepare(unpadded, GetParam());
  EXPECT_FALSE(fuse_blocked_conv_depthwise(unpadded, PassContext{opsets()}).value()) << "3x3 without padding";
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedConvDepthwise, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
