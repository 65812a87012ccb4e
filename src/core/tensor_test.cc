#include "kiln/tensor.h"

#include <gtest/gtest.h>

#include "kiln/status.h"

namespace kiln {
namespace {

TEST(Status, OkCarriesNothing) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "OK");
  EXPECT_TRUE(s.with_context("ignored").ok());
}

TEST(Status, ErrorsKeepCodeAndGainContext) {
  Status s = Status::InvalidArgument("input 'x' expects rank 4");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  Status c = s.with_context("model.onnx");
  EXPECT_EQ(c.message(), "model.onnx: input 'x' expects rank 4");
  EXPECT_EQ(c.to_string(), "InvalidArgument: model.onnx: input 'x' expects rank 4");
}

Expected<int> half(int v) {
  if (v % 2) return Status::InvalidArgument("odd");
  return v / 2;
}

Status use_half(int v, int* out) {
  KILN_ASSIGN_OR_RETURN(*out, half(v));
  return Status::OK();
}

TEST(Status, AssignOrReturn) {
  int out = 0;
  EXPECT_TRUE(use_half(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(use_half(3, &out).message(), "odd");
}

TEST(Tensor, ShapeAndSize) {
  EXPECT_EQ(shape_size({}), 1);
  EXPECT_EQ(shape_size({2, 3, 4}), 24);
  EXPECT_EQ(shape_size({2, 0, 4}), 0);
  EXPECT_EQ(shape_to_string({1, 3, 224, 224}), "[1, 3, 224, 224]");
}

TEST(Tensor, ZeroInitializedAndShared) {
  Tensor t(DataType::kFloat32, {2, 3});
  EXPECT_EQ(t.size(), 6);
  EXPECT_EQ(t.bytes(), 24u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  Tensor shared = t;
  shared.data<float>()[0] = 5;
  EXPECT_EQ(t.data<float>()[0], 5);  // copies share storage
  Tensor deep = t.clone();
  deep.data<float>()[0] = 7;
  EXPECT_EQ(t.data<float>()[0], 5);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
}

TEST(Tensor, Strings) {
  Tensor t = Tensor::from_vector<std::string>({2}, {"a", "bc"});
  Tensor c = t.clone();
  c.data<std::string>()[0] = "z";
  EXPECT_EQ(t.data<std::string>()[0], "a");
  EXPECT_EQ(c.data<std::string>()[1], "bc");
}

TEST(Tensor, MakeRejectsBadShapes) {
  EXPECT_EQ(Tensor::make(DataType::kFloat32, {2, -1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Tensor::make(DataType::kFloat32, {1 << 30, 1 << 30, 1 << 30}).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(Tensor::make(DataType::kUndefined, {1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Tensor::make(DataType::kInt64, {0, 5}).ok());
}

TEST(Tensor, Reshaped) {
  Tensor t = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.reshaped({3, 2});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.data<int32_t>()[5], 6);
}

TEST(Tensor, ViewSharesARangeOfTheStorage) {
  Tensor t = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = t.view(2, {2, 2});
  ASSERT_TRUE(v.defined());
  EXPECT_EQ(v.shape(), (Shape{2, 2}));
  EXPECT_EQ(v.size(), 4);
  EXPECT_EQ(v.data<int32_t>()[0], 3);
  v.data<int32_t>()[3] = 60;
  EXPECT_EQ(t.data<int32_t>()[5], 60);
  EXPECT_TRUE(t.view(6, {0}).defined());
  EXPECT_FALSE(t.view(3, {4}).defined());  // past the end
  EXPECT_FALSE(t.view(-1, {1}).defined());
  EXPECT_FALSE(Tensor(DataType::kString, {2}).view(0, {1}).defined());
}

TEST(DataType, NamesAndSizes) {
  EXPECT_EQ(data_type_name(DataType::kFloat32), "float");
  EXPECT_EQ(data_type_name(DataType::kBFloat16), "bfloat16");
  EXPECT_EQ(data_type_size(DataType::kFloat16), 2u);
  EXPECT_EQ(data_type_size(DataType::kComplex128), 16u);
  EXPECT_FALSE(data_type_from_onnx(17).has_value());
  EXPECT_EQ(data_type_from_onnx(7), DataType::kInt64);
}

}  // namespace
}  // namespace kiln
