#include "kernels/blocked_conv_attrs.h"
#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class FuseBlockedStemDepthwise : public ::testing::TestWithParam<int64_t> {};

// MobileNetV2's first layers: a 3x3 stride-2 convolution of the image + ReLU6, a 3x3 depthwise one
// (stride `stride`) + ReLU6, a 1x1 projection. 24 channels: a padded last block at 16.
ir::Graph stem_graph(int64_t stride, int64_t image_channels = 3, float stem_clip_min = 0.f) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["ws"] = ramp({24, image_channels, 3, 3}, 0.05f, -0.3f);
  g.initializers["bs"] = ramp({24}, 0.1f, -0.2f);
  g.initializers["wd"] = ramp({24, 1, 3, 3}, 0.07f, -0.4f);
  g.initializers["bd"] = ramp({24}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({8, 24, 1, 1}, 0.05f, -0.3f);
  g.initializers["lo"] = Tensor::scalar<float>(stem_clip_min);
  g.initializers["zero"] = Tensor::scalar<float>(0.f);
  g.initializers["hi"] = Tensor::scalar<float>(6.f);
  g.nodes = {make("Conv", {"x", "ws", "bs"}, {"s"}, {ints("pads", {1, 1, 1, 1}), ints("strides", {2, 2})}),
             make("Clip", {"s", "lo", "hi"}, {"s6"}),
             make("Conv", {"s6", "wd", "bd"}, {"d"},
                  {ints("pads", {1, 1, 1, 1}), ints("strides", {stride, stride}), ir::Attribute::of_int("group", 24)}),
             make("Clip", {"d", "zero", "hi"}, {"d6"}), make("Conv", {"d6", "wp"}, {"y"})};
  return g;
}

void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).ok());
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
}

TEST_P(FuseBlockedStemDepthwise, StemAndDepthwiseBecomeOneNode) {
  for (int64_t stride : {1, 2}) {
    ir::Graph g = stem_graph(stride);
    const Tensor x = ramp({2, 3, 19, 18}, 0.01f, -0.4f);
    const auto before = run(g, {x});
    prepare(g, GetParam());
    ASSERT_TRUE(fuse_blocked_stem_depthwise(g, PassContext{opsets()}).value());
    EXPECT_EQ(count_op(g, "BlockedStemDepthwise"), 1);
    EXPECT_EQ(count_op(g, "BlockedConv"), 1) << "the projection stays";
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST_P(FuseBlockedStemDepthwise, SkipsAStemReadElsewhere) {
  ir::Graph g = stem_graph(1);
  g.outputs.push_back(float_value("s6"));
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_stem_depthwise(g, PassContext{opsets()}).value());
}

// The fused kernel keeps Y's padding lanes at 0 only with activations that keep 0 at 0.
TEST_P(FuseBlockedStemDepthwise, SkipsAClipAboveZero) {
  ir::Graph g = stem_graph(1, 3, 0.5f);
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_stem_depthwise(g, PassContext{opsets()}).value());
}

// An input of more channels than an image's reads blocked X: not a stem.
TEST_P(FuseBlockedStemDepthwise, SkipsAnInputOfEightChannels) {
  ir::Graph g = stem_graph(1, 8);
  prepare(g, GetParam());
  EXPECT_FALSE(fuse_blocked_stem_depthwise(g, PassContext{opsets()}).value());
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, FuseBlockedStemDepthwise, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
