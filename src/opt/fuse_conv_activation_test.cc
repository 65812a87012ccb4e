#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

ir::Graph conv_act_graph(const std::string& act, std::vector<std::string> extra_inputs = {},
                         std::vector<ir::Attribute> attrs = {}) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({6, 2, 3, 3}, 0.07f, -0.4f);
  g.initializers["b"] = ramp({6}, 0.2f);
  g.initializers["lo"] = Tensor::scalar<float>(-0.1f);
  g.initializers["hi"] = Tensor::scalar<float>(0.2f);
  std::vector<std::string> act_in = {"c"};
  act_in.insert(act_in.end(), extra_inputs.begin(), extra_inputs.end());
  ir::Attribute group;
  group.name = "group";
  group.type = ir::Attribute::Type::kInt;
  group.i = 2;
  g.nodes = {make("Conv", {"x", "w", "b"}, {"c"}, {ints("pads", {1, 1, 1, 1}), group}),
             make(act, act_in, {"y"}, std::move(attrs))};
  return g;
}

// Each graph (a producer, then an activation) becomes one kiln.`fused_op` node computing what it did.
void expect_fused_as(std::vector<ir::Graph>& graphs, const Tensor& x, const std::string& fused_op) {
  for (ir::Graph& g : graphs) {
    SCOPED_TRACE(g.nodes[1].op_type);
    const auto before = run(g, {x});
    ASSERT_TRUE(fuse_conv_activation(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].domain, "kiln");
    EXPECT_EQ(g.nodes[0].op_type, fused_op);
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST(FuseConvActivation, EveryActivationMatchesTheUnfusedGraph) {
  std::vector<ir::Graph> graphs = {
      conv_act_graph("Relu"),
      conv_act_graph("LeakyRelu", {}, {real("alpha", 0.2f)}),
      conv_act_graph("Clip", {"lo", "hi"}),
      conv_act_graph("Clip", {"", "hi"}),
      conv_act_graph("Sigmoid"),
      conv_act_graph("HardSigmoid", {}, {real("alpha", 0.3f), real("beta", 0.4f)}),
      conv_act_graph("HardSwish"),
      conv_act_graph("Tanh"),
  };
  const Tensor x = ramp({2, 4, 6, 6});
  expect_fused_as(graphs, x, "FusedConv");
}

// DCGAN's generator layer once its BatchNormalization is folded: ConvTranspose (stride 2, padding 1)
// then the activation.
ir::Graph conv_transpose_act_graph(const std::string& act, std::vector<ir::Attribute> attrs = {}) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({4, 3, 4, 4}, 0.05f, -0.3f);  // [C, M, k, k]
  g.initializers["b"] = ramp({3}, 0.2f, -0.1f);
  g.nodes = {make("ConvTranspose", {"x", "w", "b"}, {"c"}, {ints("strides", {2, 2}), ints("pads", {1, 1, 1, 1})}),
             make(act, {"c"}, {"y"}, std::move(attrs))};
  return g;
}

TEST(FuseConvActivation, ConvTransposeActivationsMatchTheUnfusedGraph) {
  std::vector<ir::Graph> graphs = {conv_transpose_act_graph("Relu"), conv_transpose_act_graph("Tanh"),
                                   conv_transpose_act_graph("LeakyRelu", {real("alpha", 0.2f)})};
  const Tensor x = ramp({2, 4, 5, 5});
  expect_fused_as(graphs, x, "FusedConvTranspose");
}

TEST(FuseConvActivation, SkipsRuntimeClipBoundsAndSharedOutputs) {
  ir::Graph g = conv_act_graph("Clip", {"lo", "hi"});
  g.inputs.push_back(float_value("hi"));
  EXPECT_FALSE(fuse_conv_activation(g, PassContext{opsets()}).value());
  ir::Graph h = conv_act_graph("Relu");
  h.nodes.push_back(make("Neg", {"c"}, {"n"}));
  h.outputs.push_back(float_value("n"));
  EXPECT_FALSE(fuse_conv_activation(h, PassContext{opsets()}).value());
}

}  // namespace
}  // namespace kiln::opt
