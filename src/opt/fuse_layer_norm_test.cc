#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// torch nn.LayerNorm below opset 17. `square`: "Pow" or "Mul"; `affine`: with gamma and beta.
ir::Graph decomposed_layer_norm(const std::string& square = "Pow", bool affine = true,
                                std::vector<int64_t> axes = {-1}) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["two"] = Tensor::scalar<float>(2.f);
  g.initializers["eps"] = Tensor::scalar<float>(1e-5f);
  g.initializers["gamma"] = ramp(axes.size() == 1 ? Shape{6} : Shape{4, 6}, 0.3f, 0.5f);
  g.initializers["beta"] = ramp(axes.size() == 1 ? Shape{6} : Shape{4, 6}, 0.1f, -0.2f);
  std::vector<ir::Node>& n = g.nodes;
  n.push_back(make("ReduceMean", {"x"}, {"m"}, {ints("axes", axes)}));
  n.push_back(make("Sub", {"x", "m"}, {"d"}));
  n.push_back(square == "Pow" ? make("Pow", {"d", "two"}, {"p"}) : make("Mul", {"d", "d"}, {"p"}));
  n.push_back(make("ReduceMean", {"p"}, {"v"}, {ints("axes", axes)}));
  n.push_back(make("Add", {"v", "eps"}, {"e"}));
  n.push_back(make("Sqrt", {"e"}, {"s"}));
  n.push_back(make("Div", {"d", "s"}, {affine ? "n" : "y"}));
  if (affine) {
    n.push_back(make("Mul", {"n", "gamma"}, {"g"}));
    n.push_back(make("Add", {"g", "beta"}, {"y"}));
  }
  return g;
}

TEST(FuseLayerNorm, TheDecompositionBecomesOneNodeWithTheSameResult) {
  const Tensor x = ramp({3, 4, 6}, 0.9f, -2.f);
  for (auto [square, affine, axes] : std::vector<std::tuple<std::string, bool, std::vector<int64_t>>>{
           {"Pow", true, {-1}}, {"Mul", true, {-1}}, {"Pow", false, {-1}}, {"Pow", true, {-2, -1}}}) {
    SCOPED_TRACE(square + (affine ? " affine " : " plain ") + std::to_string(axes.size()));
    ir::Graph g = decomposed_layer_norm(square, affine, axes);
    const auto before = run(g, {x});
    ASSERT_TRUE(fuse_layer_norm(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].domain, "kiln");
    EXPECT_EQ(g.nodes[0].op_type, "LayerNormalization");
    EXPECT_EQ(g.nodes[0].attr_int("axis", 0), -static_cast<int64_t>(axes.size()));
    expect_close(run(g, {x}), before, 1e-5);
  }
}

TEST(FuseLayerNorm, LeavesNearMissesAlone) {
  ir::Graph positive_axes = decomposed_layer_norm("Pow", true, {2});
  ir::Graph other_power = decomposed_layer_norm();
  other_power.initializers["two"] = Tensor::scalar<float>(3.f);
  ir::Graph centered_read_elsewhere = decomposed_layer_norm();
  centered_read_elsewhere.outputs.push_back(float_value("d"));
  ir::Graph wide_gamma = decomposed_layer_norm();  // rank 2 > one normalized axis: Mul broadcasts up
  wide_gamma.initializers["gamma"] = ramp({4, 6});
  ir::Graph mismatched_axes = decomposed_layer_norm();
  mismatched_axes.nodes[3].attributes = {ints("axes", {-2, -1})};
  for (ir::Graph* g : {&positive_axes, &other_power, &centered_read_elsewhere, &mismatched_axes}) {
    const size_t n = g->nodes.size();
    EXPECT_FALSE(fuse_layer_norm(*g, PassContext{opsets()}).value());
    EXPECT_EQ(g->nodes.size(), n);
  }
  // The wide gamma stays a Mul (the normalization itself still fuses).
  EXPECT_TRUE(fuse_layer_norm(wide_gamma, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(wide_gamma, "Mul"), 1);
}

ir::Graph residual_layer_norm(bool sum_is_output) {
  ir::Graph g;
  g.inputs = {float_value("a"), float_value("b")};
  g.outputs = {float_value("y")};
  if (sum_is_output) g.outputs.push_back(float_value("s"));
  g.initializers["gamma"] = ramp({6}, 0.3f, 0.5f);
  g.initializers["beta"] = ramp({6}, 0.1f, -0.2f);
  g.nodes = {make("Add", {"a", "b"}, {"s"}),
             make("LayerNormalization", {"s", "gamma", "beta"}, {"y"}, {real("epsilon", 1e-6f)})};
  return g;
}

TEST(FuseSkipLayerNorm, ResidualAddJoinsTheNormalization) {
  const Tensor a = ramp({2, 3, 6}, 0.4f, -1.f), b = ramp({2, 3, 6}, -0.3f, 0.7f), row = ramp({6}, 0.2f);
  for (bool sum_is_output : {false, true}) {
    for (const Tensor* second : {&b, &row}) {  // same shape, and a broadcast bias-like operand
      SCOPED_TRACE(std::to_string(sum_is_output) + " " + shape_to_string(second->shape()));
      ir::Graph g = residual_layer_norm(sum_is_output);
      const auto before = run(g, {a, *second});
      ASSERT_TRUE(fuse_skip_layer_norm(g, PassContext{opsets()}).value());
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].op_type, "SkipLayerNormalization");
      EXPECT_EQ(g.nodes[0].outputs.size(), sum_is_output ? 2u : 1u);
      EXPECT_FLOAT_EQ(g.nodes[0].attr_float("epsilon", 0), 1e-6f);
      expect_close(run(g, {a, *second}), before, 1e-5);
    }
  }
}

TEST(FuseSkipLayerNorm, LeavesStatisticsOutputsAndComputedParametersAlone) {
  ir::Graph stats = residual_layer_norm(false);
  stats.nodes[1].outputs = {"y", "mean"};
  stats.outputs.push_back(float_value("mean"));
  ir::Graph computed_bias = residual_layer_norm(true);  // bias = Neg(sum): fusing would close a cycle
  computed_bias.nodes.push_back(make("Neg", {"s"}, {"nb"}));
  computed_bias.nodes[1].inputs[2] = "nb";
  for (ir::Graph* g : {&stats, &computed_bias}) {
    EXPECT_FALSE(fuse_skip_layer_norm(*g, PassContext{opsets()}).value());
    EXPECT_EQ(g->nodes.size(), g == &stats ? 2u : 3u);
  }
}

}  // namespace
}  // namespace kiln::opt
