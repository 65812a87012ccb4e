#include "kernels/blocked_conv_attrs.h"
#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// Each test runs in both channel blocks (kernels/blocked_layout.h).
class MoveSwishIntoDepthwise : public ::testing::TestWithParam<int64_t> {};

// EfficientNet's block without squeeze-excite: 1x1 expansion + SiLU, kxk depthwise + SiLU (stride
// `stride`), 1x1 projection. 20 input channels, 40 expanded: padded last blocks.
ir::Graph efficientnet_graph(int64_t k, int64_t stride) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["we"] = ramp({40, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["be"] = ramp({40}, 0.1f, -0.2f);
  g.initializers["wd"] = ramp({40, 1, k, k}, 0.03f, -0.4f);
  g.initializers["bd"] = ramp({40}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({8, 40, 1, 1}, 0.05f, -0.3f);
  g.nodes = {make("Conv", {"x", "we", "be"}, {"e"}), make("Sigmoid", {"e"}, {"es"}), make("Mul", {"e", "es"}, {"em"}),
             make("Conv", {"em", "wd", "bd"}, {"d"},
                  {ints("pads", {k / 2, k / 2, k / 2, k / 2}), ints("strides", {stride, stride}),
                   ir::Attribute::of_int("group", 40)}),
             make("Sigmoid", {"d"}, {"ds"}), make("Mul", {"d", "ds"}, {"dm"}), make("Conv", {"dm", "wp"}, {"y"})};
  return g;
}

void prepare(ir::Graph& g, int64_t block) {
  ASSERT_TRUE(convert_to_blocked_layout(g, PassContext{opsets(), block}).value());
  ASSERT_TRUE(fuse_blocked_conv_swish(g, PassContext{opsets()}).value());
}

// The blocked convolutions in graph order: expansion, depthwise, projection.
std::vector<const ir::Node*> convs(const ir::Graph& g) {
  std::vector<const ir::Node*> v;
  for (const ir::Node& n : g.nodes) {
    if (n.op_type == "BlockedConv") v.push_back(&n);
  }
  return v;
}

TEST_P(MoveSwishIntoDepthwise, TheExpansionsSiluMovesOntoTheDepthwiseInput) {
  for (int64_t k : {3, 5}) {
    for (int64_t stride : {1, 2}) {
      ir::Graph g = efficientnet_graph(k, stride);
      const Tensor x = ramp({2, 20, 9, 9}, 0.02f);
      const auto before = run(g, {x});
      prepare(g, GetParam());
      ASSERT_TRUE(move_swish_into_depthwise(g, PassContext{opsets()}).value());
      const auto c = convs(g);
      ASSERT_EQ(c.size(), 3u);
      EXPECT_EQ(c[0]->attr_string(kActivationAttr), "") << "the expansion runs plain";
      EXPECT_EQ(c[1]->attr_string(kInputActivationAttr), kSwish);
      EXPECT_EQ(c[1]->attr_string(kActivationAttr), kSwish) << "the depthwise keeps its own";
      expect_close(run(g, {x}), before, 1e-5);
      EXPECT_FALSE(move_swish_into_depthwise(g, PassContext{opsets()}).value()) << "once";
    }
  }
}

TEST_P(MoveSwishIntoDepthwise, SkipsAnExpansionReadElsewhere) {
  ir::Graph g = efficientnet_graph(3, 1);
  g.outputs.push_back(float_value("em"));
  prepare(g, GetParam());
  EXPECT_FALSE(move_swish_into_depthwise(g, PassContext{opsets()}).value());
}

// A window the depthwise kernel does not take (7x7 here) keeps the SiLU where it was.
TEST_P(MoveSwishIntoDepthwise, SkipsADepthwiseTheKernelDoesNotTake) {
  ir::Graph g = efficientnet_graph(7, 1);
  prepare(g, GetParam());
  EXPECT_FALSE(move_swish_into_depthwise(g, PassContext{opsets()}).value());
}

TEST_P(MoveSwishIntoDepthwise, SkipsAConvolutionThatIsNotDepthwise) {
  ir::Graph g = efficientnet_graph(3, 1);
  g.initializers["wd"] = ramp({40, 4, 3, 3}, 0.03f, -0.4f);
  g.nodes[3].attributes[2] = ir::Attribute::of_int("group", 10);
  prepare(g, GetParam());
  EXPECT_FALSE(move_swish_into_depthwise(g, PassContext{opsets()}).value());
}

// A depthwise bias that is not a constant: the kernel could not pack it, so the SiLU stays.
TEST_P(MoveSwishIntoDepthwise, SkipsADepthwiseWithARuntimeBias) {
  ir::Graph g = efficientnet_graph(3, 1);
  g.initializers.erase("bd");
  g.inputs.push_back(float_value("bd"));
  prepare(g, GetParam());
  EXPECT_FALSE(move_swish_into_depthwise(g, PassContext{opsets()}).value());
}

INSTANTIATE_TEST_SUITE_P(ChannelBlocks, MoveSwishIntoDepthwise, ::testing::Values(16, 8));

}  // namespace
}  // namespace kiln::opt
