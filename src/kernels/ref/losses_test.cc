#include <gtest/gtest.h>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::make_node;
using testing::run_node;

// A target outside [0, C) that is not ignore_index must be an error, not an out-of-bounds read.
TEST(Losses, RejectsTargetOutOfRange) {
  const Value x(Tensor(DataType::kFloat32, {2, 3}));
  const Value bad_target(Tensor::from_vector<int64_t>({2}, {0, 3}));
  for (const char* op : {"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"}) {
    EXPECT_EQ(run_node(make_node(op, {}), 13, {x, bad_target}).status.code(), StatusCode::kInvalidArgument) << op;
    // The same value is fine when it is the ignored index.
    EXPECT_TRUE(run_node(make_node(op, {testing::int_attr("ignore_index", 3)}), 13, {x, bad_target}).status.ok()) << op;
  }
  const Value wrong_shape(Tensor::from_vector<int64_t>({3}, {0, 1, 2}));
  EXPECT_EQ(run_node(make_node("NegativeLogLikelihoodLoss", {}), 13, {x, wrong_shape}).status.code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::ref
