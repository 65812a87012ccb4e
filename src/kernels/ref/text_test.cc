// What the ONNX suite leaves out: non-ASCII case mapping and invalid UTF-8.
#include <gtest/gtest.h>

#include "kernels/ref/kernel_test_util.h"

namespace kiln::ref {
namespace {

using testing::make_node;
using testing::NodeRun;
using testing::run_node;
using testing::string_attr;
using testing::strings_attr;

TEST(StringNormalizer, MapsUnicodeCaseAndKeepsInvalidBytes) {
  const ir::Node node = make_node("StringNormalizer", {string_attr("case_change_action", "UPPER"),
                                                       strings_attr("stopwords", {"ÉTÉ"})});
  const Tensor x = Tensor::from_vector<std::string>({3}, {"été", "çà ü", std::string("a\xff", 2)});
  NodeRun r = run_node(node, 10, {x});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const Tensor& y = r.outputs[0].tensor();
  ASSERT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(y.data<std::string>()[0], "ÇÀ Ü");
  EXPECT_EQ(y.data<std::string>()[1], std::string("A\xff", 2));
}

TEST(StringNormalizer, RejectsOtherShapes) {
  const Tensor x = Tensor::from_vector<std::string>({2, 2}, {"a", "b", "c", "d"});
  EXPECT_FALSE(run_node(make_node("StringNormalizer"), 10, {x}).status.ok());
}

}  // namespace
}  // namespace kiln::ref
