#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

TEST(FoldConstants, FoldsConstantChainsButNotOverridableInputs) {
  ir::Graph g;
  g.inputs = {float_value("x"), float_value("d")};  // d has an initializer, but callers may override it
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({2, 3});
  g.initializers["d"] = ramp({2}, 0.5f);
  g.nodes = {make("Transpose", {"w"}, {"wt"}), make("Relu", {"wt"}, {"wr"}), make("MatMul", {"x", "wr"}, {"m"}),
             make("Neg", {"d"}, {"nd"}), make("Add", {"m", "nd"}, {"y"})};
  const Tensor x = ramp({4, 3}, 0.3f);
  const auto before = run(g, {x, Tensor()});
  ASSERT_TRUE(fold_constants(g, PassContext{opsets()}).value());
  EXPECT_EQ(count_op(g, "Transpose"), 0);
  EXPECT_EQ(count_op(g, "Relu"), 0);
  EXPECT_EQ(count_op(g, "Neg"), 1);  // reads d, which a caller may replace
  EXPECT_EQ(g.initializers.count("wr"), 1u);
  expect_close(run(g, {x, Tensor()}), before, 0);
  const Tensor d2 = ramp({2}, -0.25f);
  EXPECT_EQ(run(g, {x, d2}).size(), 1u);  // the override still takes effect
}

TEST(FoldConstants, LeavesRandomOpsAndGraphOutputs) {
  ir::Graph g;
  g.outputs = {float_value("r"), float_value("c")};
  g.initializers["k"] = ramp({2});
  ir::Attribute shape = ints("shape", {2});
  g.nodes = {make("RandomUniform", {}, {"r"}, {shape}), make("Relu", {"k"}, {"c"})};
  EXPECT_FALSE(fold_constants(g, PassContext{opsets()}).value());
  EXPECT_EQ(g.nodes.size(), 2u);
}

}  // namespace
}  // namespace kiln::opt
