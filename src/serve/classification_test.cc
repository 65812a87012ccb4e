// Triton's classification extension: top K per batch entry as "value:index" (":label" with labels),
// ties, K beyond the entry size, unbatched models, and the types it refuses.
#include "serve/classification.h"

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

std::vector<std::string> strings(const Tensor& t) { return {t.data<std::string>(), t.data<std::string>() + t.size()}; }

TEST(ClassificationTest, RanksEachBatchEntry) {
  const Tensor scores = Tensor::from_vector<float>({2, 4}, {0.1f, 0.7f, 0.05f, 0.15f, 3, 1, 2, 0});
  auto r = classify_top_k(scores, 2, /*batched=*/true, "probs");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->dtype(), DataType::kString);
  EXPECT_EQ(r->shape(), (Shape{2, 2}));
  EXPECT_EQ(strings(*r),
            (std::vector<std::string>{"0.699999988:1", "0.150000006:3", "3.000000000:0", "2.000000000:2"}));
}

TEST(ClassificationTest, UnbatchedTakesTheWholeTensorAndCapsK) {
  const Tensor scores = Tensor::from_vector<int64_t>({2, 2}, {5, 9, 9, -1});
  auto r = classify_top_k(scores, 10, /*batched=*/false, "logits");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->shape(), (Shape{4}));
  EXPECT_EQ(strings(*r), (std::vector<std::string>{"9:1", "9:2", "5:0", "-1:3"}));  // ties: lower index first
}

TEST(ClassificationTest, AppendsTheLabelOfEachIndexThatHasOne) {
  const Tensor scores = Tensor::from_vector<int32_t>({2, 3}, {1, 5, 3, 9, 0, 2});
  const std::vector<std::string> labels = {"cat", ""};  // index 1 has an empty label, index 2 none
  auto r = classify_top_k(scores, 3, /*batched=*/true, "logits", labels);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(strings(*r), (std::vector<std::string>{"5:1", "3:2", "1:0:cat", "9:0:cat", "2:2", "0:1"}));
}

TEST(ClassificationTest, RefusesTypesItCannotRankAndABadCount) {
  auto b = classify_top_k(Tensor::from_vector<bool>({2}, {true, false}), 1, false, "mask");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.status().message(), "output 'mask': classification needs integer, FP32 or FP64 values, not BOOL");
  EXPECT_FALSE(classify_top_k(Tensor::from_vector<float>({1}, {1}), 0, false, "y").ok());
  EXPECT_TRUE(classifiable(DataType::kUInt8));
  EXPECT_FALSE(classifiable(DataType::kFloat16));
}

}  // namespace
}  // namespace kiln::serve
