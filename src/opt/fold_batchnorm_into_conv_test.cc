#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

ir::Graph conv_bn_graph(bool conv_bias) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({4, 3, 3, 3}, 0.05f, -0.3f);
  if (conv_bias) g.initializers["b"] = ramp({4}, 0.2f);
  g.initializers["scale"] = ramp({4}, 0.3f, 0.5f);
  g.initializers["shift"] = ramp({4}, 0.1f);
  g.initializers["mean"] = ramp({4}, 0.2f, -0.1f);
  g.initializers["var"] = ramp({4}, 0.4f, 0.2f);
  std::vector<std::string> conv_in = {"x", "w"};
  if (conv_bias) conv_in.push_back("b");
  g.nodes = {make("Conv", conv_in, {"c"}, {ints("pads", {1, 1, 1, 1})}),
             make("BatchNormalization", {"c", "scale", "shift", "mean", "var"}, {"y"}, {real("epsilon", 1e-3f)})};
  return g;
}

TEST(FoldBatchNormIntoConv, MatchesConvThenBatchNorm) {
  for (bool bias : {false, true}) {
    ir::Graph g = conv_bn_graph(bias);
    const Tensor x = ramp({2, 3, 5, 5});
    const auto before = run(g, {x});
    ASSERT_TRUE(fold_batchnorm_into_conv(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].op_type, "Conv");
    EXPECT_EQ(g.nodes[0].outputs[0], "y");
    expect_close(run(g, {x}), before, 1e-5);
    EXPECT_EQ(g.initializers.count("w"), 1u) << "the original weights are left for other readers";
  }
}

TEST(FoldBatchNormIntoConv, SkipsSharedConvOutputAndRuntimeParameters) {
  ir::Graph g = conv_bn_graph(true);
  g.outputs.push_back(float_value("c"));  // the conv output is observable
  EXPECT_FALSE(fold_batchnorm_into_conv(g, PassContext{opsets()}).value());
  ir::Graph h = conv_bn_graph(true);
  h.inputs.push_back(float_value("mean"));  // overridable: not a constant
  EXPECT_FALSE(fold_batchnorm_into_conv(h, PassContext{opsets()}).value());
}

// ConvTranspose's W is [C, M/group, k...]: output channel m's weights are spread over the input
// channels of its group. Two groups, so that a fold along the wrong axis cannot pass.
ir::Graph conv_transpose_bn_graph(bool bias, int64_t group) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({4, 3, 3, 3}, 0.05f, -0.3f);  // C = 4, M = 3 * group
  const int64_t m = 3 * group;
  if (bias) g.initializers["b"] = ramp({m}, 0.2f);
  g.initializers["scale"] = ramp({m}, 0.3f, 0.5f);
  g.initializers["shift"] = ramp({m}, 0.1f);
  g.initializers["mean"] = ramp({m}, 0.2f, -0.1f);
  g.initializers["var"] = ramp({m}, 0.4f, 0.2f);
  std::vector<std::string> in = {"x", "w"};
  if (bias) in.push_back("b");
  g.nodes = {make("ConvTranspose", in, {"c"},
                  {ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1}), ir::Attribute::of_int("group", group)}),
             make("BatchNormalization", {"c", "scale", "shift", "mean", "var"}, {"y"}, {real("epsilon", 1e-3f)})};
  return g;
}

TEST(FoldBatchNormIntoConv, MatchesConvTransposeThenBatchNorm) {
  for (int64_t group : {1, 2}) {
    for (bool bias : {false, true}) {
      ir::Graph g = conv_transpose_bn_graph(bias, group);
      const Tensor x = ramp({2, 4, 4, 5});
      const auto before = run(g, {x});
      ASSERT_TRUE(fold_batchnorm_into_conv(g, PassContext{opsets()}).value());
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].op_type, "ConvTranspose");
      expect_close(run(g, {x}), before, 1e-5);
    }
  }
}

TEST(FoldBatchNormIntoConv, SkipsConvTransposeWhoseGroupDoesNotDivideW) {
  ir::Graph g = conv_transpose_bn_graph(false, 3);  // 4 input channels in 3 groups
  EXPECT_FALSE(fold_batchnorm_into_conv(g, PassContext{opsets()}).value());
}

}  // namespace
}  // namespace kiln::opt
