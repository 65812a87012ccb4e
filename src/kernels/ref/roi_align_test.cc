// What the ONNX suite leaves out: max mode, opset 10 coordinates, and bad batch indices.
#include <gtest/gtest.h>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::make_node;
using testing::NodeRun;
using testing::run_node;
using testing::string_attr;

TEST(RoiAlign, MaxModeTakesLargestWeightedCorner) {
  // One 2x2 map, one box covering it, one output bin with a single sampling point at (0.5, 0.5) in
  // opset-10 coordinates: max of 0.25 * {1, 2, 3, 4}.
  const Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor rois = Tensor::from_vector<float>({1, 4}, {0, 0, 1, 1});
  const Tensor idx = Tensor::from_vector<int64_t>({1}, {0});
  ir::Node node = make_node("RoiAlign", {string_attr("mode", "max"), testing::int_attr("sampling_ratio", 1)});
  NodeRun r = run_node(node, 10, {x, rois, idx});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_FLOAT_EQ(r.outputs[0].tensor().data<float>()[0], 1.0f);
}

TEST(RoiAlign, RejectsBatchIndexOutOfRange) {
  const Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor rois = Tensor::from_vector<float>({1, 4}, {0, 0, 1, 1});
  EXPECT_FALSE(run_node(make_node("RoiAlign"), 16, {x, rois, Tensor::from_vector<int64_t>({1}, {1})}).status.ok());
  EXPECT_FALSE(run_node(make_node("RoiAlign"), 16, {x, rois, Tensor::from_vector<int64_t>({2}, {0, 0})}).status.ok());
}

}  // namespace
}  // namespace kiln::ref
