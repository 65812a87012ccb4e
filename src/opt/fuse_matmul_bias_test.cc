#include "opt/pass_test_util.h"

namespace kiln::opt {
namespace {

using namespace testing;

// y = MatMul(x, w) + b, with the bias on either side of the Add.
ir::Graph matmul_add_graph(bool bias_first, Shape bias_shape = {5}) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["w"] = ramp({8, 5}, 0.07f, -0.4f);
  g.initializers["b"] = ramp(std::move(bias_shape), 0.2f);
  g.nodes = {make("MatMul", {"x", "w"}, {"m"}),
             bias_first ? make("Add", {"b", "m"}, {"y"}) : make("Add", {"m", "b"}, {"y"})};
  return g;
}

TEST(FuseMatMulBias, MatchesMatMulThenAdd) {
  for (const Shape& x_shape : {Shape{4, 8}, Shape{2, 3, 8}, Shape{8}}) {
    for (bool bias_first : {false, true}) {
      ir::Graph g = matmul_add_graph(bias_first);
      const Tensor x = ramp(x_shape);
      const auto before = run(g, {x});
      ASSERT_TRUE(fuse_matmul_bias(g, PassContext{opsets()}).value());
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].domain, "kiln");
      EXPECT_EQ(g.nodes[0].op_type, "FusedMatMul");
      EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"x", "w", "b"}));
      EXPECT_EQ(g.nodes[0].outputs[0], "y");
      expect_close(run(g, {x}), before, 1e-5);
    }
  }
}

TEST(FuseMatMulBias, SkipsOtherBiasShapesRuntimeValuesAndSharedOutputs) {
  ir::Graph row = matmul_add_graph(false, {1, 5});  // could raise the rank of a 1-D product
  EXPECT_FALSE(fuse_matmul_bias(row, PassContext{opsets()}).value());
  ir::Graph runtime_bias = matmul_add_graph(false);
  runtime_bias.inputs.push_back(float_value("b"));
  EXPECT_FALSE(fuse_matmul_bias(runtime_bias, PassContext{opsets()}).value());
  ir::Graph runtime_weights = matmul_add_graph(false);
  runtime_weights.inputs.push_back(float_value("w"));
  EXPECT_FALSE(fuse_matmul_bias(runtime_weights, PassContext{opsets()}).value());
  ir::Graph shared = matmul_add_graph(false);
  shared.outputs.push_back(float_value("m"));
  EXPECT_FALSE(fuse_matmul_bias(shared, PassContext{opsets()}).value());
}

}  // namespace
}  // namespace kiln::opt
