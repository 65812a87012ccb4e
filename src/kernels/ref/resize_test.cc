// What the ONNX suite leaves out: Resize-10/Upsample's rounding when downsampling, types other than
// float, and bad inputs.
#include <gtest/gtest.h>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::make_node;
using testing::NodeRun;
using testing::run_node;
using testing::string_attr;

TEST(Resize, Opset10NearestRoundsUpWhenDownsampling) {
  // Asymmetric coordinates x / 0.6: outputs 1 and 2 sample 1.67 and 3.33, which round up to 2 and 4.
  const Tensor x = Tensor::from_vector<int32_t>({1, 5}, {10, 11, 12, 13, 14});
  const Tensor scales = Tensor::from_vector<float>({2}, {1.0f, 0.6f});
  NodeRun r = run_node(make_node("Resize", {string_attr("mode", "nearest")}), 10, {x, scales});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const Tensor& y = r.outputs[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_EQ(std::vector<int32_t>(y.data<int32_t>(), y.data<int32_t>() + 3), (std::vector<int32_t>{10, 12, 14}));
}

TEST(Resize, NearestCopiesStrings) {
  const Tensor x = Tensor::from_vector<std::string>({2}, {"a", "b"});
  const Tensor scales = Tensor::from_vector<float>({1}, {2.0f});
  NodeRun r = run_node(make_node("Upsample", {string_attr("mode", "nearest")}), 9, {x, scales});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const std::string* y = r.outputs[0].tensor().data<std::string>();
  EXPECT_EQ(std::vector<std::string>(y, y + 4), (std::vector<std::string>{"a", "a", "b", "b"}));
}

TEST(Resize, RejectsBadScalesAndSizes) {
  const Tensor x = Tensor::from_vector<float>({1, 2}, {1, 2});
  const ir::Node node = make_node("Resize", {string_attr("mode", "linear")});
  EXPECT_FALSE(run_node(node, 13, {x, Tensor(), Tensor::from_vector<float>({1}, {2.0f})}).status.ok());  // wrong rank
  EXPECT_FALSE(run_node(node, 13, {x, Tensor(), Tensor::from_vector<float>({2}, {1.0f, -1.0f})}).status.ok());
  EXPECT_FALSE(run_node(node, 13, {x, Tensor(), Tensor(), Tensor::from_vector<int64_t>({2}, {1, -3})}).status.ok());
  EXPECT_FALSE(run_node(node, 13, {x}).status.ok());  // neither scales nor sizes
  const ir::Node crop = make_node("Resize", {string_attr("coordinate_transformation_mode", "tf_crop_and_resize")});
  EXPECT_FALSE(run_node(crop, 13, {x, Tensor::from_vector<float>({2}, {0, 1}), Tensor(),
                                   Tensor::from_vector<int64_t>({2}, {1, 3})}).status.ok());  // roi too short
}

}  // namespace
}  // namespace kiln::ref
