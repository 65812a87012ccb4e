#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::ints_attr;
using testing::make_node;
using testing::run_node;

// Reducing a [2, 0] tensor over axis 1 yields each operation's identity (the suite has no such case).
TEST(Reduce, EmptySetGivesIdentity) {
  const Tensor empty(DataType::kFloat32, {2, 0});
  auto reduce = [&](const char* op) {
    auto r = run_node(make_node(op, {ints_attr("axes", {1}), testing::int_attr("keepdims", 0)}), 11, {Value(empty)});
    EXPECT_TRUE(r.status.ok()) << op << ": " << r.status.to_string();
    const Tensor& t = r.outputs[0].tensor();
    EXPECT_EQ(t.shape(), (Shape{2})) << op;
    return t.data<float>()[0];
  };
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(reduce("ReduceSum"), 0.f);
  EXPECT_EQ(reduce("ReduceSumSquare"), 0.f);
  EXPECT_EQ(reduce("ReduceL1"), 0.f);
  EXPECT_EQ(reduce("ReduceL2"), 0.f);
  EXPECT_EQ(reduce("ReduceProd"), 1.f);
  EXPECT_EQ(reduce("ReduceMin"), inf);
  EXPECT_EQ(reduce("ReduceMax"), -inf);
  EXPECT_EQ(reduce("ReduceLogSum"), -inf);
  EXPECT_EQ(reduce("ReduceLogSumExp"), -inf);
  EXPECT_TRUE(std::isnan(reduce("ReduceMean")));

  // Integer types have no infinity: the type's extreme values stand in.
  auto r = run_node(make_node("ReduceMin", {ints_attr("axes", {1})}), 13, {Value(Tensor(DataType::kInt32, {2, 0}))});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.outputs[0].tensor().shape(), (Shape{2, 1}));
  EXPECT_EQ(r.outputs[0].tensor().data<int32_t>()[0], std::numeric_limits<int32_t>::max());
}

TEST(Reduce, RejectsBadAxes) {
  const Value x(Tensor(DataType::kFloat32, {2, 3}));
  auto repeated = run_node(make_node("ReduceMax", {ints_attr("axes", {1, -1})}), 13, {x});
  EXPECT_EQ(repeated.status.code(), StatusCode::kInvalidArgument);
  auto out_of_range = run_node(make_node("ReduceMean", {ints_attr("axes", {2})}), 13, {x});
  EXPECT_EQ(out_of_range.status.code(), StatusCode::kInvalidArgument);
  // ReduceSum-13 reads axes from an input.
  auto from_input = run_node(make_node("ReduceSum", {}), 13, {x, Value(Tensor::from_vector<int64_t>({1}, {-3}))});
  EXPECT_EQ(from_input.status.code(), StatusCode::kInvalidArgument);
  auto float_axes = run_node(make_node("ReduceSum", {}), 13, {x, Value(Tensor::from_vector<float>({1}, {0.f}))});
  EXPECT_EQ(float_axes.status.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::ref
