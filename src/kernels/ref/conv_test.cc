// Bad-input paths of the window kernels (Conv, ConvTranspose, pooling, MaxUnpool) that the ONNX
// backend suite never exercises: each must be rejected with InvalidArgument, not crash.
#include <gtest/gtest.h>

#include "kernels/kernel.h"

namespace kiln {
namespace {

ir::Attribute ints_attr(const std::string& name, std::vector<int64_t> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kInts;
  a.ints = std::move(v);
  return a;
}

ir::Attribute int_attr(const std::string& name, int64_t v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kInt;
  a.i = v;
  return a;
}

// Builds the kernel for `op` at opset 17 and runs it once; returns the factory's or the run's status.
Status run_op(const std::string& op, std::vector<ir::Attribute> attrs, const std::vector<Tensor>& inputs,
              size_t num_outputs = 1, std::vector<Value>* outputs_out = nullptr) {
  ir::Node node;
  node.op_type = op;
  node.attributes = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  const KernelRegistration* reg = KernelRegistry::global().find("", op, 17);
  if (reg == nullptr) return Status::NotFound(op);
  KernelBuildContext build{node, 17, nullptr};
  auto kernel = reg->factory(build);
  if (!kernel.ok()) return kernel.status();
  std::vector<Value> values(inputs.begin(), inputs.end());
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(&v);
  std::vector<Value> outputs(num_outputs);
  KernelContext ctx(ptrs, &outputs, nullptr);
  Status st = (*kernel)->run(ctx);
  if (outputs_out) *outputs_out = outputs;
  return st;
}

Tensor zeros(Shape s) { return Tensor(DataType::kFloat32, std::move(s)); }

TEST(ConvErrors, RejectsNonPositiveStridesAndNegativePads) {
  EXPECT_EQ(run_op("Conv", {ints_attr("strides", {0, 1})}, {zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3})}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(run_op("Conv", {ints_attr("dilations", {1, -2})}, {zeros({1, 1, 4, 4}), zeros({1, 1, 3, 3})}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(run_op("MaxPool", {ints_attr("kernel_shape", {2, 2}), ints_attr("pads", {-1, 0, 0, 0})},
                   {zeros({1, 1, 4, 4})})
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(ConvErrors, RejectsChannelAndGroupMismatch) {
  // X has 3 channels, W expects 2 per group with group 1.
  EXPECT_EQ(run_op("Conv", {}, {zeros({1, 3, 4, 4}), zeros({4, 2, 3, 3})}).code(), StatusCode::kInvalidArgument);
  // 3 output channels are not divisible by group 2.
  EXPECT_EQ(run_op("Conv", {int_attr("group", 2)}, {zeros({1, 4, 4, 4}), zeros({3, 2, 3, 3})}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(run_op("ConvTranspose", {int_attr("group", 2)}, {zeros({1, 3, 4, 4}), zeros({3, 1, 3, 3})}).code(),
            StatusCode::kInvalidArgument);
  // Wrong-rank weights and a kernel larger than the padded input.
  EXPECT_EQ(run_op("Conv", {}, {zeros({1, 1, 4, 4}), zeros({1, 1, 3})}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run_op("Conv", {}, {zeros({1, 1, 2, 2}), zeros({1, 1, 3, 3})}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run_op("AveragePool", {ints_attr("kernel_shape", {5})}, {zeros({1, 1, 4})}).code(),
            StatusCode::kInvalidArgument);
}

TEST(ConvErrors, MaxUnpoolRejectsOutOfRangeIndex) {
  Tensor idx = Tensor::from_vector<int64_t>({1, 1, 1, 1}, {99});
  EXPECT_EQ(run_op("MaxUnpool", {ints_attr("kernel_shape", {2, 2}), ints_attr("strides", {2, 2})},
                   {zeros({1, 1, 1, 1}), idx})
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(Pool, CeilModeDropsWindowStartingInPadding) {
  // 1-D input of 4, kernel 2, stride 2, end pad 1, ceil_mode: ceil((4 + 1 - 2) / 2) + 1 = 3 windows,
  // but the third would start at 4, inside the end padding, so only 2 remain (PyTorch/ORT rule).
  std::vector<Value> out;
  ASSERT_TRUE(run_op("MaxPool",
                     {ints_attr("kernel_shape", {2}), ints_attr("strides", {2}), ints_attr("pads", {0, 1}),
                      int_attr("ceil_mode", 1)},
                     {Tensor::from_vector<float>({1, 1, 4}, {1, 2, 3, 4})}, 1, &out)
                  .ok());
  EXPECT_EQ(out[0].tensor().shape(), (Shape{1, 1, 2}));
}

}  // namespace
}  // namespace kiln
