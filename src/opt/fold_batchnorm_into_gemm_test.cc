#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

struct GemmBn {
  bool trans_b = false;
  Shape c;  // empty: no C
  float alpha = 1, beta = 1;
};

ir::Graph gemm_bn_graph(const GemmBn& s) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = s.trans_b ? ramp({4, 6}, 0.05f, -0.3f) : ramp({6, 4}, 0.05f, -0.3f);
  if (!s.c.empty()) g.initializers["c"] = ramp(s.c, 0.2f);
  g.initializers["scale"] = ramp({4}, 0.3f, 0.5f);
  g.initializers["shift"] = ramp({4}, 0.1f);
  g.initializers["mean"] = ramp({4}, 0.2f, -0.1f);
  g.initializers["var"] = ramp({4}, 0.4f, 0.2f);
  std::vector<std::string> in = {"x", "w"};
  if (!s.c.empty()) in.push_back("c");
  g.nodes = {make("Gemm", in, {"m"},
                  {ir::Attribute::of_int("transB", s.trans_b), real("alpha", s.alpha), real("beta", s.beta)}),
             make("BatchNormalization", {"m", "scale", "shift", "mean", "var"}, {"y"}, {real("epsilon", 1e-3f)})};
  return g;
}

TEST(FoldBatchNormIntoGemm, MatchesGemmThenBatchNorm) {
  const std::vector<GemmBn> specs = {{},
                                     {.trans_b = true},
                                     {.c = {4}},
                                     {.trans_b = true, .c = {1, 4}, .beta = 0.5f},
                                     {.c = {1}, .alpha = 2.f, .beta = -1.f}};
  const Tensor x = ramp({3, 6});
  for (const GemmBn& s : specs) {
    ir::Graph g = gemm_bn_graph(s);
    const auto before = run(g, {x});
    ASSERT_TRUE(fold_batchnorm_into_gemm(g, PassContext{opsets()}).value());
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].op_type, "Gemm");
    EXPECT_EQ(g.nodes[0].outputs[0], "y");
    expect_close(run(g, {x}), before, 1e-5);
    EXPECT_EQ(g.initializers.count("w"), 1u) << "the original weights are left for other readers";
  }
}

TEST(FoldBatchNormIntoGemm, SkipsPerRowCSharedOutputAndRuntimeParameters) {
  ir::Graph per_row = gemm_bn_graph({.c = {3, 4}});
  EXPECT_FALSE(fold_batchnorm_into_gemm(per_row, PassContext{opsets()}).value());
  ir::Graph shared = gemm_bn_graph({});
  shared.outputs.push_back(float_value("m"));
  EXPECT_FALSE(fold_batchnorm_into_gemm(shared, PassContext{opsets()}).value());
  ir::Graph runtime = gemm_bn_graph({});
  runtime.inputs.push_back(float_value("var"));
  EXPECT_FALSE(fold_batchnorm_into_gemm(runtime, PassContext{opsets()}).value());
  ir::Graph runtime_w = gemm_bn_graph({});
  runtime_w.inputs.push_back(float_value("w"));
  EXPECT_FALSE(fold_batchnorm_into_gemm(runtime_w, PassContext{opsets()}).value());
}

}  // namespace
}  // namespace kiln::opt
