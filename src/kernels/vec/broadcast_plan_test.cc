// BroadcastPlan against a plain index computation, over whole outputs and over every split point (the
// thread team runs arbitrary [begin, end) ranges, which start and end mid-row).
#include "kernels/vec/broadcast_plan.h"

#include <gtest/gtest.h>

namespace kiln::vec {
namespace {

// out[i] = a[i's index in a] + b[i's index in b], by the definition of numpy broadcasting.
std::vector<float> expected_sum(const Shape& out, const Shape& a, const std::vector<float>& av, const Shape& b,
                                const std::vector<float>& bv) {
  std::vector<float> result(static_cast<size_t>(shape_size(out)));
  const size_t rank = out.size();
  for (int64_t flat = 0; flat < shape_size(out); ++flat) {
    int64_t rest = flat, ai = 0, bi = 0, a_mul = 1, b_mul = 1;
    for (size_t k = 0; k < rank; ++k) {
      const size_t d = rank - 1 - k;
      const int64_t i = rest % out[d];
      rest /= out[d];
      if (k < a.size()) {
        const int64_t ad = a[a.size() - 1 - k];
        ai += (ad == 1 ? 0 : i) * a_mul;
        a_mul *= ad;
      }
      if (k < b.size()) {
        const int64_t bd = b[b.size() - 1 - k];
        bi += (bd == 1 ? 0 : i) * b_mul;
        b_mul *= bd;
      }
    }
    result[static_cast<size_t>(flat)] = av[static_cast<size_t>(ai)] + bv[static_cast<size_t>(bi)];
  }
  return result;
}

std::vector<float> iota(int64_t n, float start) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + static_cast<float>(i);
  return v;
}

TEST(BroadcastPlan, MatchesTheDefinitionOverEverySplit) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {2, 3, 4}},
      {{2, 3, 4}, {}},
      {{}, {2, 3, 4}},
      {{2, 3, 4}, {4}},
      {{2, 3, 4}, {2, 3, 1}},
      {{2, 3, 5}, {3, 1}},
      {{2, 3, 2, 2, 4}, {2, 3, 1, 1, 4}},
      {{3, 1}, {1, 5}},
      {{2, 1, 3, 4}, {1, 5, 1, 4}},
      {{1, 1, 7}, {7}},
      {{1}, {1}},
  };
  for (const auto& [a, b] : cases) {
    SCOPED_TRACE(shape_to_string(a) + " + " + shape_to_string(b));
    const auto plan = BroadcastPlan::make(a, b);
    ASSERT_TRUE(plan.has_value());
    const Shape out = *broadcast_shape(a, b);
    const std::vector<float> av = iota(shape_size(a), 0), bv = iota(shape_size(b), 1000);
    const std::vector<float> want = expected_sum(out, a, av, b, bv);
    const BinaryRowFn add = binary_row(BinaryOp::kAdd, plan->row_kind());
    const int64_t n = plan->out_size();
    ASSERT_EQ(n, static_cast<int64_t>(want.size()));
    for (int64_t split = 0; split <= n; ++split) {
      std::vector<float> got(static_cast<size_t>(n), -1);
      plan->run(add, av.data(), bv.data(), got.data(), 0, split);
      plan->run(add, av.data(), bv.data(), got.data(), split, n);
      ASSERT_EQ(got, want) << "split at " << split;
    }
  }
}

TEST(BroadcastPlan, RejectsShapesThatDoNotBroadcastOrNeedTooManyLoops) {
  EXPECT_FALSE(BroadcastPlan::make({2, 3}, {4}).has_value());
  EXPECT_FALSE(broadcast_shape({2, 3}, {4}).has_value());
  EXPECT_FALSE(BroadcastPlan::make({2, 1, 3, 1, 4}, {1, 5, 1, 6, 1}).has_value());  // 5 alternating groups
}

}  // namespace
}  // namespace kiln::vec
