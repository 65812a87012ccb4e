// slice_rows and concat_rows: rows cut out and joined back, numbers and strings alike.
#include "core/tensor_rows.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

TEST(TensorRows, SliceThenConcatGivesTheTensorBack) {
  const Tensor t = Tensor::from_vector<float>({5, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto head = slice_rows(t, 0, 2);
  auto tail = slice_rows(t, 2, 3);
  ASSERT_TRUE(head.ok() && tail.ok());
  EXPECT_EQ(head->shape(), (Shape{2, 2}));
  EXPECT_EQ(tail->shape(), (Shape{3, 2}));
  EXPECT_EQ(tail->data<float>()[0], 4.0f);
  auto all = concat_rows({&*head, &*tail});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->shape(), t.shape());
  for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(all->data<float>()[i], t.data<float>()[i]);
}

TEST(TensorRows, StringsAreCopiedAndEmptySlicesWork) {
  Tensor t(DataType::kString, {3});
  t.data<std::string>()[1] = "middle";
  auto one = slice_rows(t, 1, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->data<std::string>()[0], "middle");
  auto none = slice_rows(t, 3, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->shape(), (Shape{0}));
  auto joined = concat_rows({&*one, &*none, &*one});
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->shape(), (Shape{2}));
  EXPECT_EQ(joined->data<std::string>()[1], "middle");
}

}  // namespace
}  // namespace kiln
