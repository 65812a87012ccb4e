#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// y = act(product(x, w[, b])) with product MatMul, MatMul + Add (fused first) or Gemm.
ir::Graph product_act_graph(const std::string& product, const std::string& act, std::vector<std::string> extra = {},
                            std::vector<ir::Attribute> attrs = {}) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({8, 5}, 0.07f, -0.4f);
  g.initializers["b"] = ramp({5}, 0.2f);
  g.initializers["lo"] = Tensor::scalar<float>(-0.1f);
  g.initializers["hi"] = Tensor::scalar<float>(0.2f);
  if (product == "Gemm") {
    g.nodes.push_back(make("Gemm", {"x", "w", "b"}, {"m"}, {real("alpha", 0.5f)}));
  } else {
    g.nodes.push_back(make("MatMul", {"x", "w"}, {product == "MatMul" ? "m" : "p"}));
    if (product != "MatMul") g.nodes.push_back(make("Add", {"p", "b"}, {"m"}));
  }
  std::vector<std::string> act_in = {"m"};
  act_in.insert(act_in.end(), extra.begin(), extra.end());
  g.nodes.push_back(make(act, act_in, {"y"}, std::move(attrs)));
  return g;
}

TEST(FuseMatMulActivation, EveryActivationMatchesTheUnfusedGraph) {
  const Tensor x = ramp({4, 8});
  for (const std::string product : {"MatMul", "MatMul+Add", "Gemm"}) {
    std::vector<ir::Graph> graphs = {
        product_act_graph(product, "Relu"),
        product_act_graph(product, "LeakyRelu", {}, {real("alpha", 0.2f)}),
        product_act_graph(product, "Clip", {"lo", "hi"}),
        product_act_graph(product, "Clip", {"", "hi"}),
        product_act_graph(product, "Sigmoid"),
        product_act_graph(product, "HardSigmoid", {}, {real("alpha", 0.3f), real("beta", 0.4f)}),
        product_act_graph(product, "HardSwish"),
        product_act_graph(product, "Tanh"),
    };
    for (ir::Graph& g : graphs) {
      SCOPED_TRACE(product + " " + g.nodes.back().op_type);
      const auto before = run(g, {x});
      ASSERT_TRUE(fuse_matmul_bias(g, PassContext{opsets()}).ok());
      ASSERT_TRUE(fuse_matmul_activation(g, PassContext{opsets()}).value());
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].domain, "kiln");
      EXPECT_EQ(g.nodes[0].op_type, product == "Gemm" ? "FusedGemm" : "FusedMatMul");
      expect_close(run(g, {x}), before, 1e-5);
    }
  }
}

// kiln.Gelu (what the Gelu pattern pass makes) fuses too; the result matches the decomposed erf form
// x * (1 + erf(x / sqrt(2))) / 2 that torch exports.
TEST(FuseMatMulActivation, GeluMatchesTheErfPattern) {
  ir::Graph pattern = product_act_graph("MatMul+Add", "Erf");
  pattern.initializers["sqrt2"] = Tensor::scalar<float>(std::sqrt(2.f));
  pattern.initializers["one"] = Tensor::scalar<float>(1.f);
  pattern.initializers["half"] = Tensor::scalar<float>(0.5f);
  pattern.nodes.pop_back();
  pattern.nodes.push_back(make("Div", {"m", "sqrt2"}, {"d"}));
  pattern.nodes.push_back(make("Erf", {"d"}, {"e"}));
  pattern.nodes.push_back(make("Add", {"e", "one"}, {"a"}));
  pattern.nodes.push_back(make("Mul", {"m", "a"}, {"h"}));
  pattern.nodes.push_back(make("Mul", {"h", "half"}, {"y"}));
  const Tensor x = ramp({2, 3, 8}, 0.4f, -2.f);
  const auto expected = run(pattern, {x});
  for (const std::string domain : {"kiln", ""}) {
    ir::Graph g = product_act_graph("MatMul+Add", "Gelu");
    g.nodes.back().domain = domain;
    ASSERT_TRUE(fuse_matmul_bias(g, PassContext{opsets()}).value());
    ASSERT_TRUE(fuse_matmul_activation(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].attr_string("activation"), "Gelu");
    expect_close(run(g, {x}), expected, 1e-5);
  }
}

TEST(FuseMatMulActivation, SkipsSharedOutputsRuntimeClipBoundsAndApproximateGelu) {
  ir::Graph shared = product_act_graph("MatMul", "Relu");
  shared.outputs.push_back(float_value("m"));
  EXPECT_FALSE(fuse_matmul_activation(shared, PassContext{opsets()}).value());
  ir::Graph clip = product_act_graph("Gemm", "Clip", {"lo", "hi"});
  clip.inputs.push_back(float_value("hi"));
  EXPECT_FALSE(fuse_matmul_activation(clip, PassContext{opsets()}).value());
  ir::Graph tanh_gelu = product_act_graph("MatMul", "Gelu", {}, {ir::Attribute::of_string("approximate", "tanh")});
  EXPECT_FALSE(fuse_matmul_activation(tanh_gelu, PassContext{opsets()}).value());
  ir::Graph kiln_tanh_gelu = product_act_graph("MatMul", "Gelu", {}, {ir::Attribute::of_string("approximate", "tanh")});
  kiln_tanh_gelu.nodes.back().domain = "kiln";
  EXPECT_FALSE(fuse_matmul_activation(kiln_tanh_gelu, PassContext{opsets()}).value());
  ir::Graph twice = product_act_graph("MatMul", "Relu");
  twice.nodes.push_back(make("Sigmoid", {"y"}, {"z"}));
  twice.outputs = {float_value("z")};
  ASSERT_TRUE(fuse_matmul_activation(twice, PassContext{opsets()}).value());
  EXPECT_EQ(twice.nodes.size(), 2u) << "one activation per product";
}

}  // namespace
}  // namespace kiln::opt
