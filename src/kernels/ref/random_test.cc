#include <gtest/gtest.h>

#include <limits>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::float_attr;
using testing::int_attr;
using testing::ints_attr;
using testing::make_node;
using testing::run_node;

// The suite only checks shapes and types of random ops; check ranges and seeded reproducibility here.
TEST(Random, SeededUniformIsReproducibleAndInRange) {
  const ir::Node node = make_node("RandomUniform", {ints_attr("shape", {4, 5}), float_attr("low", -2.f),
                                                    float_attr("high", 3.f), float_attr("seed", 7.f)});
  auto a = run_node(node, 17, {});
  auto b = run_node(node, 17, {});
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  const Tensor& ta = a.outputs[0].tensor();
  ASSERT_EQ(ta.shape(), (Shape{4, 5}));
  for (int64_t i = 0; i < ta.size(); ++i) {
    EXPECT_GE(ta.data<float>()[i], -2.f);
    EXPECT_LE(ta.data<float>()[i], 3.f);
    EXPECT_EQ(ta.data<float>()[i], b.outputs[0].tensor().data<float>()[i]);
  }
}

TEST(Random, MultinomialSamplesValidClasses) {
  // Class 1 has all the probability mass (log-probabilities -inf elsewhere).
  const float ninf = -std::numeric_limits<float>::infinity();
  const Value logits(Tensor::from_vector<float>({2, 3}, {ninf, 0.f, ninf, 0.f, 0.f, 0.f}));
  auto r = run_node(make_node("Multinomial", {int_attr("sample_size", 50), int_attr("dtype", 7)}), 17, {logits});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const Tensor& t = r.outputs[0].tensor();
  ASSERT_EQ(t.dtype(), DataType::kInt64);
  ASSERT_EQ(t.shape(), (Shape{2, 50}));
  for (int64_t s = 0; s < 50; ++s) {
    EXPECT_EQ(t.data<int64_t>()[s], 1);
    EXPECT_GE(t.data<int64_t>()[50 + s], 0);
    EXPECT_LT(t.data<int64_t>()[50 + s], 3);
  }
  EXPECT_EQ(run_node(make_node("Multinomial", {}), 17, {Value(Tensor(DataType::kFloat32, {3}))}).status.code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::ref
