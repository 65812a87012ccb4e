// independent_rows: which graphs compute each batch row alone (and so may run in row parts).
#include "exec/independent_rows.h"

#include <gtest/gtest.h>

#include "opt/pass_test_util.h"

namespace kiln {
namespace {

using opt::testing::make;

ir::ValueInfo batch_value(const std::string& name, std::vector<int64_t> rest) {
  ir::ValueInfo v = opt::testing::float_value(name);
  std::vector<ir::Dim> shape{ir::Dim{-1, "batch"}};
  for (int64_t d : rest) shape.push_back(ir::Dim{d, ""});
  v.type.shape = shape;
  return v;
}

ir::Attribute int_attr(const std::string& name, int64_t v) { return ir::Attribute::of_int(name, v); }

// x [batch, 3, 8, 8] -> Conv -> Relu -> (op under test) -> y
ir::Graph conv_then(ir::Node last, std::map<std::string, Tensor> extra = {}) {
  ir::Graph g;
  g.inputs = {batch_value("x", {3, 8, 8})};
  g.outputs = {opt::testing::float_value("y")};
  g.initializers["w"] = Tensor(DataType::kFloat32, {4, 3, 3, 3});
  for (auto& [name, t] : extra) g.initializers[name] = t;
  g.nodes = {make("Conv", {"x", "w"}, {"c"}), make("Relu", {"c"}, {"r"}), std::move(last)};
  return g;
}

TEST(IndependentRows, ConvolutionalNetworkKeepsRowsApart) {
  auto rows = independent_rows(conv_then(make("Flatten", {"r"}, {"y"})));
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ(rows->symbol, "batch");
  EXPECT_EQ(rows->row_input, std::vector<bool>{true});

  ir::Graph g = conv_then(make("Flatten", {"r"}, {"f"}), {{"b", Tensor(DataType::kFloat32, {10, 256})}});
  g.nodes.push_back(make("Gemm", {"f", "b"}, {"g"}, {int_attr("transB", 1)}));
  g.nodes.push_back(make("Softmax", {"g"}, {"y"}, {int_attr("axis", 1)}));
  EXPECT_TRUE(independent_rows(g).has_value());
}

TEST(IndependentRows, OperatorsThatReachAcrossRowsStopIt) {
  EXPECT_FALSE(independent_rows(conv_then(make("Flatten", {"r"}, {"y"}, {int_attr("axis", 0)}))));
  EXPECT_FALSE(independent_rows(conv_then(make("Concat", {"r", "r"}, {"y"}, {int_attr("axis", 0)}))));
  EXPECT_TRUE(independent_rows(conv_then(make("Concat", {"r", "r"}, {"y"}, {int_attr("axis", 1)}))));
  EXPECT_FALSE(independent_rows(conv_then(make("Softmax", {"r"}, {"y"}))));  // axis -1: 0 on rank 1
  EXPECT_FALSE(independent_rows(conv_then(make("Transpose", {"r"}, {"y"}))));
  EXPECT_FALSE(independent_rows(conv_then(make("ReduceMean", {"r"}, {"y"}))));
  EXPECT_FALSE(independent_rows(conv_then(make("Shape", {"r"}, {"y"}))));
  ir::Graph reshape = conv_then(make("Reshape", {"r", "s"}, {"y"}), {{"s", Tensor::from_vector<int64_t>({2}, {-1, 4})}});
  EXPECT_FALSE(independent_rows(reshape));
  ir::Graph gemm = conv_then(make("Flatten", {"r"}, {"f"}), {{"b", Tensor(DataType::kFloat32, {256, 10})}});
  gemm.nodes.push_back(make("Gemm", {"f", "b"}, {"y"}, {int_attr("transA", 1)}));
  EXPECT_FALSE(independent_rows(gemm));
  // MatMul of r [batch, 4, 6, 6] by a constant: a matrix, stacked matrices with a first dim of 1, or a
  // lower rank (B [4, 6, 5] pairs with r's second axis) keep rows apart; B [3, 4, 6, 5] pairs row i with B[i].
  auto matmul = [](Shape b) {
    return conv_then(make("MatMul", {"r", "b"}, {"y"}), {{"b", Tensor(DataType::kFloat32, b)}});
  };
  EXPECT_TRUE(independent_rows(matmul({6, 5})));
  EXPECT_TRUE(independent_rows(matmul({1, 4, 6, 5})));
  EXPECT_TRUE(independent_rows(matmul({4, 6, 5})));
  EXPECT_FALSE(independent_rows(matmul({3, 4, 6, 5})));
  EXPECT_FALSE(independent_rows(matmul({1, 3, 4, 6, 5})));  // a higher rank moves the rows off axis 0
}

// A fused kiln node's residual (Sum) is a row value of Y's shape; its other inputs must not be.
TEST(IndependentRows, ResidualInputsOfFusedNodesAreRows) {
  auto fused = [](const std::string& op, size_t sum_input, size_t row_input) {
    ir::Node n = make(op, {}, {"y"});
    n.domain = "kiln";
    n.inputs.assign(std::max(sum_input, row_input) + 1, "w");
    n.inputs[0] = "r";
    n.inputs[row_input] = "r";
    return independent_rows(conv_then(n, {{"w", Tensor(DataType::kFloat32, {4, 4, 1, 1})}})).has_value();
  };
  EXPECT_TRUE(fused("BlockedConv", 3, 3));
  EXPECT_FALSE(fused("BlockedConv", 3, 1));
  EXPECT_TRUE(fused("BlockedSqueezeExciteConv", 7, 7));
  EXPECT_FALSE(fused("BlockedSqueezeExciteConv", 7, 3));
  EXPECT_FALSE(fused("BlockedSqueezeExcite", 0, 4));
}

TEST(IndependentRows, ConstantsBroadcastOnlyOffTheFirstAxis) {
  // [1, 4, 1, 1] and [4, 1, 1] never span rows; [2, 4, 6, 6] has its own first axis.
  EXPECT_TRUE(independent_rows(conv_then(make("Add", {"r", "k"}, {"y"}), {{"k", Tensor(DataType::kFloat32, {1, 4, 1, 1})}})));
  EXPECT_TRUE(independent_rows(conv_then(make("Mul", {"k", "r"}, {"y"}), {{"k", Tensor(DataType::kFloat32, {4, 1, 1})}})));
  EXPECT_FALSE(independent_rows(conv_then(make("Add", {"r", "k"}, {"y"}), {{"k", Tensor(DataType::kFloat32, {2, 4, 6, 6})}})));
  // Row values of one rank combine; a rank-2 row value against a rank-4 one would not line up.
  EXPECT_TRUE(independent_rows(conv_then(make("Add", {"r", "c"}, {"y"}))));
  ir::Graph mixed = conv_then(make("Flatten", {"r"}, {"f"}));
  mixed.nodes.push_back(make("Add", {"r", "f"}, {"y"}));
  EXPECT_FALSE(independent_rows(mixed));
}

TEST(IndependentRows, NeedsABatchThatEveryOutputCarries) {
  ir::Graph fixed = conv_then(make("Relu", {"r"}, {"y"}));
  fixed.inputs[0].type.shape->front() = ir::Dim{2, ""};
  EXPECT_FALSE(independent_rows(fixed));

  ir::Graph constant_output = conv_then(make("Relu", {"r"}, {"y"}), {{"k", Tensor(DataType::kFloat32, {4})}});
  constant_output.outputs.push_back(opt::testing::float_value("k"));
  EXPECT_FALSE(independent_rows(constant_output));

  // A secondary output of a row node (MaxPool's indices) is not known to keep rows.
  ir::Graph indices = conv_then(make("MaxPool", {"r"}, {"y", "i"}, {opt::testing::ints("kernel_shape", {2, 2})}));
  indices.nodes.push_back(make("Neg", {"i"}, {"n"}));
  indices.outputs.push_back(opt::testing::float_value("n"));
  EXPECT_FALSE(independent_rows(indices));
}

}  // namespace
}  // namespace kiln
