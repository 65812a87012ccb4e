// ShapeCache: one entry per shape key and OpenMP team size, since oneDNN primitives keep the thread
// count they were created with.
#include <gtest/gtest.h>
#include <omp.h>

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {
namespace {

TEST(ShapeCache, APrimitiveMadeForOneTeamSizeIsNotReusedForAnother) {
  const int saved = omp_get_max_threads();
  ShapeCache<int> cache;
  ShapeKey key;
  key.add(Shape{1, 3, 224, 224});
  int made = 0;
  auto make = [&]() -> Expected<std::shared_ptr<const int>> { return std::make_shared<const int>(++made); };
  omp_set_num_threads(2);
  const std::shared_ptr<const int> team = *cache.get(key, make);
  omp_set_num_threads(1);
  const std::shared_ptr<const int> serial = *cache.get(key, make);
  omp_set_num_threads(2);
  const std::shared_ptr<const int> team_again = *cache.get(key, make);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(*team, 1);
  EXPECT_EQ(*serial, 2);
  EXPECT_EQ(team_again, team);
  omp_set_num_threads(saved);
}

TEST(ShapeCache, FindLooksUpTheGivenTeamSizeAndMakesNothing) {
  ShapeCache<int> cache;
  ShapeKey key;
  key.add(Shape{1, 16, 7, 7});
  EXPECT_EQ(cache.find(key, 1), nullptr);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::shared_ptr<const int> serial =
      *cache.get(key, []() -> Expected<std::shared_ptr<const int>> { return std::make_shared<const int>(7); });
  omp_set_num_threads(saved);
  EXPECT_EQ(cache.find(key, 1), serial);
  EXPECT_EQ(cache.find(key, 2), nullptr);
}

}  // namespace
}  // namespace kiln::dnnl_kernels
