// Unit tests for the data-movement kernels: error paths and legacy opset forms that the ONNX backend
// suite does not exercise.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

ir::Attribute attr_int(const std::string& name, int64_t v) { return ir::Attribute::of_int(name, v); }
ir::Attribute attr_ints(const std::string& name, std::vector<int64_t> v) { return ir::Attribute::of_ints(name, v); }
ir::Attribute attr_str(const std::string& name, const std::string& v) { return ir::Attribute::of_string(name, v); }

// Builds the registered kernel for `op` at `opset` and runs it once.
Expected<std::vector<Value>> run_op(const std::string& op, int64_t opset, const std::vector<Tensor>& inputs,
                                    std::vector<ir::Attribute> attrs = {}, size_t num_outputs = 1) {
  ir::Node node;
  node.op_type = op;
  node.attributes = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  const KernelRegistration* reg = KernelRegistry::global().find("", op, opset);
  if (reg == nullptr) return Status::NotFound(op);
  KernelBuildContext build{node, opset, nullptr};
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, reg->factory(build));
  std::vector<Value> values(inputs.begin(), inputs.end());
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(v.is_tensor() && v.tensor().defined() ? &v : nullptr);
  std::vector<Value> outputs(num_outputs);
  KernelContext ctx(ptrs, &outputs, nullptr);
  KILN_RETURN_IF_ERROR(kernel->run(ctx));
  return outputs;
}

template <typename T>
std::vector<T> values_of(const Value& v) {
  const Tensor& t = v.tensor();
  return std::vector<T>(t.data<T>(), t.data<T>() + t.size());
}

Tensor i64(Shape s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(std::move(s), v); }
Tensor f32(Shape s, std::vector<float> v) { return Tensor::from_vector<float>(std::move(s), v); }

void expect_invalid(const Expected<std::vector<Value>>& r, const std::string& needle) {
  SCOPED_TRACE(needle);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
}

TEST(Movement, ShapesThatDoNotFitFailCleanly) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_invalid(run_op("Reshape", 14, {x, i64({2}, {4, 2})}), "cannot reshape");
  expect_invalid(run_op("Reshape", 14, {x, i64({2}, {-1, -1})}), "more than one -1");
  expect_invalid(run_op("Reshape", 14, {x, i64({3}, {0, -1, 0})}, {attr_int("allowzero", 1)}), "both 0 and -1");
  expect_invalid(run_op("Expand", 13, {x, i64({2}, {4, 3})}), "cannot be broadcast");
  expect_invalid(run_op("Squeeze", 13, {x, i64({1}, {0})}), "not 1");
  expect_invalid(run_op("Transpose", 13, {x}, {attr_ints("perm", {0, 0})}), "not a permutation");
  expect_invalid(run_op("Split", 13, {x, i64({2}, {1, 1})}, {attr_int("axis", 1)}, 2), "do not add up");
  expect_invalid(run_op("Concat", 13, {x, f32({3, 2}, {0, 0, 0, 0, 0, 0})}, {attr_int("axis", 0)}), "does not match");
  expect_invalid(run_op("Pad", 13, {x, i64({4}, {0, -4, 0, 0})}), "remove more");
  expect_invalid(run_op("TopK", 11, {x, i64({1}, {4})}), "outside");
}

TEST(Movement, OutOfRangeIndicesFailBeforeWriting) {
  const Tensor x = f32({3}, {1, 2, 3});
  expect_invalid(run_op("Gather", 13, {x, i64({2}, {0, 3})}), "out of range");
  expect_invalid(run_op("Gather", 13, {x, i64({1}, {-4})}), "out of range");
  expect_invalid(run_op("GatherElements", 13, {x, i64({1}, {5})}), "out of range");
  expect_invalid(run_op("GatherND", 13, {x, i64({1, 1}, {7})}), "out of range");
  expect_invalid(run_op("ScatterElements", 16, {x, i64({1}, {9}), f32({1}, {0})}), "out of range");
  expect_invalid(run_op("ScatterND", 16, {x, i64({1, 1}, {-9}), f32({1}, {0})}), "out of range");
  // Off-axis index dims larger than data's would read past the end.
  expect_invalid(run_op("GatherElements", 13, {f32({1, 1}, {1}), i64({1, 2}, {0, 0})}), "exceeds");
}

TEST(Movement, LegacyAttributeForms) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_op("Reshape", 1, {x}, {attr_ints("shape", {1, 0, -1})});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].tensor().shape(), (Shape{1, 3, 2}));

  r = run_op("Slice", 1, {x}, {attr_ints("starts", {1}), attr_ints("ends", {100}), attr_ints("axes", {1})});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{2, 3, 5, 6}));

  r = run_op("Split", 2, {x}, {attr_int("axis", 1), attr_ints("split", {1, 2})}, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<float>((*r)[1]), (std::vector<float>{2, 3, 5, 6}));

  r = run_op("Pad", 2, {x}, {attr_ints("pads", {0, 1, 0, 0}), attr_str("mode", "constant")});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{0, 1, 2, 3, 0, 4, 5, 6}));

  r = run_op("TopK", 1, {x}, {attr_int("k", 1)}, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<int64_t>((*r)[1]), (std::vector<int64_t>{2, 2}));

  r = run_op("Tile", 1, {f32({2}, {1, 2}), i64({}, {2}), i64({}, {0})});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{1, 2, 1, 2}));

  r = run_op("Unsqueeze", 11, {x}, {attr_ints("axes", {0, -1})});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].tensor().shape(), (Shape{1, 2, 3, 1}));
}

TEST(Movement, TopKTiesKeepLowerIndexFirstAndNaNIsSafe) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto r = run_op("TopK", 11, {f32({5}, {1, 3, 3, 1, 3}), i64({1}, {4})}, {}, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values_of<int64_t>((*r)[1]), (std::vector<int64_t>{1, 2, 4, 0}));
  r = run_op("TopK", 11, {f32({5}, {1, 3, 3, 1, 3}), i64({1}, {2})}, {attr_int("largest", 0)}, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values_of<int64_t>((*r)[1]), (std::vector<int64_t>{0, 3}));
  r = run_op("TopK", 11, {f32({4}, {nan, 2, nan, 1}), i64({1}, {4})}, {}, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values_of<int64_t>((*r)[1]), (std::vector<int64_t>{0, 2, 1, 3}));
}

TEST(Movement, StringsMoveAsObjects) {
  const Tensor s = Tensor::from_vector<std::string>({4}, {"b", "a", "b", "c"});
  auto r = run_op("Slice", 13, {s, i64({1}, {-1}), i64({1}, {std::numeric_limits<int64_t>::min()}), i64({1}, {0}),
                                i64({1}, {-2})});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<std::string>((*r)[0]), (std::vector<std::string>{"c", "a"}));
  r = run_op("Unique", 11, {s}, {attr_int("sorted", 0)}, 4);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<std::string>((*r)[0]), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(values_of<int64_t>((*r)[2]), (std::vector<int64_t>{0, 1, 0, 2}));
  EXPECT_EQ(values_of<int64_t>((*r)[3]), (std::vector<int64_t>{2, 1, 1}));
}

TEST(Movement, ReflectPadAfterNegativePadsCrop) {
  // Crop one element from the front, then reflect-pad two at the back: [2 3 4] -> [2 3 4 3 2].
  auto r = run_op("Pad", 13, {f32({4}, {1, 2, 3, 4}), i64({2}, {-1, 2})}, {attr_str("mode", "reflect")});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{2, 3, 4, 3, 2}));
}

}  // namespace
}  // namespace kiln::ref
