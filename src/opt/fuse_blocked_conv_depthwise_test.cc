#include "kernels/blocked_conv_attrs.h"
#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedConvDepthwise : public ::testing::TestWithParam<int64_t> {};

// MobileNetV2's inverted residual: 1x1 expansion + ReLU6, 3x3 depthwise + ReLU6 (stride `stride`), 1x1
// projection. 20 input channels, 40 expanded: padded last blocks on both.
ir::Graph expansion_graph(int64_t stride) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["we"] = ramp({40, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["be"] = ramp({40}, 0.1f, -0.2f);
  g.initializers["wd"] = ramp({40, 1, 3, 3}, 0.07f, -0.4f);
  g.initializers["bd"] = ramp({40}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({8, 40, 1, 1}, 0.05f, -0.3f);
  g.initializers["lo"] = Tensor::scalar<float>(0.f);
  g.initializers["hi"] = Tensor::scalar<float>(6.f);
  g.nodes = {make("Conv", {"x", "we", "be"}, {"e"}), make("Clip", {"e", "lo", "hi"}, {"e6"}),
             make("Conv", {"e6", "wd", "bd"}, {"d"},
                  {ints("pads", {1, 1, 1, 1}), ints("strides", {stride, stride}), ir::Attribute::of_int("group", 40)}),
             make("Clip", {"d", "lo", "hi"}, {"d6"}), make("Conv", {"d6", "wp"}, {"y"})};
  return g;
}

void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
}

TEST_P(FuseBlockedConvDepthwise, ExpansionAndDepthwiseBecomeOneNode) {
  for (int64_t stride : {1, 2}) {
    ir::Graph g = expansion_graph(stride);
    const Tensor x = ramp({2, 20, 7, 7});
    const auto before = run(g, {x});
    prepare(g, GetParam());
    ASSERT_TRUE(fuse_blocked_conv_depthwise(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "BlockedConvDepthwise"), 1);
    EXPECT_EQ(count_op(g, "BlockedConv"), 1) << "the projection stays";
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseBlockedConvDepthwise, SkipsAnExpansionReadElsewhere) {
  ir::Graph g = expansion_graph(1);
  g.outputs.push_back(float_value("e6"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_conv_depthwise(g, PassContext{opsets()}).value());
}

TEST_P(FuseBlockedConvDepthwise, SkipsA5x5Depthwise) {
  ir::Graph g = expansion_graph(1);
  g.initializers["wd"] = ramp({40, 1, 5, 5}, 0.07f, -0.4f);
  g.nodes[2].attributes[0] = ints("pads", {2, 2, 2, 2});
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_conv_depthwise(g, PassContext{opsets()}).value());
}

// oneDNN fuses a pair with SiLU only through its reference path, with its own (slower) SiLU: the two
// convolutions stay apart, whichever of them has it.
TEST_P(FuseBlockedConvDepthwise, SkipsAPairWithSilu) {
  for (size_t silu_conv : {0, 1}) {  // the expansion, the depthwise convolution
    ir::Graph g = expansion_graph(1);
    prepare(g, GetParam());
    std::vector<ir::Node*> convs;
    for (ir::Node& n : g.nodes) {
      if (n.op_type == "BlockedConv") convs.push_back(&n);
    }
    ASSERT_EQ(convs.size(), 3u);
    ir::Node& conv = *convs[silu_conv];
    std::vector<ir::Attribute> kept;
    for (const ir::Attribute& a : conv.attributes) {
      if (a.name != kActivationAttr && a.name != kActivationParamsAttr) kept.push_back(a);
    }
    kept.push_back(ir::Attribute::of_string(kActivationAttr, kSwish));
    conv.attributes = kept;
    EXPECT_FALSE(fuse_blocked_conv_depthwise(g, PassContext{opsets()}).value()) << silu_conv;
  }
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedConvDepthwise, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
