#include <gtest/gtest.h>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::make_node;
using testing::run_node;

ir::Attribute str_attr(const std::string& name, const std::string& v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kString;
  a.s = v;
  return a;
}

ir::Attribute strs_attr(const std::string& name, std::vector<std::string> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::Attribute::Type::kStrings;
  a.strings = std::move(v);
  return a;
}

Value ones(Shape shape) {
  Tensor t(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = 1.f;
  return Value(t);
}

// A linear RNN (Affine activation, W = R = 1) makes h_t = x_t + h_{t-1}: a reverse pass over the first
// two of three steps must visit t = 1 then t = 0, and leave the padded step 2 zero.
TEST(Rnn, ReverseWithSequenceLengths) {
  const ir::Node node = make_node("RNN", {testing::int_attr("hidden_size", 1), str_attr("direction", "reverse"),
                                          strs_attr("activations", {"Affine"})});
  const Value x(Tensor::from_vector<float>({3, 1, 1}, {1.f, 2.f, 4.f}));
  const Value lens(Tensor::from_vector<int32_t>({1}, {2}));
  auto r = run_node(node, 14, {x, ones({1, 1, 1}), ones({1, 1, 1}), Value(), lens}, 2);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const Tensor& y = r.outputs[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{3, 1, 1, 1}));
  EXPECT_EQ(y.data<float>()[0], 3.f);
  EXPECT_EQ(y.data<float>()[1], 2.f);
  EXPECT_EQ(y.data<float>()[2], 0.f);
  EXPECT_EQ(r.outputs[1].tensor().data<float>()[0], 3.f);
}

TEST(Rnn, RejectsInconsistentInputs) {
  const ir::Node lstm = make_node("LSTM", {testing::int_attr("hidden_size", 2)});
  const Value x = ones({3, 1, 4});
  const Value w = ones({1, 8, 4});
  const Value r = ones({1, 8, 2});
  EXPECT_TRUE(run_node(lstm, 14, {x, w, r}, 3).status.ok());
  // sequence_lens past seq_length would read past X.
  const Value long_seq(Tensor::from_vector<int32_t>({1}, {4}));
  EXPECT_EQ(run_node(lstm, 14, {x, w, r, Value(), long_seq}, 3).status.code(), StatusCode::kInvalidArgument);
  // W's input size must match X's.
  EXPECT_EQ(run_node(lstm, 14, {x, ones({1, 8, 3}), r}, 3).status.code(), StatusCode::kInvalidArgument);
  // hidden_size must agree with R.
  EXPECT_EQ(run_node(make_node("LSTM", {testing::int_attr("hidden_size", 3)}), 14, {x, w, r}, 3).status.code(),
            StatusCode::kInvalidArgument);
  // Peepholes must be [num_directions, 3 * hidden_size].
  EXPECT_EQ(run_node(lstm, 14, {x, w, r, Value(), Value(), Value(), Value(), ones({1, 5})}, 3).status.code(),
            StatusCode::kInvalidArgument);
  // An unknown activation is rejected when the kernel is built.
  EXPECT_EQ(run_node(make_node("GRU", {strs_attr("activations", {"Sigmoid", "Cube"})}), 14, {x, w, r}).status.code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::ref
