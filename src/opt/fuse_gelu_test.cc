#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

ir::Graph graph_with(std::vector<ir::Node> nodes, std::map<std::string, float> scalars) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  for (const auto& [name, v] : scalars) g.initializers[name] = Tensor::scalar<float>(v);
  g.nodes = std::move(nodes);
  return g;
}

// torch nn.GELU(): Div, Erf, Add, Mul, Mul(0.5) last.
ir::Graph erf_gelu() {
  return graph_with({make("Div", {"x", "sqrt2"}, {"d"}), make("Erf", {"d"}, {"e"}), make("Add", {"e", "one"}, {"a"}),
                     make("Mul", {"x", "a"}, {"m"}), make("Mul", {"m", "half"}, {"y"})},
                    {{"sqrt2", 1.4142135f}, {"one", 1.f}, {"half", 0.5f}});
}

// x * 0.5 * (1 + erf(x * 0.7071)): the 0.5 first, Mul instead of Div, constants on the left.
ir::Graph erf_gelu_half_first() {
  return graph_with({make("Mul", {"rsqrt2", "x"}, {"d"}), make("Erf", {"d"}, {"e"}), make("Add", {"one", "e"}, {"a"}),
                     make("Mul", {"x", "half"}, {"h"}), make("Mul", {"a", "h"}, {"y"})},
                    {{"rsqrt2", 0.70710678f}, {"one", 1.f}, {"half", 0.5f}});
}

// torch gelu(approximate="tanh") at opset 13.
ir::Graph tanh_gelu() {
  return graph_with(
      {make("Mul", {"x", "x"}, {"xx"}), make("Mul", {"x", "xx"}, {"x3"}), make("Mul", {"c", "x3"}, {"z"}),
       make("Add", {"x", "z"}, {"w"}), make("Mul", {"k", "w"}, {"u"}), make("Tanh", {"u"}, {"t"}),
       make("Add", {"one", "t"}, {"a"}), make("Mul", {"x", "a"}, {"m"}), make("Mul", {"half", "m"}, {"y"})},
      {{"c", 0.044715f}, {"k", 0.7978846f}, {"one", 1.f}, {"half", 0.5f}});
}

TEST(FuseGelu, EveryFormBecomesOneNodeWithTheSameResult) {
  const Tensor x = ramp({3, 40}, 0.37f, -2.2f);
  for (auto [g, approximate] :
       {std::pair{erf_gelu(), "none"}, std::pair{erf_gelu_half_first(), "none"}, std::pair{tanh_gelu(), "tanh"}}) {
    SCOPED_TRACE(approximate);
    const auto before = run(g, {x});
    ASSERT_TRUE(fuse_gelu(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].domain, "kiln");
    EXPECT_EQ(g.nodes[0].op_type, "Gelu");
    EXPECT_EQ(g.nodes[0].attr_string("approximate"), approximate);
    EXPECT_EQ(g.nodes[0].inputs, std::vector<std::string>{"x"});
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST(FuseGelu, LeavesNearMissesAlone) {
  ir::Graph wrong_constant = erf_gelu();
  wrong_constant.initializers["half"] = Tensor::scalar<float>(0.6f);
  ir::Graph shared_intermediate = erf_gelu();  // someone else reads erf's output
  shared_intermediate.nodes.push_back(make("Neg", {"e"}, {"n"}));
  shared_intermediate.outputs.push_back(float_value("n"));
  ir::Graph other_operand = erf_gelu();  // multiplies by something that is not the erf's input
  other_operand.inputs.push_back(float_value("x2"));
  other_operand.nodes[3].inputs[0] = "x2";
  ir::Graph runtime_constant = erf_gelu();  // sqrt2 may be overridden by the caller
  runtime_constant.inputs.push_back(float_value("sqrt2"));
  ir::Graph broadcasting_constant = erf_gelu();  // a [1,1,1] "scalar" would raise the rank
  broadcasting_constant.initializers["half"] = Tensor::from_vector<float>({1, 1, 1}, {0.5f});
  for (ir::Graph* g :
       {&wrong_constant, &shared_intermediate, &other_operand, &runtime_constant, &broadcasting_constant}) {
    const size_t n = g->nodes.size();
    EXPECT_FALSE(fuse_gelu(*g, PassContext{opsets()}).value());
    EXPECT_EQ(g->nodes.size(), n);
  }
}

TEST(FuseGelu, FusesEachOfSeveralPatterns) {
  ir::Graph g = erf_gelu();
  // A second GELU on the first one's output.
  g.outputs = {float_value("y2")};
  g.nodes.push_back(make("Div", {"y", "sqrt2"}, {"d2"}));
  g.nodes.push_back(make("Erf", {"d2"}, {"e2"}));
  g.nodes.push_back(make("Add", {"e2", "one"}, {"a2"}));
  g.nodes.push_back(make("Mul", {"y", "a2"}, {"m2"}));
  g.nodes.push_back(make("Mul", {"m2", "half"}, {"y2"}));
  const Tensor x = ramp({2, 16}, 0.5f, -3.f);
  const auto before = run(g, {x});
  ASSERT_TRUE(fuse_gelu(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "Gelu"), 2);
  EXPECT_EQ(g.nodes.size(), 2u);
  expect_close(run(g, {x}), before, 1e-5);
}

}  // namespace
}  // namespace kiln::opt
